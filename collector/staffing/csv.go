package staffing

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ImportedDevice is one row of an inventory CSV: devices that no agent,
// SNMP poll or switch table can see (tablets in a cupboard, a projector
// without network).
type ImportedDevice struct {
	Line         int    `json:"line"`
	Municipality string `json:"municipality,omitempty"`
	Site         string `json:"site,omitempty"`
	SiteID       int64  `json:"site_id,omitempty"`
	Class        Class  `json:"class"`
	Count        int    `json:"count"`
	Name         string `json:"name,omitempty"`
	Hostname     string `json:"hostname,omitempty"`
	MAC          string `json:"mac,omitempty"`
	Serial       string `json:"serial,omitempty"`
	Note         string `json:"note,omitempty"`
}

// CSVColumns are the columns an inventory CSV may have; class and one of
// site and site_id are required. The delimiter may be "," or ";" (what a
// German spreadsheet writes).
var CSVColumns = []string{"municipality", "site", "site_id", "class", "count", "name", "hostname", "mac", "serial", "note"}

// CSVError names the line (1 = header) and column of a bad CSV row.
type CSVError struct {
	Line   int
	Column string
	Msg    string
}

func (e *CSVError) Error() string {
	if e.Column != "" {
		return fmt.Sprintf("line %d, column %s: %s", e.Line, e.Column, e.Msg)
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
}

// ParseCSV reads an inventory CSV. It stops at the first bad row with a
// CSVError naming it: a partial import would leave the counts wrong
// without anyone noticing.
func ParseCSV(r io.Reader) ([]ImportedDevice, error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(4096)
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	// The first line that is not a comment decides the delimiter.
	var first []byte
	for _, l := range bytes.Split(head, []byte("\n")) {
		if t := bytes.TrimSpace(l); len(t) > 0 && t[0] != '#' {
			first = l
			break
		}
	}
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte("\xef\xbb\xbf")) {
		_, _ = br.Discard(3) // Excel writes a byte order mark
	}
	cr := csv.NewReader(br)
	cr.Comment = '#'
	cr.TrimLeadingSpace = true
	if bytes.Count(first, []byte(";")) > bytes.Count(first, []byte(",")) {
		cr.Comma = ';'
	}
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, &CSVError{Line: 1, Msg: "empty file; the first line must name the columns, e.g. site,class,count,hostname,mac,serial"}
	}
	if err != nil {
		return nil, fmt.Errorf("read CSV header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		known := false
		for _, c := range CSVColumns {
			if c == h {
				known = true
			}
		}
		if !known {
			return nil, &CSVError{Line: 1, Column: h, Msg: fmt.Sprintf("unknown column %q (known: %s)", h, strings.Join(CSVColumns, ", "))}
		}
		if _, dup := col[h]; dup {
			return nil, &CSVError{Line: 1, Column: h, Msg: "column given twice"}
		}
		col[h] = i
	}
	if _, ok := col["class"]; !ok {
		return nil, &CSVError{Line: 1, Msg: "missing column class"}
	}
	_, hasSite := col["site"]
	_, hasID := col["site_id"]
	if !hasSite && !hasID {
		return nil, &CSVError{Line: 1, Msg: "missing column site (or site_id)"}
	}
	var out []ImportedDevice
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, &CSVError{Line: pe.StartLine, Msg: pe.Err.Error()}
			}
			return nil, fmt.Errorf("read CSV: %w", err)
		}
		line, _ := cr.FieldPos(0)
		get := func(name string) string {
			if i, ok := col[name]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		d := ImportedDevice{Line: line, Municipality: get("municipality"), Site: get("site"), Name: get("name"),
			Hostname: get("hostname"), MAC: get("mac"), Serial: get("serial"), Note: get("note"), Count: 1}
		if s := get("site_id"); s != "" {
			if d.SiteID, err = strconv.ParseInt(s, 10, 64); err != nil || d.SiteID <= 0 {
				return nil, &CSVError{Line: line, Column: "site_id", Msg: fmt.Sprintf("%q is not a site ID", s)}
			}
		}
		if d.Site == "" && d.SiteID == 0 {
			return nil, &CSVError{Line: line, Column: "site", Msg: "empty; every row needs its site"}
		}
		if d.Class, err = ParseClass(get("class")); err != nil {
			return nil, &CSVError{Line: line, Column: "class", Msg: err.Error()}
		}
		if s := get("count"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				return nil, &CSVError{Line: line, Column: "count", Msg: fmt.Sprintf("%q is not a positive whole number", s)}
			}
			d.Count = n
		}
		if d.MAC != "" {
			if d.MAC = NormMAC(d.MAC); d.MAC == "" {
				return nil, &CSVError{Line: line, Column: "mac", Msg: fmt.Sprintf("%q is not a unicast MAC address (e.g. 00:1a:2b:3c:4d:5e)", get("mac"))}
			}
		}
		if d.Count > 1 && (d.MAC != "" || d.Serial != "" || d.Hostname != "") {
			return nil, &CSVError{Line: line, Column: "count", Msg: "a row with a MAC, serial or hostname is one device; give count only for devices without identifiers"}
		}
		out = append(out, d)
	}
}

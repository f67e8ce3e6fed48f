package availability

import (
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// OutageFilter selects outages (down spans) or unknown spans.
type OutageFilter struct {
	Municipality, Site, Class, Device, Check string
	SiteIDs                                  []int64 // tenancy; nil: all
	From, To                                 time.Time
	// State is "down" (default), "unknown" or "all".
	State string
	Cause string
	Limit int // default 1000
}

// Outage is a stored outage or unknown interval.
type Outage struct {
	ID               int64      `json:"id"`
	Municipality     string     `json:"municipality"`
	Site             string     `json:"site"`
	Device           string     `json:"device"`
	Check            string     `json:"check,omitempty"`
	Class            string     `json:"class"`
	State            State      `json:"state"`
	Cause            Cause      `json:"cause"`
	Start            time.Time  `json:"start"`
	End              *time.Time `json:"end"` // null while ongoing
	DurationSeconds  float64    `json:"duration_seconds"`
	Ongoing          bool       `json:"ongoing"`
	AffectedChildren []string   `json:"affected_children,omitempty"`
}

// ListOutages returns the outages overlapping [From, To), newest first.
func ListOutages(ctx context.Context, db *sql.DB, f OutageFilter, now time.Time) ([]Outage, error) {
	where, args := objectFilter(f.Municipality, f.Site, f.Class, f.Device, f.Check, f.SiteIDs)
	where = strings.Replace(where, " WHERE ", " AND ", 1)
	for _, c := range []string{"municipality", "site", "class", "device", "check_name", "site_id"} {
		where = strings.ReplaceAll(where, " "+c+"=", " o."+c+"=")
		where = strings.ReplaceAll(where, " "+c+" IN", " o."+c+" IN")
	}
	switch f.State {
	case "", "down":
		where += " AND s.state='down'"
	case "unknown":
		where += " AND s.state='unknown'"
	case "all":
	default:
		return nil, fmt.Errorf("outage state %q: want down, unknown or all", f.State)
	}
	if f.Cause != "" {
		where += " AND s.cause=?"
		args = append(args, f.Cause)
	}
	if !f.From.IsZero() {
		where += " AND (s.end_ms IS NULL OR s.end_ms > ?)"
		args = append(args, ms(f.From))
	}
	if !f.To.IsZero() {
		where += " AND s.start_ms < ?"
		args = append(args, ms(f.To))
	}
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	args = append(args, f.Limit)
	rows, err := db.QueryContext(ctx, `SELECT s.id, o.municipality, o.site, o.device, o.check_name, o.class, s.state, s.cause, s.start_ms, s.end_ms, s.children
		FROM av_spans s JOIN av_objects o ON o.id=s.object_id WHERE 1=1`+where+` ORDER BY s.start_ms DESC, s.id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("list outages: %w", err)
	}
	defer rows.Close()
	var out []Outage
	for rows.Next() {
		var o Outage
		var start int64
		var end sql.NullInt64
		var children string
		if err := rows.Scan(&o.ID, &o.Municipality, &o.Site, &o.Device, &o.Check, &o.Class, &o.State, &o.Cause, &start, &end, &children); err != nil {
			return nil, fmt.Errorf("list outages: %w", err)
		}
		o.Start = fromMS(start)
		o.AffectedChildren = splitChildren(children)
		if end.Valid {
			e := fromMS(end.Int64)
			o.End = &e
			o.DurationSeconds = e.Sub(o.Start).Seconds()
		} else {
			o.Ongoing = true
			o.DurationSeconds = now.Sub(o.Start).Truncate(time.Second).Seconds()
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// WriteOutages renders outages as json, csv or a text table.
func WriteOutages(w io.Writer, list []Outage, format string) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if list == nil {
			list = []Outage{}
		}
		return enc.Encode(list)
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write([]string{"id", "municipality", "site", "device", "check", "class", "state", "cause", "start", "end", "duration_s", "affected_children"})
		for _, o := range list {
			end := ""
			if o.End != nil {
				end = o.End.Format(time.RFC3339)
			}
			cw.Write([]string{fmt.Sprint(o.ID), o.Municipality, o.Site, o.Device, o.Check, o.Class, string(o.State), string(o.Cause),
				o.Start.Format(time.RFC3339), end, fmt.Sprint(o.DurationSeconds), strings.Join(o.AffectedChildren, " ")})
		}
		cw.Flush()
		return cw.Error()
	case "", "table", "text":
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSITE\tOBJECT\tSTATE\tCAUSE\tSTART\tEND\tDURATION\tCHILDREN")
		for _, o := range list {
			obj := o.Device
			if o.Check != "" {
				obj += "/" + o.Check
			}
			end := "ongoing"
			if o.End != nil {
				end = o.End.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", o.ID, o.Site, obj, o.State, o.Cause, o.Start.Format(time.RFC3339), end,
				time.Duration(o.DurationSeconds*float64(time.Second)).Round(time.Second), len(o.AffectedChildren))
		}
		return tw.Flush()
	}
	return fmt.Errorf("outage list format %q: want table, json or csv", format)
}

// Package dashboards defines schulmon's Grafana dashboards for InfluxDB
// (Flux) as typed Go values and renders them to the JSON files in
// dashboards/json, which Grafana loads through the provisioning files in
// dashboards/provisioning.
//
// The Grafana foundation SDK is not available from the Go module proxy, so
// the dashboard model here is a small typed subset of Grafana's JSON model
// (schema version 39), enough for the panels we use. Every query names the
// measurements and fields it reads (Target.Uses), which the tests check
// against docs/schema.md, and every query runs against a real InfluxDB in
// the tests.
//
// Regenerate the JSON after a change with `go generate ./dashboards/` (or
// `make dashboards`); a test fails while the committed JSON differs.
package dashboards

//go:generate go run ./gen -out json

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// DatasourceUID is the uid of the InfluxDB datasource the provisioning file
// creates; every panel and variable refers to it.
const DatasourceUID = "schulmon-influxdb"

// DataSourceRef points a panel or variable at a datasource.
type DataSourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Influx is the reference to the provisioned InfluxDB datasource.
var Influx = &DataSourceRef{Type: "influxdb", UID: DatasourceUID}

// Dashboard is one Grafana dashboard.
type Dashboard struct {
	ID            *int       `json:"id"`
	UID           string     `json:"uid"`
	Title         string     `json:"title"`
	Description   string     `json:"description,omitempty"`
	Tags          []string   `json:"tags"`
	Timezone      string     `json:"timezone"`
	SchemaVersion int        `json:"schemaVersion"`
	Version       int        `json:"version"`
	Editable      bool       `json:"editable"`
	GraphTooltip  int        `json:"graphTooltip"`
	Refresh       string     `json:"refresh"`
	Time          TimeRange  `json:"time"`
	Templating    Templating `json:"templating"`
	Links         []Link     `json:"links"`
	Panels        []Panel    `json:"panels"`

	// TestVars are the variable values the tests use for the specific
	// (not "All") run of every query; not part of the JSON.
	TestVars map[string]string `json:"-"`
}

// TimeRange is the dashboard's default time range.
type TimeRange struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Templating holds the template variables.
type Templating struct {
	List []Variable `json:"list"`
}

// Link links to the other schulmon dashboards.
type Link struct {
	Title       string   `json:"title"`
	Type        string   `json:"type"`
	Tags        []string `json:"tags"`
	AsDropdown  bool     `json:"asDropdown"`
	IncludeVars bool     `json:"includeVars"`
	KeepTime    bool     `json:"keepTime"`
}

// Variable is a template variable.
type Variable struct {
	Name        string         `json:"name"`
	Label       string         `json:"label,omitempty"`
	Type        string         `json:"type"` // query, constant
	Datasource  *DataSourceRef `json:"datasource,omitempty"`
	Query       string         `json:"query"`
	Definition  string         `json:"definition,omitempty"`
	Refresh     int            `json:"refresh"` // 2: on time range change
	IncludeAll  bool           `json:"includeAll"`
	AllValue    string         `json:"allValue,omitempty"`
	Multi       bool           `json:"multi"`
	Hide        int            `json:"hide"` // 2: hidden
	Sort        int            `json:"sort"`
	Current     Current        `json:"current"`
	Options     []Option       `json:"options"`
	Description string         `json:"description,omitempty"`
}

// Current is a variable's selected value.
type Current struct {
	Text  string `json:"text"`
	Value string `json:"value"`
}

// Option is a constant variable's value.
type Option struct {
	Selected bool   `json:"selected"`
	Text     string `json:"text"`
	Value    string `json:"value"`
}

// GridPos places a panel (24 columns wide).
type GridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

// Panel is one panel.
type Panel struct {
	ID          int            `json:"id"`
	Type        string         `json:"type"` // timeseries, table, stat, bargauge
	Title       string         `json:"title"`
	Description string         `json:"description,omitempty"`
	GridPos     GridPos        `json:"gridPos"`
	Datasource  *DataSourceRef `json:"datasource"`
	Targets     []Target       `json:"targets"`
	FieldConfig FieldConfig    `json:"fieldConfig"`
	Options     map[string]any `json:"options"`
	// Transformations post-process the query results (e.g. merge).
	Transformations []Transformation `json:"transformations,omitempty"`

	// W and H size the panel for Layout (default 12 × 8).
	W, H int `json:"-"`
}

// Target is one Flux query of a panel.
type Target struct {
	RefID      string         `json:"refId"`
	Datasource *DataSourceRef `json:"datasource"`
	Query      string         `json:"query"`

	// Uses lists what the query reads, for the schema test.
	Uses []Use `json:"-"`
	// Contains are strings the result must contain with the test data
	// and the dashboard's TestVars (values the panel must show).
	Contains []string `json:"-"`
}

// Transformation is a Grafana data transformation.
type Transformation struct {
	ID      string         `json:"id"`
	Options map[string]any `json:"options"`
}

// Use is a measurement and the fields a query reads from it.
type Use struct {
	Measurement string
	Fields      []string
}

// FieldConfig sets units, thresholds and value mappings.
type FieldConfig struct {
	Defaults  FieldDefaults `json:"defaults"`
	Overrides []Override    `json:"overrides"`
}

// FieldDefaults apply to every field of a panel.
type FieldDefaults struct {
	Unit       string         `json:"unit,omitempty"`
	Decimals   *int           `json:"decimals,omitempty"`
	Min        *float64       `json:"min,omitempty"`
	Max        *float64       `json:"max,omitempty"`
	Thresholds *Thresholds    `json:"thresholds,omitempty"`
	Mappings   []ValueMapping `json:"mappings,omitempty"`
	Custom     map[string]any `json:"custom,omitempty"`
}

// Override changes the config of matching fields.
type Override struct {
	Matcher    Matcher    `json:"matcher"`
	Properties []Property `json:"properties"`
}

// Matcher selects fields by name.
type Matcher struct {
	ID      string `json:"id"`
	Options string `json:"options"`
}

// Property is one overridden setting.
type Property struct {
	ID    string `json:"id"`
	Value any    `json:"value"`
}

// Thresholds colour values.
type Thresholds struct {
	Mode  string `json:"mode"`
	Steps []Step `json:"steps"`
}

// Step is one threshold; the first has a nil Value (base colour).
type Step struct {
	Color string   `json:"color"`
	Value *float64 `json:"value"`
}

// ValueMapping maps values to text and colour.
type ValueMapping struct {
	Type    string                  `json:"type"` // value
	Options map[string]MappingValue `json:"options"`
}

// MappingValue is the text and colour of a mapped value.
type MappingValue struct {
	Text  string `json:"text"`
	Color string `json:"color,omitempty"`
	Index int    `json:"index"`
}

// JSON renders a dashboard as Grafana loads it (indented, stable).
func (d *Dashboard) JSON() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		return nil, fmt.Errorf("render dashboard %s: %w", d.UID, err)
	}
	return buf.Bytes(), nil
}

// FileName is the dashboard's file in dashboards/json.
func (d *Dashboard) FileName() string {
	return strings.TrimPrefix(d.UID, "schulmon-") + ".json"
}

// Layout numbers the panels and places them in rows of the given widths.
func Layout(panels []Panel) []Panel {
	x, y, rowH := 0, 0, 0
	for i := range panels {
		p := &panels[i]
		p.ID = i + 1
		p.GridPos.W, p.GridPos.H = p.W, p.H
		if p.GridPos.W == 0 {
			p.GridPos.W = 12
		}
		if p.GridPos.H == 0 {
			p.GridPos.H = 8
		}
		if x+p.GridPos.W > 24 {
			x, y, rowH = 0, y+rowH, 0
		}
		p.GridPos.X, p.GridPos.Y = x, y
		x += p.GridPos.W
		rowH = max(rowH, p.GridPos.H)
		p.Datasource = Influx
		for j := range p.Targets {
			p.Targets[j].RefID = string(rune('A' + j))
			p.Targets[j].Datasource = Influx
		}
		if p.Options == nil {
			p.Options = map[string]any{}
		}
		if p.FieldConfig.Overrides == nil {
			p.FieldConfig.Overrides = []Override{}
		}
	}
	return panels
}

// Measurements returns every measurement and field the dashboard's
// queries read, sorted.
func (d *Dashboard) Measurements() map[string][]string {
	out := map[string][]string{}
	for _, p := range d.Panels {
		for _, t := range p.Targets {
			for _, u := range t.Uses {
				out[u.Measurement] = append(out[u.Measurement], u.Fields...)
			}
		}
	}
	for k, v := range out {
		sort.Strings(v)
		out[k] = v
	}
	return out
}

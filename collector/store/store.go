// Package store defines what the collector needs from metric storage, so
// that the embedded SQLite store (the default) and InfluxDB (production)
// are interchangeable. Inventory and other metadata always live in the
// collector's own database; only points go through a Store.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/schulmon/schulmon/metric"
)

// Point is a parsed point with the identity the collector stamped on it.
// Row's tags no longer contain the trusted keys (municipality, site,
// device, class): those come from the token and the inventory.
type Point struct {
	SiteID, DeviceID                  int64
	Municipality, Site, Device, Class string
	Row                               *metric.Row
}

// Trusted tag keys: the collector sets them, a client cannot.
var TrustedTags = []string{"municipality", "site", "device", "class"}

// IsTrustedTag reports whether key is one of TrustedTags.
func IsTrustedTag(key []byte) bool {
	switch string(key) {
	case "municipality", "site", "device", "class":
		return true
	}
	return false
}

// ErrRejected marks a write the database refused as invalid (e.g. a
// field type conflict): sending it again cannot succeed, so the collector
// answers 400 with the database's message and the client drops the batch.
var ErrRejected = errors.New("the database refused the points as invalid")

// Writer stores points. Write returns only once the points are durable
// (committed, or accepted by the remote database); only then may the
// collector acknowledge the request.
type Writer interface {
	Write(ctx context.Context, points []Point) error
}

// Query selects one field of one measurement of one device over a range.
type Query struct {
	SiteID      int64
	Site        string
	DeviceID    int64
	Device      string
	Measurement string
	Field       string
	From, To    time.Time
	// Step aggregates samples to their mean per step; 0 returns raw samples.
	Step time.Duration
}

// Sample is one value at one time.
type Sample struct {
	Time  time.Time `json:"t"`
	Value float64   `json:"v"`
}

// Series is the result for one tag set (e.g. one CPU, one interface).
type Series struct {
	Measurement string            `json:"measurement"`
	Field       string            `json:"field"`
	Tags        map[string]string `json:"tags"`
	Samples     []Sample          `json:"samples"`
}

// Reader reads series back for the API, the web UI and reports.
type Reader interface {
	Query(ctx context.Context, q Query) ([]Series, error)
}

// Store is a complete metric store.
type Store interface {
	Writer
	Reader
	Close() error
}

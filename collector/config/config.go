// Package config is the collector's configuration file: YAML, strictly
// parsed (an unknown key is an error naming the key and its line), with
// defaults for everything so that an empty file is a working collector.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/schulmon/schulmon/collector/alerting"
	"github.com/schulmon/schulmon/collector/alerting/channels"
	"github.com/schulmon/schulmon/collector/snmppoll"
	"github.com/schulmon/schulmon/collector/users"
)

// Config is the collector's configuration.
type Config struct {
	// Listen is the HTTP(S) address of the write API, read API and web UI.
	Listen string `yaml:"listen"`
	// DataDir holds the embedded databases.
	DataDir string  `yaml:"data_dir"`
	TLS     TLS     `yaml:"tls"`
	Storage Storage `yaml:"storage"`
	Limits  Limits  `yaml:"limits"`
	Log     Log     `yaml:"log"`
	// Heartbeat is the agents' interval the collector assumes for status
	// before the availability engine knows better.
	Heartbeat time.Duration `yaml:"heartbeat"`
	// Availability configures outage detection and alert channels
	// (collector/availability/README.md).
	Availability alerting.Settings `yaml:"availability"`
	// Web configures web sessions, login limits and single sign-on
	// (collector/users, collector/web/README.md).
	Web users.WebConfig `yaml:"web"`
	// Alerting configures e-mail, Teams, Matrix and Alertmanager channels
	// (collector/alerting/channels/README.md).
	Alerting channels.Config `yaml:"alerting"`
	// SNMP polls devices at the data centre from the collector itself,
	// for one site (collector/snmppoll, agent/snmp/README.md).
	SNMP snmppoll.Config `yaml:"snmp"`
}

// TLS configures HTTPS.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile enables mutual TLS: agents must present a certificate
	// signed by this CA.
	ClientCAFile string `yaml:"client_ca_file"`
	// SelfSigned creates a self-signed certificate and key on the first
	// start (in data_dir/tls/ unless cert_file/key_file name the paths)
	// and logs its fingerprint for the agents to pin.
	SelfSigned bool `yaml:"self_signed"`
	// Hosts are extra DNS names and IPs for the self-signed certificate.
	Hosts []string `yaml:"hosts"`
	// AllowPlainHTTP lets the collector serve plain HTTP on a
	// non-loopback address, e.g. behind a proxy or ingress that
	// terminates TLS. Without it such a start is refused, because agent
	// tokens and web passwords would cross the network unencrypted.
	AllowPlainHTTP bool `yaml:"allow_plain_http"`
}

// Enabled reports whether the collector serves HTTPS.
func (t TLS) Enabled() bool { return t.CertFile != "" || t.SelfSigned }

// CheckPlainHTTP returns an error when the collector would serve plain
// HTTP on listen (host:port) without tls.allow_plain_http. Loopback
// addresses are always allowed: nothing leaves the machine.
func (c *Config) CheckPlainHTTP(listen string) error {
	if c.TLS.Enabled() || c.TLS.AllowPlainHTTP {
		return nil
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("listen %q is not host:port (e.g. 127.0.0.1:8086): %w", listen, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("refusing to serve plain HTTP on %s (not a loopback address): agent tokens and web passwords would travel unencrypted. "+
		"Enable HTTPS with tls.self_signed: true or tls.cert_file and tls.key_file, listen on 127.0.0.1, "+
		"or set tls.allow_plain_http: true if a proxy in front of the collector terminates TLS (deploy/README.md)", listen)
}

// Storage selects and tunes the metric store.
type Storage struct {
	// Backend is "embedded" (SQLite, default) or "influxdb".
	Backend         string        `yaml:"backend"`
	RawRetention    time.Duration `yaml:"raw_retention"`
	RollupRetention time.Duration `yaml:"rollup_retention"`
	// InfluxDB is used when Backend is "influxdb"
	// (collector/store/influx/README.md).
	InfluxDB InfluxDB `yaml:"influxdb"`
}

// InfluxDB configures the InfluxDB store: InfluxDB 2.x/3.x/Cloud, or 1.8+
// through its v2 compatibility API (token "user:password", bucket "db/rp").
type InfluxDB struct {
	URL    string `yaml:"url"`
	Org    string `yaml:"org"`
	Bucket string `yaml:"bucket"`
	// Token, or TokenFile holding it (one of them, or neither for an
	// InfluxDB 1.8 without authentication).
	Token     string      `yaml:"token"`
	TokenFile string      `yaml:"token_file"`
	TLS       InfluxDBTLS `yaml:"tls"`
	// QueueDir holds the on-disk queue of points InfluxDB has not taken
	// yet; default <data_dir>/influx-queue. QueueMaxBytes bounds it; when
	// it is full, writes are answered with 503 and Retry-After.
	QueueDir      string `yaml:"queue_dir"`
	QueueMaxBytes int64  `yaml:"queue_max_bytes"`
	// BatchSize is the most points per request to InfluxDB; concurrent
	// agent writes are combined up to it.
	BatchSize        int           `yaml:"batch_size"`
	WriteConcurrency int           `yaml:"write_concurrency"`
	WriteTimeout     time.Duration `yaml:"write_timeout"`
	// RetryInterval is the first back-off after a failed write of queued
	// points; it doubles up to MaxRetryInterval.
	RetryInterval    time.Duration `yaml:"retry_interval"`
	MaxRetryInterval time.Duration `yaml:"max_retry_interval"`
	Gzip             bool          `yaml:"gzip"`
	// UintSupport writes unsigned fields as unsigned (InfluxDB 2.x+);
	// by default they become integers, which InfluxDB 1.8 needs.
	UintSupport bool `yaml:"uint_support"`
	// ExportInterval is how often availability, staffing and the
	// collector's self-metrics are written to InfluxDB.
	ExportInterval time.Duration `yaml:"export_interval"`
}

// InfluxDBTLS configures HTTPS to InfluxDB.
type InfluxDBTLS struct {
	CAFile             string `yaml:"ca_file"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// Limits protect the write API.
type Limits struct {
	MaxBodyBytes    int64 `yaml:"max_body_bytes"`
	MaxDecodedBytes int64 `yaml:"max_decoded_bytes"`
	MaxLineBytes    int   `yaml:"max_line_bytes"`
	MaxPoints       int   `yaml:"max_points"`
	MaxInFlight     int   `yaml:"max_in_flight"`
	// Per token (one agent): requests and points per second before 429
	// with Retry-After. 0 takes the defaults (10 and 50,000), negative
	// disables the limit.
	TokenRequestsPerSecond float64 `yaml:"token_requests_per_second"`
	TokenPointsPerSecond   float64 `yaml:"token_points_per_second"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// Default returns the configuration used when no file is given.
func Default() Config {
	return Config{
		Listen:  "127.0.0.1:8086",
		DataDir: "./var/collector",
		Storage: Storage{Backend: "embedded", RawRetention: 30 * 24 * time.Hour, RollupRetention: 2 * 365 * 24 * time.Hour,
			InfluxDB: InfluxDB{QueueMaxBytes: 1 << 30, BatchSize: 5000, WriteConcurrency: 4, WriteTimeout: 10 * time.Second,
				RetryInterval: time.Second, MaxRetryInterval: 30 * time.Second, Gzip: true, ExportInterval: time.Minute}},
		Log:       Log{Level: "info", Format: "text"},
		Heartbeat: 10 * time.Second,
	}
}

// Load reads the file at path over the defaults.
func Load(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("read collector config: %w", err)
	}
	defer f.Close()
	c, err := Parse(f)
	if err != nil {
		return Config{}, fmt.Errorf("collector config %s: %w", path, err)
	}
	return c, nil
}

// Parse reads a configuration over the defaults, strictly.
func Parse(r io.Reader) (Config, error) {
	c := Default()
	data, err := io.ReadAll(r)
	if err != nil {
		return c, err
	}
	if len(bytes.TrimSpace(data)) > 0 {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return c, err
		}
	}
	return c, c.Validate()
}

// Validate checks values that YAML types cannot.
func (c *Config) Validate() error {
	switch c.Storage.Backend {
	case "embedded", "influxdb":
	default:
		return fmt.Errorf("storage.backend: unknown backend %q: use embedded or influxdb", c.Storage.Backend)
	}
	if c.Storage.Backend == "influxdb" {
		if err := c.Storage.InfluxDB.Validate(); err != nil {
			return fmt.Errorf("storage.influxdb: %w", err)
		}
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return errors.New("tls: set both cert_file and key_file, or neither")
	}
	if err := c.CheckPlainHTTP(c.Listen); err != nil {
		return err
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level: unknown level %q: use debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return fmt.Errorf("log.format: unknown format %q: use text or json", c.Log.Format)
	}
	if c.Heartbeat <= 0 {
		return fmt.Errorf("heartbeat must be positive, got %s", c.Heartbeat)
	}
	if err := c.Web.Validate(); err != nil {
		return err
	}
	if err := c.Alerting.Validate(); err != nil {
		return err
	}
	if err := c.Availability.Validate(); err != nil {
		return err
	}
	if err := c.SNMP.Validate(); err != nil {
		return err
	}
	return nil
}

// Validate checks the InfluxDB settings.
func (c *InfluxDB) Validate() error {
	u, err := url.Parse(c.URL)
	if c.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("url %q is not an http(s) URL: set e.g. url: https://influx.example.org:8086", c.URL)
	}
	if c.Bucket == "" {
		return errors.New("bucket is empty: set the bucket (InfluxDB 1.8: \"database/retention-policy\" or \"database\")")
	}
	if c.Token != "" && c.TokenFile != "" {
		return errors.New("set token or token_file, not both")
	}
	if c.QueueMaxBytes < 1<<20 {
		return fmt.Errorf("queue_max_bytes must be at least 1 MiB, got %d", c.QueueMaxBytes)
	}
	if c.BatchSize <= 0 || c.WriteConcurrency <= 0 {
		return fmt.Errorf("batch_size and write_concurrency must be positive, got %d and %d", c.BatchSize, c.WriteConcurrency)
	}
	if c.WriteTimeout <= 0 || c.RetryInterval <= 0 || c.MaxRetryInterval < c.RetryInterval || c.ExportInterval <= 0 {
		return errors.New("write_timeout, retry_interval and export_interval must be positive, and max_retry_interval at least retry_interval")
	}
	return nil
}

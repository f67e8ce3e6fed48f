// Package config is the collector's configuration file: YAML, strictly
// parsed (an unknown key is an error naming the key and its line), with
// defaults for everything so that an empty file is a working collector.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/schulmon/schulmon/collector/alerting"
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
}

// TLS configures HTTPS.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile enables mutual TLS: agents must present a certificate
	// signed by this CA.
	ClientCAFile string `yaml:"client_ca_file"`
}

// Storage selects and tunes the metric store.
type Storage struct {
	// Backend is "embedded" (SQLite, default) or "influxdb".
	Backend         string        `yaml:"backend"`
	RawRetention    time.Duration `yaml:"raw_retention"`
	RollupRetention time.Duration `yaml:"rollup_retention"`
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
		Listen:    "127.0.0.1:8086",
		DataDir:   "./var/collector",
		Storage:   Storage{Backend: "embedded", RawRetention: 30 * 24 * time.Hour, RollupRetention: 2 * 365 * 24 * time.Hour},
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
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return errors.New("tls: set both cert_file and key_file, or neither")
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
	if err := c.Availability.Validate(); err != nil {
		return err
	}
	return nil
}

// Package config is the agent's configuration file: YAML, strictly parsed
// (an unknown key is an error naming the key and its line), with defaults
// that make a file with just the collector URL and token a working agent.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/schulmon/schulmon/agent/outbox"
	"github.com/schulmon/schulmon/agent/pluginhost"
	"github.com/schulmon/schulmon/agent/snmp"
)

// Config is the agent's configuration.
type Config struct {
	Collector Collector `yaml:"collector"`
	// Interval between two rounds of host metrics and heartbeats.
	Interval time.Duration `yaml:"interval"`
	// Device is the name this host reports as (default: the hostname).
	Device string `yaml:"device"`
	// Class of this host: server (default), endpoint, …
	Class string `yaml:"class"`
	// Inputs are the host-metric collectors to run (default: all).
	Inputs []string `yaml:"inputs"`
	// StateDir holds the outbox and the enrolled token.
	StateDir string `yaml:"state_dir"`
	// MetricsListen serves the agent's own /metrics; empty disables it.
	MetricsListen string `yaml:"metrics_listen"`
	Log           Log    `yaml:"log"`
	// SNMP polls the school's devices, receives traps and discovers
	// endpoints; see agent/snmp/README.md.
	SNMP snmp.Config `yaml:"snmp"`
	// Plugins runs check plugins; see plugins/README.md.
	Plugins pluginhost.Config `yaml:"plugins"`
	// Outbox is the on-disk queue of points not yet acknowledged by the
	// collector; see agent/outbox/README.md.
	Outbox Outbox `yaml:"outbox"`
}

// Collector is where the agent reports to.
type Collector struct {
	URL string `yaml:"url"`
	// Token is the site's agent token. Prefer TokenFile or enrollment, so
	// that the config file holds no secret.
	Token     string `yaml:"token"`
	TokenFile string `yaml:"token_file"`
	Org       string `yaml:"org"`
	Bucket    string `yaml:"bucket"`
	// BatchSize is the most points per write request.
	BatchSize int `yaml:"batch_size"`
	// FlushInterval is how often queued points are sent.
	FlushInterval time.Duration `yaml:"flush_interval"`
	Timeout       time.Duration `yaml:"timeout"`
	TLS           TLS           `yaml:"tls"`
	// AllowInsecure permits plain http:// to a non-loopback collector.
	AllowInsecure bool `yaml:"allow_insecure"`
	// MaxPointsPerSecond limits sending, so that a school coming back
	// after an outage replays its outbox without swamping the collector.
	// Default 10,000; 0 means no limit.
	MaxPointsPerSecond float64 `yaml:"max_points_per_second"`
}

// Outbox bounds the on-disk outbox.
type Outbox struct {
	// Dir holds the outbox; default <state_dir>/outbox.
	Dir string `yaml:"dir"`
	// MaxBytes bounds its size; the oldest points are dropped (and
	// reported) beyond it. Default 512 MiB.
	MaxBytes int64 `yaml:"max_bytes"`
	// MaxAge drops points older than this (reported). Default 168h.
	MaxAge time.Duration `yaml:"max_age"`
	// Sync is append (fsync every batch, default), interval or never.
	Sync string `yaml:"sync"`
}

// OutboxDir is the outbox directory.
func (c *Config) OutboxDir() string {
	if c.Outbox.Dir != "" {
		return c.Outbox.Dir
	}
	return filepath.Join(c.StateDir, "outbox")
}

// TLS configures how the agent verifies the collector.
type TLS struct {
	CAFile string `yaml:"ca_file"`
	// Fingerprint pins the collector's certificate (SHA-256, hex).
	Fingerprint string `yaml:"fingerprint"`
	CertFile    string `yaml:"cert_file"` // client certificate for mutual TLS
	KeyFile     string `yaml:"key_file"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// AllInputs are the host-metric collectors, with Telegraf's names.
var AllInputs = []string{"cpu", "mem", "swap", "disk", "diskio", "net", "system", "processes"}

// Default returns the defaults.
func Default() Config {
	return Config{
		Collector: Collector{URL: "http://127.0.0.1:8086", Org: "schulmon", Bucket: "schulmon", BatchSize: 5000, FlushInterval: 10 * time.Second, Timeout: 30 * time.Second, MaxPointsPerSecond: 10000},
		Outbox:    Outbox{MaxBytes: outbox.DefaultMaxBytes, MaxAge: outbox.DefaultMaxAge, Sync: "append"},
		Interval:  10 * time.Second,
		Class:     "server",
		Inputs:    append([]string(nil), AllInputs...),
		StateDir:  "./var/agent",
		Log:       Log{Level: "info", Format: "text"},
	}
}

// Load reads the file at path over the defaults.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read agent config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return Config{}, fmt.Errorf("agent config %s: %w", path, err)
	}
	return c, nil
}

// Parse reads a configuration over the defaults, strictly.
func Parse(data []byte) (Config, error) {
	c := Default()
	if len(bytes.TrimSpace(data)) > 0 {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return c, err
		}
	}
	return c, c.Validate()
}

var classes = []string{"server", "switch", "access_point", "router", "printer", "ups", "endpoint", "display", "other"}

// Validate checks what YAML types cannot.
func (c *Config) Validate() error {
	if _, err := outbox.ParseSyncPolicy(c.Outbox.Sync); err != nil {
		return fmt.Errorf("outbox.sync: %w", err)
	}
	if c.Outbox.MaxBytes < 16<<10 {
		return fmt.Errorf("outbox.max_bytes %d is too small: use at least 16384 (16 KiB); the default is 536870912 (512 MiB)", c.Outbox.MaxBytes)
	}
	if c.Outbox.MaxAge <= 0 {
		return fmt.Errorf("outbox.max_age must be positive, got %s (default 168h)", c.Outbox.MaxAge)
	}
	if c.Collector.MaxPointsPerSecond < 0 {
		return fmt.Errorf("collector.max_points_per_second must be 0 (no limit) or positive, got %g", c.Collector.MaxPointsPerSecond)
	}
	if c.Interval < time.Second {
		return fmt.Errorf("interval %s is too short: use 1s or more", c.Interval)
	}
	u, err := url.Parse(c.Collector.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("collector.url %q: want http(s)://HOST:PORT", c.Collector.URL)
	}
	if u.Scheme == "http" && !c.Collector.AllowInsecure && !isLoopback(u.Hostname()) {
		return fmt.Errorf("collector.url %q is plain HTTP to another host: use https, or set collector.allow_insecure: true if you accept that the token travels unencrypted", c.Collector.URL)
	}
	if c.Collector.Token != "" && c.Collector.TokenFile != "" {
		return errors.New("collector: set token or token_file, not both")
	}
	if c.Collector.BatchSize < 1 {
		return fmt.Errorf("collector.batch_size must be at least 1, got %d", c.Collector.BatchSize)
	}
	if c.Collector.FlushInterval <= 0 || c.Collector.Timeout <= 0 {
		return errors.New("collector.flush_interval and collector.timeout must be positive")
	}
	if (c.Collector.TLS.CertFile == "") != (c.Collector.TLS.KeyFile == "") {
		return errors.New("collector.tls: set both cert_file and key_file, or neither")
	}
	found := false
	for _, k := range classes {
		found = found || k == c.Class
	}
	if !found {
		return fmt.Errorf("class %q: use one of %s", c.Class, strings.Join(classes, ", "))
	}
	for _, in := range c.Inputs {
		ok := false
		for _, a := range AllInputs {
			ok = ok || a == in
		}
		if !ok {
			return fmt.Errorf("inputs: unknown input %q: use some of %s", in, strings.Join(AllInputs, ", "))
		}
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
	if c.SNMP.Enabled() {
		if err := c.SNMP.Validate(); err != nil {
			return err
		}
	}
	if err := c.Plugins.Validate(); err != nil {
		return err
	}
	return nil
}

// isLoopback is true for localhost and loopback IPs; a host name that
// merely starts with "127." (127.example.org) is another host.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ResolveToken returns the token from the config, the token file, or the
// enrolled token in the state directory, in that order.
func (c *Config) ResolveToken() (string, error) {
	if c.Collector.Token != "" {
		return c.Collector.Token, nil
	}
	path := c.Collector.TokenFile
	if path == "" {
		path = c.StateDir + "/token"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && c.Collector.TokenFile == "" {
			return "", fmt.Errorf("no token: set collector.token or collector.token_file, or run 'schulmon-agent enroll' (looked for %s)", path)
		}
		return "", fmt.Errorf("read token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("token file %s is empty", path)
	}
	return tok, nil
}

// Package snmppoll runs the SNMP poller of agent/snmp inside the
// collector, for devices at the data centre (core switches, firewalls,
// the server room's UPS) that no school agent can reach. The devices
// belong to one configured site, and their points take the collector's
// own write path — stamping, store, availability, events, inventory —
// exactly as if an agent of that site had sent them.
package snmppoll

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/schulmon/schulmon/agent/snmp"
	"github.com/schulmon/schulmon/collector/tenancy"
	"github.com/schulmon/schulmon/metric"
)

// Config is the `snmp:` section of the collector configuration: the
// agent's SNMP section (targets, defaults, custom profiles, traps,
// discovery; agent/snmp/README.md) plus the site the devices belong to.
type Config struct {
	// Site is the name of the site the polled devices belong to, e.g.
	// "rz-duisburg" for the data centre's own devices.
	Site string `yaml:"site"`
	// Municipality, if set, creates the site at start when it does not
	// exist yet; otherwise the site must have been added with
	// `schulmon-collector site add`.
	Municipality string `yaml:"municipality"`
	// FlushInterval is how often polled points are written (default 1s).
	FlushInterval time.Duration `yaml:"flush_interval"`

	snmp.Config `yaml:",inline"`
}

// Enabled reports whether the section configures anything to do.
func (c *Config) Enabled() bool { return c.Config.Enabled() }

// Validate checks the section and fills in defaults.
func (c *Config) Validate() error {
	if !c.Config.Enabled() {
		if c.Site != "" || c.Municipality != "" {
			return errors.New("snmp: site is set but there are no targets, traps or discovery: add snmp.targets or remove the snmp section")
		}
		return nil
	}
	if c.Site == "" {
		return errors.New("snmp.site is empty: name the site the data centre's devices belong to (e.g. site: rz-duisburg)")
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = time.Second
	}
	if c.FlushInterval < 0 {
		return fmt.Errorf("snmp.flush_interval must be positive, got %s", c.FlushInterval)
	}
	return c.Config.Validate()
}

// Writer is the collector's write path (ingest.Handler).
type Writer interface {
	WriteLocal(ctx context.Context, site *tenancy.Site, body []byte) (int, error)
}

// Sites finds (or creates) the configured site (tenancy.Directory).
type Sites interface {
	SiteByName(ctx context.Context, name string) (tenancy.Site, error)
	EnsureSite(ctx context.Context, municipality, name, schoolType string) (tenancy.Site, error)
}

// maxBuffered bounds the points kept while they cannot be written (the
// site does not exist yet, the store refuses): the oldest are dropped.
const maxBuffered = 100000

// Run polls until ctx ends. The configuration must have been validated.
func Run(ctx context.Context, cfg Config, w Writer, sites Sites, log *slog.Logger) error {
	if !cfg.Enabled() {
		return nil
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = time.Second
	}
	f := &flusher{cfg: cfg, w: w, sites: sites, log: log}
	if cfg.Municipality != "" {
		site, err := sites.EnsureSite(ctx, cfg.Municipality, cfg.Site, "")
		if err != nil {
			return fmt.Errorf("snmp: create site %q in %q: %w", cfg.Site, cfg.Municipality, err)
		}
		f.site = &site
	}
	log.Info("collector polls SNMP devices", "site", cfg.Site, "targets", len(cfg.Targets), "traps", cfg.Traps.Listen, "subnets", len(cfg.Discovery.Subnets))
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(cfg.FlushInterval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				// The store closes with ctx too: what was not written
				// yet (at most one flush interval) is lost, as a
				// school's poll would be if its agent stopped.
				return
			case <-tick.C:
				f.flush(ctx)
			}
		}
	}()
	err := snmp.Run(ctx, cfg.Config, f, snmp.WithAgentHost("schulmon-collector"))
	<-done
	return err
}

// flusher is the poller's sink: it buffers points and writes them every
// flush interval, so that Add never waits for the store.
type flusher struct {
	cfg   Config
	w     Writer
	sites Sites
	log   *slog.Logger

	mu      sync.Mutex
	pending []metric.Point
	dropped int

	site      *tenancy.Site // owned by the flush goroutine
	warnedAt  time.Time
	lineBuf   []byte
	batchPts  []metric.Point
	lastError string
}

// Add implements snmp.Sink.
func (f *flusher) Add(pts ...metric.Point) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pending = append(f.pending, pts...)
	if over := len(f.pending) - maxBuffered; over > 0 {
		f.pending = append(f.pending[:0], f.pending[over:]...)
		f.dropped += over
	}
}

func (f *flusher) flush(ctx context.Context) {
	f.mu.Lock()
	f.batchPts, f.pending = f.pending, f.batchPts[:0]
	dropped := f.dropped
	f.dropped = 0
	f.mu.Unlock()
	if dropped > 0 {
		f.log.Warn("snmp: points dropped because they could not be written in time", "site", f.cfg.Site, "points", dropped)
	}
	if len(f.batchPts) == 0 {
		return
	}
	err := f.write(ctx)
	if err == nil {
		f.lastError = ""
		return
	}
	if ctx.Err() != nil {
		return
	}
	// Keep the points for the next flush; warn once a minute, not every second.
	f.Add(f.batchPts...)
	if msg := err.Error(); msg != f.lastError || time.Since(f.warnedAt) > time.Minute {
		f.log.Warn("snmp: polled points not written yet; retrying", "site", f.cfg.Site, "points", len(f.batchPts), "err", err)
		f.lastError, f.warnedAt = msg, time.Now()
	}
}

func (f *flusher) write(ctx context.Context) error {
	if f.site == nil {
		site, err := f.sites.SiteByName(ctx, f.cfg.Site)
		if errors.Is(err, tenancy.ErrNotFound) {
			return fmt.Errorf("site %q does not exist: add it with `schulmon-collector site add %s --municipality M`, or set snmp.municipality so that the collector creates it", f.cfg.Site, f.cfg.Site)
		}
		if err != nil {
			return fmt.Errorf("look up site %q: %w", f.cfg.Site, err)
		}
		f.site = &site
	}
	f.lineBuf = f.lineBuf[:0]
	for i := range f.batchPts {
		f.lineBuf = metric.AppendLine(f.lineBuf, &f.batchPts[i])
	}
	_, err := f.w.WriteLocal(ctx, f.site, f.lineBuf)
	return err
}

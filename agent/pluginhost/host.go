// Package pluginhost runs the agent's check plugins: separate executables
// speaking the plugins/sdk protocol over hashicorp/go-plugin (gRPC). Each
// configured instance runs in its own plugin process with its own
// configuration, interval and timeout. A plugin that crashes, hangs, fails
// its handshake or its checksum only loses its own results: its check
// reports status unknown with a message naming the plugin and the reason,
// and the plugin is restarted with back-off. Results become `check` points;
// the host's own view of every plugin (calls, errors, duration, restarts)
// becomes `schulmon_plugin` points.
package pluginhost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/schulmon/schulmon/metric"
	"github.com/schulmon/schulmon/plugins/sdk"
)

// Sink receives the points the host produces. Add must not block.
type Sink interface{ Add(points ...metric.Point) }

// Measurement names.
const (
	MeasurementCheck  = "check"
	MeasurementPlugin = "schulmon_plugin"
)

// Options are the host's dependencies that are not configuration.
type Options struct {
	Logger *slog.Logger // default slog.Default()
	// Device is the device tag of checks without their own device: the
	// agent's host name. Default os.Hostname().
	Device string
}

// Host runs the configured plugin instances.
type Host struct {
	cfg  Config
	opts Options
}

// New validates cfg and returns a host ready to Run.
func New(cfg Config, opts Options) (*Host, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("plugin configuration: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Device == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("plugin host: device name: %w", err)
		}
		opts.Device = h
	}
	return &Host{cfg: cfg.withDefaults(), opts: opts}, nil
}

// Run starts every instance and runs them until ctx is cancelled; then it
// stops the plugin processes and returns nil. Failing plugins are reported
// through their check points and the log, never by Run's error.
func (h *Host) Run(ctx context.Context, sink Sink) error {
	if len(h.cfg.Instances) == 0 {
		return nil
	}
	if found, err := Discover(h.cfg.Dir); err != nil {
		h.opts.Logger.Warn("plugin directory not readable; every check will report unknown until it is", "dir", h.cfg.Dir, "error", err)
	} else {
		h.opts.Logger.Info("plugin host starting", "dir", h.cfg.Dir, "instances", len(h.cfg.Instances), "plugins_found", len(found))
	}
	var wg sync.WaitGroup
	runners := h.runners()
	for i, r := range runners {
		// Spread the first starts over up to 10 s (or the interval), so that
		// an agent with thirty checks does not start thirty processes at once
		// on a small school server.
		r.delay = time.Duration(i) * min(r.inst.Interval, maxStagger) / time.Duration(len(runners))
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.run(ctx, sink)
		}()
	}
	wg.Wait()
	return nil
}

// Once runs every instance once, concurrently, hands the results to sink
// and stops the plugins: for `check the plugins now` commands and tests.
// Failing plugins are reported in their check points, as in Run.
func (h *Host) Once(ctx context.Context, sink Sink) error {
	var wg sync.WaitGroup
	for _, r := range h.runners() {
		r.once = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.kill()
			r.cycle(ctx, sink)
			if r.retry != nil {
				r.retry.Stop()
			}
		}()
	}
	wg.Wait()
	return ctx.Err()
}

func (h *Host) runners() []*runner {
	out := make([]*runner, 0, len(h.cfg.Instances))
	for _, in := range h.cfg.Instances {
		r := &runner{
			inst:    in,
			cfg:     h.cfg,
			device:  h.opts.Device,
			log:     h.opts.Logger.With("plugin", in.Plugin, "check", in.Name),
			backoff: h.cfg.RestartBackoff,
		}
		if in.Device != "" {
			r.device = in.Device
		}
		out = append(out, r)
	}
	return out
}

// maxStagger bounds how far the first checks are spread after start.
const maxStagger = 10 * time.Second

// runner drives one instance. All its state is owned by its goroutine.
type runner struct {
	inst   Instance
	cfg    Config
	once   bool          // Once: no restarts to announce
	delay  time.Duration // before the first check (stagger)
	device string
	log    *slog.Logger

	client  *plugin.Client
	checker sdk.Checker
	crash   *crashCatcher
	starts  int

	backoff time.Duration // next wait before a restart
	retry   *time.Timer   // pending restart, nil when none
	retryAt time.Time
	lastErr error

	calls, errs, restarts int64
	lastDur               time.Duration
}

func (r *runner) run(ctx context.Context, sink Sink) {
	defer r.kill()
	defer func() {
		if r.retry != nil {
			r.retry.Stop()
		}
	}()
	if r.delay > 0 {
		t := time.NewTimer(r.delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	r.cycle(ctx, sink)
	tick := time.NewTicker(r.inst.Interval)
	defer tick.Stop()
	for {
		var retryC <-chan time.Time
		if r.retry != nil {
			retryC = r.retry.C
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			r.cycle(ctx, sink)
		case <-retryC:
			r.retry = nil
			if err := r.start(ctx); err != nil && ctx.Err() == nil {
				r.fail(err)
			}
		}
	}
}

// cycle runs the check once and hands its points to sink.
func (r *runner) cycle(ctx context.Context, sink Sink) {
	now := time.Now()
	if r.checker != nil && r.client.Exited() {
		r.fail(r.errorf("plugin process exited between checks%s", r.crashSuffix()))
	}
	if r.checker == nil && r.retry == nil {
		if err := r.start(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			r.fail(err)
		}
	}
	var points []metric.Point
	if r.checker == nil {
		msg := r.lastErr.Error()
		if !r.once {
			msg = fmt.Sprintf("%s; next start in %s", msg, time.Until(r.retryAt).Round(100*time.Millisecond))
		}
		points = append(points, r.checkPoint(now, sdk.StatusUnknown, msg, 0, nil))
	} else {
		r.calls++
		now = time.Now() // after a start within this cycle: time the check only
		cctx, cancel := context.WithTimeout(ctx, r.inst.Timeout)
		res, err := r.checker.Collect(cctx)
		cancel()
		r.lastDur = time.Since(now)
		switch {
		case ctx.Err() != nil:
			return // the agent is stopping; this is no plugin failure
		case err == nil:
			r.backoff = r.cfg.RestartBackoff
			points = append(points, r.checkPoint(now, res.Status, res.Message, r.lastDur, res.Fields))
			for _, p := range res.Points {
				points = append(points, r.ownPoint(now, p))
			}
		default:
			r.errs++
			var remote *sdk.RemoteError
			if errors.As(err, &remote) {
				// The plugin answered with an error: it is alive and well.
				err = r.errorf("collect failed: %s", remote.Msg)
				r.log.Warn("check could not run", "error", err)
			} else {
				err = r.callError("collect", err)
				r.fail(err)
			}
			points = append(points, r.checkPoint(now, sdk.StatusUnknown, err.Error(), r.lastDur, nil))
		}
	}
	points = append(points, r.statsPoint(now))
	sink.Add(points...)
}

// errorf builds an error that names the plugin and the check.
func (r *runner) errorf(format string, args ...any) error {
	return fmt.Errorf("plugin %q (check %q): %s", r.inst.Plugin, r.inst.Name, fmt.Sprintf(format, args...))
}

// callError explains a failed call that was not the plugin's own answer:
// a hang (deadline) or a crash (transport gone).
func (r *runner) callError(call string, err error) error {
	if st, ok := status.FromError(err); ok && st.Code() == codes.DeadlineExceeded || errors.Is(err, context.DeadlineExceeded) {
		return r.errorf("hung: %s did not answer within the timeout of %s; killed", call, r.inst.Timeout)
	}
	// Give go-plugin a moment (up to 2 s on a loaded machine) to notice the
	// process exit, so that a crash is reported as one with its panic line.
	for i := 0; i < 200 && r.client != nil && !r.client.Exited(); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if r.client != nil && r.client.Exited() {
		return r.errorf("crashed during %s%s", call, r.crashSuffix())
	}
	return r.errorf("%s failed: %v", call, err)
}

func (r *runner) crashSuffix() string {
	if r.crash != nil {
		if line := r.crash.last(); line != "" {
			return ": " + line
		}
	}
	return " (see the agent log for the plugin's output)"
}

// start launches the plugin process, checks its handshake and checksum,
// and configures it. On error everything is cleaned up.
func (r *runner) start(ctx context.Context) (err error) {
	r.starts++
	if r.starts > 1 {
		r.restarts++
	}
	defer func() {
		if err != nil {
			r.errs++
		}
	}()
	path, err := resolve(r.cfg.Dir, r.inst.Plugin)
	if err != nil {
		return r.errorf("%v", err)
	}
	var secure *plugin.SecureConfig
	if r.inst.SHA256 != "" {
		sum, _ := hex.DecodeString(r.inst.SHA256) // validated in Config.Validate
		secure = &plugin.SecureConfig{Checksum: sum, Hash: sha256.New()}
	}
	r.crash = &crashCatcher{}
	r.client = plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: sdk.VersionedPlugins(nil),
		Cmd:              exec.Command(path),
		SecureConfig:     secure,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           newHCLog(r.log),
		StartTimeout:     r.cfg.StartTimeout,
		Stderr:           r.crash,
		SyncStdout:       &lineLogger{log: r.log, level: slog.LevelInfo, stream: "stdout"},
		SyncStderr:       &lineLogger{log: r.log, level: slog.LevelInfo, stream: "stderr"},
	})
	rpc, err := r.client.Client()
	if err != nil {
		r.kill()
		return r.startError(path, err)
	}
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		r.kill()
		return r.errorf("start %s: %v", path, err)
	}
	checker, ok := raw.(sdk.Checker)
	if !ok {
		r.kill()
		return r.errorf("start %s: plugin does not serve the check protocol", path)
	}
	cctx, cancel := context.WithTimeout(ctx, r.inst.Timeout)
	defer cancel()
	info, err := checker.Describe(cctx)
	if err != nil {
		err = r.configError("describe", err)
		r.kill()
		return err
	}
	if info.Name != "" && info.Name != r.inst.Plugin {
		r.log.Debug("plugin names itself differently", "describes_as", info.Name)
	}
	cfgJSON, err := json.Marshal(r.inst.Config)
	if err != nil {
		r.kill()
		return r.errorf("encode config: %v", err)
	}
	if err := checker.Configure(cctx, r.inst.Name, cfgJSON); err != nil {
		err = r.configError("configure", err)
		r.kill()
		return err
	}
	r.checker = checker
	r.log.Info("plugin started", "path", path, "version", info.Version, "pid", r.client.ID(),
		"protocol", r.client.NegotiatedVersion())
	return nil
}

func (r *runner) configError(call string, err error) error {
	var remote *sdk.RemoteError
	if errors.As(err, &remote) {
		return r.errorf("%s: %s", call, remote.Msg)
	}
	return r.callError(call, err)
}

// startError turns go-plugin's start failures into messages that say what
// to do.
func (r *runner) startError(path string, err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, plugin.ErrChecksumsDoNotMatch):
		have := "unreadable"
		if b, rerr := os.ReadFile(path); rerr == nil {
			s := sha256.Sum256(b)
			have = hex.EncodeToString(s[:])
		}
		return r.errorf("checksum mismatch: %s has sha256 %s but the configuration pins %s; not started (if the plugin was updated on purpose, put the new sum in plugins.instances[].sha256)",
			path, have, r.inst.SHA256)
	case strings.Contains(strings.ToLower(msg), "incompatible api version"):
		return r.errorf("handshake failed: %s speaks another plugin protocol (%s); this agent speaks version %d; rebuild the plugin against this schulmon's plugins/sdk",
			path, msg, sdk.ProtocolVersion)
	case strings.Contains(msg, "Unrecognized remote plugin message"), strings.Contains(msg, "plugin exited before we could connect"):
		return r.errorf("handshake failed: %s did not answer as a schulmon check plugin (%s%s); is it built with plugins/sdk.Serve?",
			path, msg, r.crashSuffix())
	case strings.Contains(msg, "timeout while waiting for plugin to start"):
		return r.errorf("handshake failed: %s did not start within %s (plugins.start_timeout)", path, r.cfg.StartTimeout)
	}
	return r.errorf("start %s: %v", path, err)
}

// fail records a failure, stops the plugin and schedules a restart with
// back-off.
func (r *runner) fail(err error) {
	r.kill()
	r.lastErr = err
	wait := r.backoff
	r.backoff = min(r.backoff*2, r.cfg.RestartBackoffMax)
	if r.retry != nil {
		r.retry.Stop()
	}
	r.retry = time.NewTimer(wait)
	r.retryAt = time.Now().Add(wait)
	if r.once {
		r.log.Error("plugin failed", "error", err)
		return
	}
	r.log.Error("plugin failed", "error", err, "restart_in", wait)
}

// killWait bounds go-plugin's graceful stop. Its Kill asks the plugin to
// shut down over gRPC without a deadline, which never returns from a
// frozen process (stopped, or stuck in the kernel); then the host kills the
// process itself so that the instance's loop goes on.
const killWait = 5 * time.Second

func (r *runner) kill() {
	c := r.client
	r.client = nil
	r.checker = nil
	if c == nil {
		return
	}
	pid, _ := strconv.Atoi(c.ID())
	done := make(chan struct{})
	go func() {
		c.Kill()
		close(done)
	}()
	select {
	case <-done:
		return
	case <-time.After(killWait):
	}
	r.log.Warn("plugin did not stop within the grace period; killing its process", "pid", pid, "grace", killWait)
	if pid > 0 {
		if p, err := os.FindProcess(pid); err == nil {
			_ = p.Kill()
		}
	}
	select {
	case <-done:
	case <-time.After(killWait):
		r.log.Error("plugin process still not gone; abandoning it", "pid", pid)
	}
}

func (r *runner) baseTags() map[string]string {
	t := map[string]string{"device": r.device, "check": r.inst.Name, "plugin": r.inst.Plugin}
	if r.inst.Class != "" {
		t["class"] = r.inst.Class
	}
	return t
}

// maxMessage bounds a check's message: it is stored with every point, and
// a plugin that returns a whole web page as its message should not fill
// the outbox.
const maxMessage = 4096

func (r *runner) checkPoint(at time.Time, st sdk.Status, msg string, dur time.Duration, extra []metric.Field) metric.Point {
	if len(msg) > maxMessage {
		msg = strings.ToValidUTF8(msg[:maxMessage-3], "") + "..."
	}
	fields := map[string]metric.Value{
		"status":     metric.Int(int64(st)),
		"message":    metric.String(msg),
		"duration_s": metric.Float(dur.Seconds()),
	}
	for _, f := range extra {
		if _, reserved := fields[f.Key]; reserved {
			continue // status, message and duration_s are the host's
		}
		fields[f.Key] = f.Value
	}
	return metric.NewPoint(MeasurementCheck, r.baseTags(), fields, at)
}

// ownPoint completes a plugin's own point with the instance's tags.
func (r *runner) ownPoint(at time.Time, p metric.Point) metric.Point {
	for k, v := range r.baseTags() {
		if _, ok := p.Tag(k); !ok {
			p.SetTag(k, v)
		}
	}
	if p.Time.IsZero() {
		p.Time = at
	}
	return p
}

func (r *runner) statsPoint(at time.Time) metric.Point {
	return metric.NewPoint(MeasurementPlugin, r.baseTags(), map[string]metric.Value{
		"calls":      metric.Int(r.calls),
		"errors":     metric.Int(r.errs),
		"restarts":   metric.Int(r.restarts),
		"duration_s": metric.Float(r.lastDur.Seconds()),
		"running":    metric.Bool(r.checker != nil),
	}, at)
}

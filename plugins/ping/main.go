// Command schulmon-plugin-ping is a schulmon check plugin: ICMP echo to a
// host, reporting packet loss and round-trip times.
//
// It pings without privileges where the operating system allows it (Linux:
// the plugin's group is inside net.ipv4.ping_group_range; macOS: always)
// and falls back to a raw ICMP socket, which needs root or CAP_NET_RAW.
// When neither is allowed the check reports status unknown with a message
// saying how to allow one; the tcp plugin is the alternative for hosts
// that block ICMP anyway. See README.md.
package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"time"

	probing "github.com/prometheus-community/pro-bing"

	"github.com/schulmon/schulmon/metric"
	"github.com/schulmon/schulmon/plugins/sdk"
)

//go:embed sample.yaml
var sampleConfig string

// Socket modes.
const (
	modeAuto         = "auto"         // unprivileged, then raw
	modeUnprivileged = "unprivileged" // UDP ICMP sockets only
	modePrivileged   = "privileged"   // raw ICMP sockets only
)

type config struct {
	Host        string       `json:"host"`
	Count       int          `json:"count"`    // echo requests per check; default 3
	Interval    sdk.Duration `json:"interval"` // between requests; default 200ms
	Mode        string       `json:"mode"`     // auto (default), unprivileged, privileged
	WarnLossPct float64      `json:"warn_loss_pct"`
	CritLossPct float64      `json:"crit_loss_pct"` // default 100: critical only when nothing comes back
	WarnRTT     sdk.Duration `json:"warn_rtt"`
	CritRTT     sdk.Duration `json:"crit_rtt"`
}

type pingCheck struct{ cfg config }

func (c *pingCheck) Describe(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "ping", Version: metric.Version,
		Description: "ICMP echo: packet loss and round-trip times", SampleConfig: sampleConfig}, nil
}

func (c *pingCheck) Configure(_ context.Context, _ string, raw []byte) error {
	var cfg config
	if err := sdk.DecodeConfig(raw, &cfg); err != nil {
		return err
	}
	if cfg.Host == "" {
		return errors.New("config: host missing (a name or IP address to ping)")
	}
	if cfg.Count == 0 {
		cfg.Count = 3
	}
	if cfg.Count < 1 || cfg.Count > 100 {
		return fmt.Errorf("config: count %d: want 1..100", cfg.Count)
	}
	if cfg.Interval == 0 {
		cfg.Interval = sdk.Duration(200 * time.Millisecond)
	}
	if cfg.Interval.D() < 10*time.Millisecond {
		return fmt.Errorf("config: interval %s: want at least 10ms", cfg.Interval.D())
	}
	switch cfg.Mode {
	case "":
		cfg.Mode = modeAuto
	case modeAuto, modeUnprivileged, modePrivileged:
	default:
		return fmt.Errorf("config: mode %q: want auto, unprivileged or privileged", cfg.Mode)
	}
	if cfg.CritLossPct == 0 {
		cfg.CritLossPct = 100
	}
	if cfg.WarnLossPct < 0 || cfg.CritLossPct < 0 || cfg.WarnLossPct > 100 || cfg.CritLossPct > 100 {
		return errors.New("config: warn_loss_pct and crit_loss_pct are percentages, 0..100")
	}
	c.cfg = cfg
	return nil
}

// attempts returns the socket modes to try, privileged = true for raw.
func (c *pingCheck) attempts() []bool {
	switch {
	case osNeedsPrivileged || c.cfg.Mode == modePrivileged:
		return []bool{true}
	case c.cfg.Mode == modeUnprivileged:
		return []bool{false}
	}
	return []bool{false, true}
}

func (c *pingCheck) Collect(ctx context.Context) (*sdk.Result, error) {
	var errs []string
	for _, privileged := range c.attempts() {
		p, err := probing.NewPinger(c.cfg.Host)
		if err != nil {
			return &sdk.Result{Status: sdk.StatusCritical, Message: fmt.Sprintf("resolve %s: %v", c.cfg.Host, err)}, nil
		}
		p.SetPrivileged(privileged)
		p.Count = c.cfg.Count
		p.Interval = c.cfg.Interval.D()
		if dl, ok := ctx.Deadline(); ok {
			p.Timeout = time.Until(dl)
		}
		err = p.RunWithContext(ctx)
		st := p.Statistics()
		if err != nil && st.PacketsSent == 0 {
			// The socket could not be opened (or sending failed at once):
			// remember why and try the next mode.
			errs = append(errs, fmt.Sprintf("%s socket: %v", sockName(privileged), err))
			continue
		}
		return c.result(st, privileged), nil
	}
	return &sdk.Result{Status: sdk.StatusUnknown, Message: fmt.Sprintf("cannot ping %s: %s. %s",
		c.cfg.Host, strings.Join(errs, "; "), fixHint)}, nil
}

func sockName(privileged bool) string {
	if privileged {
		return "raw ICMP"
	}
	return "unprivileged ICMP"
}

func (c *pingCheck) result(st *probing.Statistics, privileged bool) *sdk.Result {
	res := &sdk.Result{Status: sdk.StatusOK}
	res.AddField("packets_sent", metric.Int(int64(st.PacketsSent)))
	res.AddField("packets_received", metric.Int(int64(st.PacketsRecv)))
	res.AddField("loss_pct", metric.Float(st.PacketLoss))
	res.AddField("privileged", metric.Bool(privileged))
	if st.PacketsRecv > 0 {
		res.AddField("rtt_min_s", metric.Float(st.MinRtt.Seconds()))
		res.AddField("rtt_avg_s", metric.Float(st.AvgRtt.Seconds()))
		res.AddField("rtt_max_s", metric.Float(st.MaxRtt.Seconds()))
		res.AddField("rtt_stddev_s", metric.Float(st.StdDevRtt.Seconds()))
	}
	res.Message = fmt.Sprintf("%s: %d/%d received, %.0f%% loss", c.cfg.Host, st.PacketsRecv, st.PacketsSent, st.PacketLoss)
	if st.PacketsRecv > 0 {
		res.Message += fmt.Sprintf(", rtt avg %s", st.AvgRtt.Round(time.Microsecond))
	}
	switch {
	case st.PacketsRecv == 0 || st.PacketLoss >= c.cfg.CritLossPct:
		res.Status = sdk.StatusCritical
	case c.cfg.WarnLossPct > 0 && st.PacketLoss >= c.cfg.WarnLossPct:
		res.Status = sdk.StatusWarning
	}
	if st.PacketsRecv > 0 {
		switch {
		case c.cfg.CritRTT > 0 && st.AvgRtt > c.cfg.CritRTT.D():
			res.Status = sdk.Worse(res.Status, sdk.StatusCritical)
			res.Message += fmt.Sprintf(" (over %s)", c.cfg.CritRTT.D())
		case c.cfg.WarnRTT > 0 && st.AvgRtt > c.cfg.WarnRTT.D():
			res.Status = sdk.Worse(res.Status, sdk.StatusWarning)
			res.Message += fmt.Sprintf(" (over %s)", c.cfg.WarnRTT.D())
		}
	}
	return res
}

func main() { sdk.Serve(&pingCheck{}) }

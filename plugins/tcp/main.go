// Command schulmon-plugin-tcp is a schulmon check plugin: is a TCP port
// open, and how long does the connection take? Optionally it sends a line
// and expects a banner (e.g. "220" from a mail server).
package main

import (
	"bufio"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/schulmon/schulmon/metric"
	"github.com/schulmon/schulmon/plugins/sdk"
)

//go:embed sample.yaml
var sampleConfig string

type config struct {
	Address     string       `json:"address"`      // host:port
	Send        string       `json:"send"`         // optional, written after connecting
	Expect      string       `json:"expect"`       // optional, the first line read must contain it
	WarnConnect sdk.Duration `json:"warn_connect"` // connect time above this is a warning
	CritConnect sdk.Duration `json:"crit_connect"` // connect time above this is critical
}

type tcpCheck struct{ cfg config }

func (c *tcpCheck) Describe(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "tcp", Version: metric.Version, Description: "TCP port open, connect time, optional banner match", SampleConfig: sampleConfig}, nil
}

func (c *tcpCheck) Configure(_ context.Context, _ string, raw []byte) error {
	var cfg config
	if err := sdk.DecodeConfig(raw, &cfg); err != nil {
		return err
	}
	if cfg.Address == "" {
		return errors.New("config: address missing (host:port, e.g. mail.schule.example:25)")
	}
	if _, port, err := net.SplitHostPort(cfg.Address); err != nil || port == "" {
		return fmt.Errorf("config: address %q: want host:port", cfg.Address)
	}
	if cfg.CritConnect > 0 && cfg.WarnConnect > cfg.CritConnect {
		return errors.New("config: warn_connect is longer than crit_connect")
	}
	c.cfg = cfg
	return nil
}

func (c *tcpCheck) Collect(ctx context.Context) (*sdk.Result, error) {
	res := &sdk.Result{}
	start := time.Now()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", c.cfg.Address)
	took := time.Since(start)
	res.AddField("port_open", metric.Bool(err == nil))
	if err != nil {
		res.Status = sdk.StatusCritical
		res.Message = fmt.Sprintf("%s closed: %v", c.cfg.Address, err)
		return res, nil
	}
	defer conn.Close()
	res.AddField("connect_time_s", metric.Float(took.Seconds()))
	res.Status = sdk.StatusOK
	res.Message = fmt.Sprintf("%s open, connected in %s", c.cfg.Address, took.Round(time.Microsecond))
	switch {
	case c.cfg.CritConnect > 0 && took > c.cfg.CritConnect.D():
		res.Status = sdk.StatusCritical
		res.Message += fmt.Sprintf(" (over %s)", c.cfg.CritConnect.D())
	case c.cfg.WarnConnect > 0 && took > c.cfg.WarnConnect.D():
		res.Status = sdk.StatusWarning
		res.Message += fmt.Sprintf(" (over %s)", c.cfg.WarnConnect.D())
	}
	if c.cfg.Send == "" && c.cfg.Expect == "" {
		return res, nil
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if c.cfg.Send != "" {
		if _, err := conn.Write([]byte(c.cfg.Send)); err != nil {
			res.Status = sdk.StatusCritical
			res.Message = fmt.Sprintf("%s: send: %v", c.cfg.Address, err)
			return res, nil
		}
	}
	if c.cfg.Expect != "" {
		line, err := bufio.NewReader(conn).ReadString('\n')
		match := strings.Contains(line, c.cfg.Expect)
		res.AddField("banner_match", metric.Bool(match))
		if !match {
			res.Status = sdk.StatusCritical
			if err != nil {
				res.Message = fmt.Sprintf("%s: reading banner: %v", c.cfg.Address, err)
			} else {
				res.Message = fmt.Sprintf("%s: banner %q does not contain %q", c.cfg.Address, strings.TrimSpace(line), c.cfg.Expect)
			}
		}
	}
	return res, nil
}

func main() { sdk.Serve(&tcpCheck{}) }

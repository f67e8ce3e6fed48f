package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/schulmon/schulmon/agent/runtime"
	"github.com/schulmon/schulmon/agent/snmp"
	"github.com/schulmon/schulmon/agent/snmp/trap"
	"github.com/schulmon/schulmon/agent/snmp/usm"
	"github.com/schulmon/schulmon/metric"
)

// snmpService runs the `snmp:` section of the config beside host metrics.
type snmpService struct{ cfg snmp.Config }

func (snmpService) Name() string { return "snmp" }

func (s snmpService) Run(ctx context.Context, sink runtime.Sink) error {
	return snmp.Run(ctx, s.cfg, sink)
}

// lineSink prints points as line protocol and remembers poll errors.
type lineSink struct {
	mu     sync.Mutex
	w      io.Writer
	errs   []string
	points int
}

func (l *lineSink) Add(pts ...metric.Point) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var buf []byte
	for i := range pts {
		buf = metric.AppendLine(buf, &pts[i])
		if pts[i].Measurement == "snmp_poll" {
			if v, ok := pts[i].Field("error"); ok && v.StringValue() != "" {
				l.errs = append(l.errs, v.StringValue())
			}
		}
	}
	l.points += len(pts)
	_, _ = l.w.Write(buf)
}

func newSNMPCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "snmp",
		Short: "Try SNMP devices before adding them to the config",
	}
	cmd.AddCommand(newSNMPPollCmd(), newSNMPTrapsCmd(), &cobra.Command{
		Use:   "sample-config",
		Short: "Print a commented example of the snmp: config section",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := io.WriteString(cmd.OutOrStdout(), snmp.SampleConfig)
			return err
		},
	})
	return cmd
}

func newSNMPPollCmd() *cobra.Command {
	var (
		t                 snmp.Target
		version, profiles string
		retries, count    int
		interval          time.Duration
	)
	c := &cobra.Command{
		Use:   "poll udp://HOST[:PORT] [--community C | --user U --auth-proto P --auth-pass X --priv-proto P --priv-pass X] [--profile system,interfaces,…]",
		Short: "Poll one device once and print what it reports as line protocol",
		Long: `Polls one device with the same code the agent runs and prints the points
as InfluxDB line protocol. The snmp_poll line says whether the device
answered, how long it took and why not. With --count 2 the device is polled
twice, --interval apart, so that interface rates (in_bps, out_bps) show.

Profiles: ` + strings.Join(snmp.ProfileNames(), ", ") + ` (default: by detected class).

Examples:
  schulmon-agent snmp poll udp://10.20.1.2 --community public
  schulmon-agent snmp poll 10.20.1.2:161 --user monitor --auth-proto SHA-256 --auth-pass '…' --priv-proto AES --priv-pass '…'
  schulmon-agent snmp poll udp://10.20.1.30 --profile system,printer`,
		Args:          cobra.ExactArgs(1),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			t.Address = args[0]
			t.Version = version
			if t.Version == "" {
				t.Version = "2c"
				if t.User.Name != "" {
					t.Version = "3"
				}
			}
			t.Retries = &retries
			if profiles != "" {
				for _, p := range strings.Split(profiles, ",") {
					t.Profiles = append(t.Profiles, strings.TrimSpace(p))
				}
			}
			if count < 1 {
				return errors.New("--count must be at least 1")
			}
			// The result is printed; the poller's own warnings would repeat it.
			slog.SetDefault(slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelError})))
			p, err := snmp.New(snmp.Config{Targets: []snmp.Target{t}})
			if err != nil {
				return err
			}
			sink := &lineSink{w: cmd.OutOrStdout()}
			for i := 0; i < count; i++ {
				if i > 0 {
					select {
					case <-cmd.Context().Done():
						return cmd.Context().Err()
					case <-time.After(interval):
					}
				}
				p.PollAll(cmd.Context(), sink)
			}
			if len(sink.errs) > 0 {
				return errors.New(sink.errs[len(sink.errs)-1])
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&version, "version", "", "SNMP version 1, 2c or 3 (default 2c, or 3 with --user)")
	f.StringVar(&t.Community, "community", "public", "community (v1/v2c)")
	f.StringVar(&t.User.Name, "user", "", "SNMPv3 user")
	f.StringVar(&t.User.AuthProtocol, "auth-proto", "", "SNMPv3 auth protocol: MD5, SHA, SHA-224, SHA-256, SHA-384, SHA-512")
	f.StringVar(&t.User.AuthPassword, "auth-pass", "", "SNMPv3 auth passphrase")
	f.StringVar(&t.User.PrivProtocol, "priv-proto", "", "SNMPv3 privacy protocol: DES, AES, AES-192, AES-256, AES-192-C, AES-256-C")
	f.StringVar(&t.User.PrivPassword, "priv-pass", "", "SNMPv3 privacy passphrase")
	f.StringVar(&t.ContextName, "context", "", "SNMPv3 context name")
	f.StringVar(&profiles, "profile", "", "comma-separated profiles (default: by device class)")
	f.StringVar(&t.Name, "name", "", "device name for the device tag (default: sysName)")
	f.StringVar(&t.Class, "class", "", "device class instead of auto-detection")
	f.DurationVar(&t.Timeout, "timeout", 2*time.Second, "timeout per request")
	f.IntVar(&retries, "retries", 1, "retries per request")
	f.IntVar(&t.MaxVarbinds, "max-varbinds", 0, "varbinds per GETBULK (default 60)")
	f.IntVar(&count, "count", 1, "number of polls (2 or more show rates)")
	f.DurationVar(&interval, "interval", 10*time.Second, "time between polls with --count")
	return c
}

func newSNMPTrapsCmd() *cobra.Command {
	var cfg trap.Config
	var user usm.User
	c := &cobra.Command{
		Use:   "traps --listen ADDR [--community C] [--user U …]",
		Short: "Receive SNMP traps and print them as line protocol until interrupted",
		Long: `Listens for SNMP traps and informs (v1, v2c, v3) and prints each as an
snmp_trap line: the tool to check that a device sends its traps to this
server. Port 162 needs root or CAP_NET_BIND_SERVICE; any port above 1023
works without.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if user.Name != "" {
				cfg.Users = append(cfg.Users, user)
			}
			r, err := trap.New(cfg, &lineSink{w: cmd.OutOrStdout()}, nil)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "listening for SNMP traps on %s (Ctrl-C ends)\n", cfg.Listen)
			return r.Run(cmd.Context())
		},
	}
	f := c.Flags()
	f.StringVar(&cfg.Listen, "listen", "0.0.0.0:162", "UDP address to listen on")
	f.StringSliceVar(&cfg.Communities, "community", nil, "accepted communities (default: any)")
	f.StringVar(&user.Name, "user", "", "SNMPv3 user")
	f.StringVar(&user.AuthProtocol, "auth-proto", "", "SNMPv3 auth protocol")
	f.StringVar(&user.AuthPassword, "auth-pass", "", "SNMPv3 auth passphrase")
	f.StringVar(&user.PrivProtocol, "priv-proto", "", "SNMPv3 privacy protocol")
	f.StringVar(&user.PrivPassword, "priv-pass", "", "SNMPv3 privacy passphrase")
	f.StringVar(&cfg.EngineID, "engine-id", "", "this receiver's engine ID in hex (for v3 informs)")
	return c
}

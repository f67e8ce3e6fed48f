// Command schulmon-agent runs on a school's server: it gathers host
// metrics, polls the school's SNMP devices, runs check plugins, keeps
// everything in its outbox and reports to the schulmon collector.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/schulmon/schulmon/agent/config"
	"github.com/schulmon/schulmon/agent/outbox"
	"github.com/schulmon/schulmon/agent/runtime"
	"github.com/schulmon/schulmon/agent/sender"
	"github.com/schulmon/schulmon/internal/logging"
	"github.com/schulmon/schulmon/metric"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

type flags struct {
	configPath string
}

func (f *flags) load() (config.Config, error) {
	if f.configPath == "" {
		return config.Default(), nil
	}
	return config.Load(f.configPath)
}

func newRootCmd() *cobra.Command {
	var f flags
	var once bool
	root := &cobra.Command{
		Use:   "schulmon-agent [--config FILE] [--once]",
		Short: "schulmon agent: host metrics, SNMP, check plugins → collector",
		Long: `schulmon-agent gathers this host's metrics every interval, polls the
school's SNMP devices, runs check plugins and reports everything to the
schulmon collector. With --once it prints one round as line protocol and
exits, without a collector (like telegraf --test).`,
		Version:       metric.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.load()
			if err != nil {
				return err
			}
			log := newLogger(cfg)
			device, err := deviceName(cfg)
			if err != nil {
				return err
			}
			if once {
				lines, err := runtime.Once(cmd.Context(), cfg, device, log)
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(lines)
				return err
			}
			return run(cmd.Context(), cfg, device, log)
		},
	}
	root.PersistentFlags().StringVarP(&f.configPath, "config", "c", "", "agent config file (YAML)")
	root.Flags().BoolVar(&once, "once", false, "print one round of points as line protocol and exit")
	root.AddCommand(newCheckConfigCmd(&f))
	root.AddCommand(newSNMPCmd())
	root.AddCommand(newEnrollCmd(&f), newServiceCmd(&f))
	root.AddCommand(newPluginsCmd(&f))
	return root
}

func deviceName(cfg config.Config) (string, error) {
	if cfg.Device != "" {
		return cfg.Device, nil
	}
	h, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("find the hostname (set 'device' in the config): %w", err)
	}
	return h, nil
}

func newLogger(cfg config.Config) *slog.Logger {
	return logging.New(cfg.Log.Level, cfg.Log.Format)
}

// openOutbox opens the on-disk outbox; drops are logged by the outbox and
// also queued as schulmon_outbox_drop points, so the collector sees them.
func openOutbox(cfg config.Config, device string, log *slog.Logger) (*outbox.Outbox, error) {
	policy, err := outbox.ParseSyncPolicy(cfg.Outbox.Sync)
	if err != nil {
		return nil, err
	}
	ob, err := outbox.Open(cfg.OutboxDir(), outbox.Options{
		MaxBytes:   cfg.Outbox.MaxBytes,
		MaxAge:     cfg.Outbox.MaxAge,
		Sync:       policy,
		Logger:     log,
		DropPoints: true,
		DropTags:   map[string]string{"host": device, "class": cfg.Class},
	})
	if err != nil {
		return nil, err
	}
	if st := ob.Stats(); st.PendingPoints > 0 {
		log.Info("outbox holds points from before: sending them first", "points", st.PendingPoints, "bytes", st.Bytes)
	}
	return ob, nil
}

// run starts the agent and its subsystems until ctx ends.
func run(ctx context.Context, cfg config.Config, device string, log *slog.Logger) error {
	token, err := cfg.ResolveToken()
	if err != nil {
		return err
	}
	warnInsecure(cfg, log)
	snd, err := sender.New(cfg.Collector, token)
	if err != nil {
		return err
	}
	defer snd.Close()
	ob, err := openOutbox(cfg, device, log)
	if err != nil {
		return err
	}
	defer ob.Close()
	q := outbox.NewQueue(ob)
	a, err := runtime.New(cfg, device, q, snd, log)
	if err != nil {
		return err
	}
	if cfg.SNMP.Enabled() {
		a.AddService(snmpService{cfg.SNMP})
	}
	log.Info("agent started", "device", device, "collector", cfg.Collector.URL, "interval", cfg.Interval, "version", metric.Version)
	err = a.Run(ctx)
	log.Info("agent stopped", "queued", q.Pending(), "outbox", cfg.OutboxDir())
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func newCheckConfigCmd(f *flags) *cobra.Command {
	return &cobra.Command{
		Use:     "check-config",
		Aliases: []string{"validate"},
		Short:   "Check the config file strictly (an unknown key is an error) and exit",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.configPath == "" {
				return errors.New("name the file with --config FILE")
			}
			cfg, err := f.load()
			if err != nil {
				return err
			}
			if _, err := cfg.ResolveToken(); err != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: OK, but: %v\n", f.configPath, err)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: OK (collector %s, interval %s, inputs %v)\n", f.configPath, cfg.Collector.URL, cfg.Interval, cfg.Inputs)
			return nil
		},
	}
}

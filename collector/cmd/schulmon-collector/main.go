// Command schulmon-collector is the data centre's collector: the
// InfluxDB-compatible write endpoint for the schools' agents, storage,
// availability, staffing, the web UI and reports, plus the management
// commands for sites and tokens.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/schulmon/schulmon/collector/availability/avserver"
	"github.com/schulmon/schulmon/collector/config"
	"github.com/schulmon/schulmon/collector/server"
	"github.com/schulmon/schulmon/collector/store/influx/export"
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

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "schulmon-collector",
		Short:         "schulmon collector: write endpoint, storage, availability, staffing, web UI",
		Version:       metric.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCmd(), newCheckConfigCmd(), newSiteCmd(), newTokenCmd(), newReportCmd(), newInventoryCmd())
	root.AddCommand(newOutagesCmd(), newMaintenanceCmd(), newAvailabilityCmd())
	root.AddCommand(newEnrollmentCmd(), newTLSCmd(), newBackupCmd(), newRestoreCmd(), newHealthcheckCmd())
	root.AddCommand(newUserCmd(), newDeviceCmd())
	return root
}

// newReportCmd groups the reports; each report adds itself here.
func newReportCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "report", Short: "Availability and staffing reports"}
	cmd.AddCommand(newReportStaffingCmd())
	cmd.AddCommand(newReportAvailabilityCmd())
	return cmd
}

// commonFlags are the flags every command that touches the data has.
type commonFlags struct {
	configPath string
	dataDir    string
}

func (f *commonFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.configPath, "config", "c", "", "collector config file (YAML)")
	cmd.Flags().StringVar(&f.dataDir, "data-dir", "", "data directory (overrides the config file; default ./var/collector)")
}

// load returns the configuration with command-line overrides applied.
func (f *commonFlags) load() (config.Config, error) {
	cfg := config.Default()
	if f.configPath != "" {
		var err error
		if cfg, err = config.Load(f.configPath); err != nil {
			return cfg, err
		}
	}
	if f.dataDir != "" {
		cfg.DataDir = f.dataDir
	}
	return cfg, nil
}

func newLogger(c config.Config) *slog.Logger {
	return logging.New(c.Log.Level, c.Log.Format)
}

func newServeCmd() *cobra.Command {
	var f commonFlags
	var listen, pprofListen string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the collector",
		Long: `Run the collector: the InfluxDB v2 write endpoint (/api/v2/write), the
read API (/api/v1), the web UI (/), /metrics, /ping and /health.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.load()
			if err != nil {
				return err
			}
			if listen != "" {
				cfg.Listen = listen
				// The file's address was checked when it was loaded; refuse
				// an unsafe override before anything starts or is logged.
				if err := cfg.CheckPlainHTTP(listen); err != nil {
					return err
				}
			}
			log := newLogger(cfg)
			if pprofListen != "" {
				if err := servePprof(cmd.Context(), pprofListen, log); err != nil {
					return err
				}
			}
			srv, err := server.New(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			att, err := avserver.Attach(cmd.Context(), srv, cfg.Availability)
			if err != nil {
				return err
			}
			if err := attachWeb(srv, att, cfg); err != nil {
				return err
			}
			// InfluxDB backend: availability and staffing for Grafana.
			if _, err := export.Attach(cmd.Context(), srv, att, cfg); err != nil {
				return err
			}
			startSNMP(cmd.Context(), srv, cfg)
			ln, err := net.Listen("tcp", cfg.Listen)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
			}
			scheme := "http"
			if srv.Config.TLS.CertFile != "" {
				scheme = "https"
			}
			log.Info("collector listening", "url", scheme+"://"+ln.Addr().String()+"/", "data_dir", cfg.DataDir, "storage", cfg.Storage.Backend, "version", metric.Version)
			if err := srv.Run(cmd.Context(), ln); err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			log.Info("collector stopped")
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&listen, "listen", "", "listen address, e.g. 127.0.0.1:8086 (overrides the config file)")
	cmd.Flags().StringVar(&pprofListen, "pprof-listen", "", "serve Go's profiler (/debug/pprof/) on this address, e.g. 127.0.0.1:6060; unauthenticated, so keep it on loopback")
	return cmd
}

func newCheckConfigCmd() *cobra.Command {
	var f commonFlags
	cmd := &cobra.Command{
		Use:     "check-config",
		Aliases: []string{"validate"},
		Short:   "Check a config file strictly and print the effective configuration",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.configPath == "" {
				return errors.New("name the file with --config FILE")
			}
			cfg, err := f.load()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: OK (listen %s, data dir %s, storage %s)\n", f.configPath, cfg.Listen, cfg.DataDir, cfg.Storage.Backend)
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

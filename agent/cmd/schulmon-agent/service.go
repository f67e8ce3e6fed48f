package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kardianos/service"
	"github.com/spf13/cobra"

	"github.com/schulmon/schulmon/agent/config"
)

// serviceName is the name in the Windows service manager (and of the
// systemd unit kardianos/service would write on Linux).
const serviceName = "schulmon-agent"

// serviceOptions are what `service install` records in the service
// definition: the service manager starts `schulmon-agent service run`
// with exactly these arguments.
type serviceOptions struct {
	configPath string
	logFile    string
}

func (o serviceOptions) arguments() []string {
	args := []string{"service", "run"}
	if o.configPath != "" {
		args = append(args, "--config", o.configPath)
	}
	if o.logFile != "" {
		args = append(args, "--log-file", o.logFile)
	}
	return args
}

func serviceConfig(o serviceOptions) *service.Config {
	return &service.Config{
		Name:        serviceName,
		DisplayName: "schulmon agent",
		Description: "Reports this school server's metrics, SNMP devices and checks to the schulmon collector.",
		Arguments:   o.arguments(),
		Option: service.KeyValue{
			// Windows: start at boot, after the network is up, and
			// restart after a crash.
			"StartType":              "automatic",
			"DelayedAutoStart":       true,
			"OnFailure":              "restart",
			"OnFailureDelayDuration": "10s",
			"OnFailureResetPeriod":   600,
			// systemd / sysv on Linux
			"Restart": "on-failure",
		},
	}
}

// agentProgram adapts the agent's run loop to kardianos/service.
type agentProgram struct {
	run    func(ctx context.Context) error
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan error
}

func (p *agentProgram) Start(service.Service) error {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan error, 1)
	go func() {
		err := p.run(ctx)
		if err != nil && ctx.Err() == nil {
			// A failed start (no token, bad config) must be visible
			// to the service manager, which then applies its
			// restart policy.
			p.log.Error("agent stopped with an error", "err", err)
			os.Exit(1)
		}
		p.done <- err
	}()
	return nil
}

func (p *agentProgram) Stop(service.Service) error {
	p.cancel()
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.log.Warn("agent did not stop within 30 s; exiting anyway")
	}
	return nil
}

func newServiceCmd(f *flags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "service install|uninstall|start|stop|status",
		Short: "Run the agent as a Windows service (or a systemd/sysv service elsewhere)",
		Long: `Manage the agent as an operating-system service with the service
manager of this system (Windows: the Service Control Manager; Linux:
systemd or sysv; macOS: launchd). Run from an administrator prompt / as root.

  schulmon-agent service install --config C:\ProgramData\schulmon\agent.yaml
  schulmon-agent service start
  schulmon-agent service status

On Linux the .deb/.rpm package's hardened unit (deploy/systemd) is the
preferred way; 'service install' there writes a plain unit running as root.
See deploy/windows/README.md.`,
	}
	var o serviceOptions
	install := &cobra.Command{
		Use:   "install [--config FILE] [--log-file FILE]",
		Short: "Register the agent as a service that starts at boot",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.configPath = f.configPath
			if o.configPath == "" {
				return errors.New("name the agent's config file with --config FILE (absolute path; the service does not start in this directory)")
			}
			// Check the file now, not at the first boot.
			if _, err := config.Load(o.configPath); err != nil {
				return err
			}
			var err error
			if o.configPath, err = filepath.Abs(o.configPath); err != nil {
				return fmt.Errorf("config path: %w", err)
			}
			if o.logFile != "" {
				if o.logFile, err = filepath.Abs(o.logFile); err != nil {
					return fmt.Errorf("log file path: %w", err)
				}
			}
			s, err := service.New(&agentProgram{}, serviceConfig(o))
			if err != nil {
				return fmt.Errorf("service manager: %w", err)
			}
			if err := s.Install(); err != nil {
				return fmt.Errorf("install service %s (run as administrator/root?): %w", serviceName, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "installed service %s (%s): %s %s\nstart it with: schulmon-agent service start\n",
				serviceName, service.ChosenSystem(), exePath(), strings.Join(o.arguments(), " "))
			return nil
		},
	}
	install.Flags().StringVar(&o.logFile, "log-file", "", "log to this file (default: the Windows event log / the system log)")

	control := func(action, done string) *cobra.Command {
		return &cobra.Command{
			Use:   action,
			Short: strings.ToUpper(action[:1]) + action[1:] + " the agent service",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				s, err := service.New(&agentProgram{}, serviceConfig(serviceOptions{}))
				if err != nil {
					return fmt.Errorf("service manager: %w", err)
				}
				if err := service.Control(s, action); err != nil {
					return fmt.Errorf("%s service %s (run as administrator/root?): %w", action, serviceName, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s service %s\n", done, serviceName)
				return nil
			},
		}
	}

	status := &cobra.Command{
		Use:   "status",
		Short: "Show whether the agent service is installed and running",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := service.New(&agentProgram{}, serviceConfig(serviceOptions{}))
			if err != nil {
				return fmt.Errorf("service manager: %w", err)
			}
			st, err := s.Status()
			text := map[service.Status]string{service.StatusRunning: "running", service.StatusStopped: "stopped", service.StatusUnknown: "unknown"}[st]
			switch {
			case errors.Is(err, service.ErrNotInstalled):
				text = "not installed (install it with: schulmon-agent service install --config FILE)"
			case err != nil:
				return fmt.Errorf("status of service %s: %w", serviceName, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "service %s (%s): %s\n", serviceName, service.ChosenSystem(), text)
			return nil
		},
	}

	var logFile string
	run := &cobra.Command{
		Use:    "run [--config FILE] [--log-file FILE]",
		Short:  "Run the agent under the service manager (what 'install' registers)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runService(f, logFile)
		},
	}
	run.Flags().StringVar(&logFile, "log-file", "", "log to this file instead of the event log / system log")

	cmd.AddCommand(install, control("uninstall", "uninstalled"), control("start", "started"), control("stop", "stopped"), status, run)
	return cmd
}

// runService runs the agent under the service manager until it says stop;
// run interactively (from a console) it behaves like the plain agent.
func runService(f *flags, logFile string) error {
	cfg, err := f.load()
	if err != nil {
		return err
	}
	device, err := deviceName(cfg)
	if err != nil {
		return err
	}
	prog := &agentProgram{}
	s, err := service.New(prog, serviceConfig(serviceOptions{configPath: f.configPath, logFile: logFile}))
	if err != nil {
		return fmt.Errorf("service manager: %w", err)
	}
	var log *slog.Logger
	switch {
	case logFile != "":
		fh, err := os.OpenFile(logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
		if err != nil {
			return fmt.Errorf("open log file: %w", err)
		}
		defer fh.Close()
		log = newWriterLogger(cfg, fh)
	case !service.Interactive():
		sl, err := s.SystemLogger(nil)
		if err != nil {
			return fmt.Errorf("open the system log (event log): %w", err)
		}
		log = slog.New(newServiceLogHandler(sl, logLevel(cfg)))
	default:
		log = newLogger(cfg)
	}
	prog.log = log
	prog.run = func(runCtx context.Context) error { return run(runCtx, cfg, device, log) }
	if err := s.Run(); err != nil {
		return fmt.Errorf("run as service: %w", err)
	}
	return nil
}

func exePath() string {
	p, err := os.Executable()
	if err != nil {
		return os.Args[0]
	}
	return p
}

func logLevel(cfg config.Config) slog.Level {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	return level
}

func newWriterLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: logLevel(cfg)}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serviceLogHandler sends records to the system log of the service
// manager (the Windows event log), one entry per record, formatted like
// slog's text handler, with the entry type following the level.
type serviceLogHandler struct {
	sl    service.Logger
	level slog.Level
	mu    *sync.Mutex
	buf   *bytes.Buffer
	text  slog.Handler
}

func newServiceLogHandler(sl service.Logger, level slog.Level) *serviceLogHandler {
	buf := &bytes.Buffer{}
	return &serviceLogHandler{sl: sl, level: level, mu: &sync.Mutex{}, buf: buf,
		text: slog.NewTextHandler(buf, &slog.HandlerOptions{Level: level, ReplaceAttr: dropTimeAndLevel})}
}

// dropTimeAndLevel: the event log records both itself.
func dropTimeAndLevel(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
		return slog.Attr{}
	}
	return a
}

func (h *serviceLogHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *serviceLogHandler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.buf.Reset()
	if err := h.text.Handle(ctx, r); err != nil {
		return err
	}
	msg := strings.TrimRight(h.buf.String(), "\n")
	switch {
	case r.Level >= slog.LevelError:
		return h.sl.Error(msg)
	case r.Level >= slog.LevelWarn:
		return h.sl.Warning(msg)
	default:
		return h.sl.Info(msg)
	}
}

func (h *serviceLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.text = h.text.WithAttrs(attrs)
	return &c
}

func (h *serviceLogHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.text = h.text.WithGroup(name)
	return &c
}

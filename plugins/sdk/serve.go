package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-plugin"
)

// Serve runs impl as a plugin and does not return while the host is
// connected. Call it from main.
//
// Started by hand with -sample-config the binary prints its sample
// configuration, with -describe its description; started by hand without
// arguments it explains that it is a plugin for the schulmon agent.
func Serve(impl Checker) {
	if len(os.Args) > 1 {
		switch strings.TrimLeft(os.Args[1], "-") {
		case "sample-config", "describe", "version":
			info, err := impl.Describe(context.Background())
			if err != nil {
				fmt.Fprintln(os.Stderr, "describe:", err)
				os.Exit(1)
			}
			switch strings.TrimLeft(os.Args[1], "-") {
			case "sample-config":
				fmt.Print(info.SampleConfig)
			case "describe":
				fmt.Printf("%s %s: %s\n", info.Name, info.Version, info.Description)
			default:
				fmt.Println(info.Version)
			}
			os.Exit(0)
		}
	}
	slog.SetDefault(Logger())
	go exitWithParent(os.Getppid(), 2*time.Second)
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: VersionedPlugins(impl),
		GRPCServer:       plugin.DefaultGRPCServer,
	})
}

// Logger returns a logger for plugin code. It writes hclog's JSON lines to
// stderr, which the host parses and forwards to the agent's log with the
// plugin's name and the same level. Serve makes it slog's default logger,
// so slog.Info in a plugin just works.
func Logger() *slog.Logger { return slog.New(newHCLogHandler(os.Stderr)) }

func newHCLogHandler(w io.Writer) slog.Handler {
	return slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				// The exact layout go-plugin parses; anything else makes it
				// drop the structure and log the raw line at debug.
				return slog.String("@timestamp", a.Value.Time().Format("2006-01-02T15:04:05.000000Z07:00"))
			case slog.LevelKey:
				return slog.String("@level", strings.ToLower(a.Value.String()))
			case slog.MessageKey:
				return slog.String("@message", a.Value.String())
			}
			return a
		},
	})
}

// DecodeConfig decodes an instance configuration strictly: unknown keys are
// errors, because a misspelt option silently ignored is a check that tests
// something else than its owner thinks.
func DecodeConfig(configJSON []byte, v any) error {
	if len(bytes.TrimSpace(configJSON)) == 0 {
		configJSON = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(configJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// Duration is a time.Duration that decodes from "1.5s", "250ms" or a
// number of seconds, for plugin configuration structs.
type Duration time.Duration

// UnmarshalJSON accepts a Go duration string or seconds as a number.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: want e.g. \"5s\" or \"250ms\"", s)
		}
		*d = Duration(v)
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return errors.New("duration: want a string such as \"5s\" or a number of seconds")
	}
	*d = Duration(f * float64(time.Second))
	return nil
}

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// exitWithParent ends the plugin when the agent that started it is gone
// (killed hard, crashed): go-plugin servers would otherwise wait forever
// for a host that never comes back, and a restarted agent starts new ones.
// On Unix an orphan is re-parented, so its parent id changes.
func exitWithParent(ppid int, every time.Duration) {
	if ppid <= 1 {
		return // started by init or a sub-reaper: nothing to watch
	}
	for range time.Tick(every) {
		if os.Getppid() != ppid {
			slog.Warn("the agent that started this plugin is gone; exiting", "parent_pid", ppid)
			os.Exit(0)
		}
	}
}

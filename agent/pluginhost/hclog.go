package pluginhost

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// slogHCLog is a go-hclog Logger that writes to the agent's slog logger.
// go-plugin logs through it, and so does the plugin's stderr: go-plugin
// parses the plugin's hclog JSON lines and replays them here with their
// level, so a plugin's slog.Warn is a warning in the agent's log, tagged
// with the plugin and check names.
type slogHCLog struct {
	l       *slog.Logger
	name    string
	implied []any
}

var _ hclog.Logger = (*slogHCLog)(nil)

func newHCLog(l *slog.Logger) hclog.Logger { return &slogHCLog{l: l} }

func toSlogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return slog.LevelDebug - 4
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	}
	return slog.LevelInfo
}

func (h *slogHCLog) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.Debug && len(args) == 0 && h.name != "" && h.name != "stdio" && !strings.HasPrefix(msg, "[DEBUG]") {
		// go-plugin logs a plugin's plain (non-JSON) stderr lines at debug
		// under the executable's name; a plugin that writes with
		// fmt.Fprintln(os.Stderr) or the log package means them to be
		// read, so they are info here.
		level = hclog.Info
	}
	sl := toSlogLevel(level)
	if !h.l.Enabled(context.Background(), sl) {
		return
	}
	attrs := make([]any, 0, len(h.implied)+len(args)+2)
	if h.name != "" {
		attrs = append(attrs, "logger", h.name)
	}
	attrs = append(attrs, h.implied...)
	for i := 0; i+1 < len(args); i += 2 {
		// go-plugin adds the plugin's own timestamp; the agent's log has one.
		k, ok := args[i].(string)
		if !ok {
			k = fmt.Sprint(args[i])
		}
		switch k {
		case "timestamp":
			continue
		case "plugin":
			// go-plugin's name for the executable's path; ours is the
			// plugin's name.
			k = "path"
		}
		attrs = append(attrs, k, args[i+1])
	}
	h.l.Log(context.Background(), sl, msg, attrs...)
}

func (h *slogHCLog) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *slogHCLog) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *slogHCLog) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *slogHCLog) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *slogHCLog) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

func (h *slogHCLog) enabled(l hclog.Level) bool {
	return h.l.Enabled(context.Background(), toSlogLevel(l))
}
func (h *slogHCLog) IsTrace() bool { return h.enabled(hclog.Trace) }
func (h *slogHCLog) IsDebug() bool { return h.enabled(hclog.Debug) }
func (h *slogHCLog) IsInfo() bool  { return h.enabled(hclog.Info) }
func (h *slogHCLog) IsWarn() bool  { return h.enabled(hclog.Warn) }
func (h *slogHCLog) IsError() bool { return h.enabled(hclog.Error) }

func (h *slogHCLog) ImpliedArgs() []any { return h.implied }

func (h *slogHCLog) With(args ...any) hclog.Logger {
	c := *h
	c.implied = append(append([]any(nil), h.implied...), args...)
	return &c
}

func (h *slogHCLog) Name() string { return h.name }

func (h *slogHCLog) Named(name string) hclog.Logger {
	c := *h
	if c.name != "" {
		c.name += "." + name
	} else {
		c.name = name
	}
	return &c
}

func (h *slogHCLog) ResetNamed(name string) hclog.Logger {
	c := *h
	c.name = name
	return &c
}

// SetLevel is a no-op: the agent's slog handler decides what is logged.
func (h *slogHCLog) SetLevel(hclog.Level) {}

// GetLevel reports the most verbose level the agent's handler accepts, so
// that go-plugin skips parsing plugin log lines nobody would see.
func (h *slogHCLog) GetLevel() hclog.Level {
	for _, l := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn} {
		if h.enabled(l) {
			return l
		}
	}
	return hclog.Error
}

func (h *slogHCLog) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(h.StandardWriter(opts), "", 0)
}

func (h *slogHCLog) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	pr, pw := io.Pipe()
	go func() {
		s := bufio.NewScanner(pr)
		for s.Scan() {
			h.Info(strings.TrimSpace(s.Text()))
		}
	}()
	return pw
}

// crashCatcher receives the plugin's raw stderr (go-plugin's
// ClientConfig.Stderr) and remembers the first line of a Go panic or fatal
// error, so that the check's message can say why the plugin died. The
// whole trace goes to the log through go-plugin anyway.
type crashCatcher struct {
	mu    sync.Mutex
	buf   []byte
	crash string
}

func (c *crashCatcher) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf = append(c.buf, p...)
	for {
		i := strings.IndexByte(string(c.buf), '\n')
		if i < 0 {
			break
		}
		line := string(c.buf[:i])
		c.buf = c.buf[i+1:]
		if c.crash == "" && (strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ")) {
			c.crash = line
		}
	}
	if len(c.buf) > 64<<10 { // a line without end: do not grow forever
		c.buf = c.buf[:0]
	}
	return len(p), nil
}

func (c *crashCatcher) last() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.crash
}

// lineLogger logs every line written to it. go-plugin's Serve redirects a
// plugin's os.Stdout and os.Stderr into a gRPC stream (SyncStdout,
// SyncStderr on the host), so this is where a plugin's fmt.Fprintln(os.Stderr)
// and log.Printf arrive.
type lineLogger struct {
	log    *slog.Logger
	level  slog.Level
	stream string

	mu  sync.Mutex
	buf []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		if line := strings.TrimRight(string(l.buf[:i]), "\r"); line != "" {
			l.log.Log(context.Background(), l.level, line, "stream", l.stream)
		}
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > 64<<10 { // a line without end: log what there is
		l.log.Log(context.Background(), l.level, string(l.buf), "stream", l.stream)
		l.buf = l.buf[:0]
	}
	return len(p), nil
}

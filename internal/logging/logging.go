// Package logging builds the structured logger both binaries use, from the
// log section of their config files (level, text or json, to stderr).
package logging

import (
	"log/slog"
	"os"
)

// New returns a logger writing to stderr. level is debug, info, warn or
// error (the config validation rejects others; an unknown one means info);
// format "json" selects JSON lines, anything else logfmt-style text.
func New(level, format string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

package pluginhost

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"
)

func benchRunner(b *testing.B) *runner {
	dir := buildPlugins(b)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	cfg := Config{Dir: dir}.withDefaults()
	in := Instance{Name: "bench", Plugin: "tcp", Interval: time.Minute, Timeout: 10 * time.Second,
		SHA256: sha256File(b, filepath.Join(dir, ExecPrefix+"tcp")), Config: map[string]any{"address": ln.Addr().String()}}
	return &runner{inst: in, cfg: cfg, device: "d", log: slog.New(slog.NewTextHandler(io.Discard, nil)), backoff: time.Second}
}

// BenchmarkPluginStart is starting a plugin process: checksum, exec,
// handshake, Describe and Configure, then stopping it. It is paid once per
// instance and after every crash.
func BenchmarkPluginStart(b *testing.B) {
	r := benchRunner(b)
	ctx := context.Background()
	for b.Loop() {
		if err := r.start(ctx); err != nil {
			b.Fatal(err)
		}
		r.kill()
	}
}

// BenchmarkProcessCollect is one check through a running plugin process:
// the tcp plugin connecting to a loopback listener, plus the host's point
// building. This is the per-interval cost of a plugin check.
func BenchmarkProcessCollect(b *testing.B) {
	r := benchRunner(b)
	ctx := context.Background()
	if err := r.start(ctx); err != nil {
		b.Fatal(err)
	}
	defer r.kill()
	rec := &recorder{}
	b.ReportAllocs()
	for b.Loop() {
		r.cycle(ctx, rec)
		rec.points = rec.points[:0]
	}
	if r.errs != 0 {
		b.Fatalf("%d errors: %v", r.errs, r.lastErr)
	}
}

package ingest

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/schulmon/schulmon/collector/store"
)

// lateStore answers its first Write with the context's error before it
// has read the rows, as the point store does when a client goes away
// while the commit is queued, and keeps the points to read them later,
// as that commit does.
type lateStore struct {
	kept  []store.Point
	calls int
}

func (s *lateStore) Write(ctx context.Context, pts []store.Point) error {
	s.calls++
	if s.calls == 1 {
		s.kept = pts
		return context.Canceled
	}
	return nil
}

// render writes points as line protocol, one line each.
func render(pts []store.Point) []string {
	var out []string
	for _, p := range pts {
		var b strings.Builder
		b.Write(p.Row.Measurement)
		for _, t := range p.Row.Tags {
			fmt.Fprintf(&b, ",%s=%s", t.Key, t.Value)
		}
		for _, f := range p.Row.Fields {
			fmt.Fprintf(&b, " %s=%v", f.Key, f.Value().Any())
		}
		fmt.Fprintf(&b, " %d", p.Row.Time)
		out = append(out, b.String())
	}
	return out
}

// TestUnfinishedWriteKeepsItsMemory: after a Write that returned before
// its commit, the request's parsed rows must stay as they were while
// other requests run (the pools must not hand them out again).
func TestUnfinishedWriteKeepsItsMemory(t *testing.T) {
	h, tokens, bodies := benchAgents(t, 2, 50)
	st := &lateStore{}
	h.store = st
	if code, msg := postBody(h, tokens[0], bodies[0], false); code != http.StatusServiceUnavailable {
		t.Fatalf("first write: %d %s, want 503", code, msg)
	}
	if len(st.kept) == 0 {
		t.Fatal("the store kept no points")
	}
	want := render(st.kept)
	for i := range 20 { // other requests take from the pools meanwhile
		if code, msg := postBody(h, tokens[1], bodies[1], i%2 == 0); code != http.StatusNoContent && !(i%2 == 0 && code == http.StatusBadRequest) {
			t.Fatalf("write %d: %d %s", i, code, msg)
		}
	}
	if got := render(st.kept); !slices.Equal(got, want) {
		t.Fatalf("rows of the unfinished write changed under it:\n got %q\nwant %q", got[:min(3, len(got))], want[:3])
	}
}

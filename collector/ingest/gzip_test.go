package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/schulmon/schulmon/collector/store"
)

// linesStore keeps the stored points as line protocol, per device.
type linesStore struct {
	mu    sync.Mutex
	lines map[string][]string
}

func (s *linesStore) Write(_ context.Context, pts []store.Point) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, line := range render(pts) {
		s.lines[pts[i].Site] = append(s.lines[pts[i].Site], line)
	}
	return nil
}

func (s *linesStore) take(site string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.lines[site]
	delete(s.lines, site)
	return l
}

func postBody(h http.Handler, token string, body []byte, gz bool) (int, string) {
	req := httptest.NewRequest(http.MethodPost, "/api/v2/write?precision=ns", bytes.NewReader(body))
	req.Header.Set("Authorization", "Token "+token)
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	var e apiError
	_ = json.Unmarshal(w.Body.Bytes(), &e)
	return w.Code, e.Message
}

// badGzip are bodies that are not valid gzip, with the error that a new
// gzip reader gives for them.
func badGzip(good []byte) map[string]struct {
	body []byte
	msg  string
} {
	badSum := bytes.Clone(good)
	badSum[len(badSum)-8] ^= 0xff // CRC-32 of the trailer
	badFlate := bytes.Clone(good)
	for i := 20; i < 40; i++ {
		badFlate[i] = 0xff
	}
	out := map[string]struct {
		body []byte
		msg  string
	}{}
	for name, b := range map[string][]byte{
		"no gzip": []byte("not gzip at all"), "empty": nil, "truncated": good[:len(good)-6],
		"checksum": badSum, "broken flate": badFlate,
	} {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err == nil {
			_, err = io.ReadAll(zr)
		}
		if err == nil {
			panic(name + " is valid gzip")
		}
		out[name] = struct {
			body []byte
			msg  string
		}{b, err.Error()}
	}
	return out
}

// TestGzipReaderReuse: the gzip readers are pooled; one that decoded a
// broken body (bad header, truncated, bad checksum, corrupt data) must
// still decode the next good body exactly, and the broken ones get the
// same 400 answers as with a new reader per request.
func TestGzipReaderReuse(t *testing.T) {
	h, tokens, bodies := benchAgents(t, 2, 50)
	st := &linesStore{lines: map[string][]string{}}
	h.store = st
	site := h.dir.(*benchDir).principals[tokens[0]].WriteSite.Name

	// What an uncompressed write stores is the reference.
	if code, msg := postBody(h, tokens[0], bodies[0], false); code != http.StatusNoContent {
		t.Fatalf("plain write: %d %s", code, msg)
	}
	want := st.take(site)
	if len(want) != 50 {
		t.Fatalf("plain write stored %d points, want 50", len(want))
	}
	good := gzipBody(t, bodies[0])
	for round := range 20 { // the pool may hand out other readers; try often
		for name, bad := range badGzip(good) {
			code, msg := postBody(h, tokens[0], bad.body, true)
			if code != http.StatusBadRequest || !strings.Contains(msg, "body is not valid gzip") && !strings.Contains(msg, "read request body") || !strings.HasSuffix(msg, bad.msg) {
				t.Fatalf("round %d, %s: %d %q, want 400 ending %q", round, name, code, msg, bad.msg)
			}
			if n := len(st.take(site)); n != 0 {
				t.Fatalf("round %d, %s: %d points stored", round, name, n)
			}
			if code, msg := postBody(h, tokens[0], good, true); code != http.StatusNoContent {
				t.Fatalf("round %d: good body after %s: %d %s", round, name, code, msg)
			}
			if got := st.take(site); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("round %d: good body after %s stored\n%s\nwant\n%s", round, name, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		}
	}
}

// TestGzipConcurrentWrites: concurrent gzip writes, good and broken,
// each store exactly their own points (run with -race).
func TestGzipConcurrentWrites(t *testing.T) {
	const agents = 8
	h, tokens, bodies := benchAgents(t, agents, 50)
	st := &linesStore{lines: map[string][]string{}}
	h.store = st
	sites := make([]string, agents)
	want := make([][]string, agents)
	gz := make([][]byte, agents)
	for i := range agents {
		sites[i] = h.dir.(*benchDir).principals[tokens[i]].WriteSite.Name
		if code, msg := postBody(h, tokens[i], bodies[i], false); code != http.StatusNoContent {
			t.Fatalf("plain write: %d %s", code, msg)
		}
		want[i] = st.take(sites[i])
		gz[i] = gzipBody(t, bodies[i])
	}
	var wg sync.WaitGroup
	errs := make(chan error, agents)
	for i := range agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bad := badGzip(gz[i])
			for round := range 30 {
				for _, b := range bad {
					if code, _ := postBody(h, tokens[i], b.body, true); code != http.StatusBadRequest {
						errs <- fmt.Errorf("agent %d round %d: broken body got %d", i, round, code)
						return
					}
					if code, msg := postBody(h, tokens[i], gz[i], true); code != http.StatusNoContent {
						errs <- fmt.Errorf("agent %d round %d: %d %s", i, round, code, msg)
						return
					}
					if got := st.take(sites[i]); strings.Join(got, "\n") != strings.Join(want[i], "\n") {
						errs <- fmt.Errorf("agent %d round %d stored\n%s\nwant\n%s", i, round, strings.Join(got, "\n"), strings.Join(want[i], "\n"))
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

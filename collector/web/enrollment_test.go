package web_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/internal/testenv"
)

var enrollCommand = regexp.MustCompile(`<code id="enroll-command">([^<]*)</code>`)

// TestEnrollmentPageCommandWorks takes the enroll command the page shows
// with a new token and runs it, word for word, with the real agent
// binary: the flags must be the agent's, and the URL and token must
// enroll it at this collector.
func TestEnrollmentPageCommandWorks(t *testing.T) {
	e := newEnv(t)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	if resp := postLogin(t, c, e.URL, "olga", pwOperator); resp.StatusCode != http.StatusOK {
		t.Fatalf("login: HTTP %d", resp.StatusCode)
	}
	page := func(resp *http.Response, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: HTTP %d:\n%s", resp.Request.URL, resp.StatusCode, b)
		}
		return string(b)
	}
	m := csrfField.FindStringSubmatch(page(c.Get(e.URL + "/admin/enrollment")))
	if m == nil {
		t.Fatal("enrollment page without CSRF field")
	}
	body := page(c.PostForm(e.URL+"/admin/enrollment", url.Values{"csrf": {m[1]}, "site": {"gs-nord"}, "ttl": {"1h"}, "max_uses": {"1"}}))
	cm := enrollCommand.FindStringSubmatch(body)
	if cm == nil {
		t.Fatalf("no enroll command on the page after creating a token:\n%s", body)
	}
	words := strings.Fields(html.UnescapeString(cm[1]))
	if len(words) < 2 || words[0] != "schulmon-agent" || words[1] != "enroll" {
		t.Fatalf("shown command %q is not 'schulmon-agent enroll …'", words)
	}

	stateDir := filepath.Join(t.TempDir(), "agent")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := append(words[1:], "--state-dir", stateDir, "--device", "srv-gs-nord")
	out, err := exec.CommandContext(ctx, filepath.Join(testenv.Binaries(t), "schulmon-agent"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("the command the page shows failed: schulmon-agent %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if !strings.Contains(string(out), "enrolled for site gs-nord") {
		t.Errorf("enroll output:\n%s", out)
	}
	tok, err := os.ReadFile(filepath.Join(stateDir, "token"))
	if err != nil {
		t.Fatalf("no token stored: %v\n%s", err, out)
	}
	// The stored token writes for the school it was enrolled for.
	req, _ := http.NewRequest(http.MethodPost, e.URL+"/api/v2/write", strings.NewReader("schulmon_agent uptime_s=1i\n"))
	req.Header.Set("Authorization", "Token "+strings.TrimSpace(string(tok)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("write with the enrolled token: HTTP %d", resp.StatusCode)
	}
}

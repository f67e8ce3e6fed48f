package channels_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/alerting"
	"github.com/schulmon/schulmon/collector/alerting/channels"
	"github.com/schulmon/schulmon/collector/availability"
	"github.com/schulmon/schulmon/collector/sqlitedb"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func need(t *testing.T, path, pkg string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("SCHULMON_QUICK") == "1" {
			t.Skipf("%s missing (SCHULMON_QUICK=1)", path)
		}
		t.Fatalf("%s not found: run make deps (Debian package %s), or set SCHULMON_QUICK=1 to skip", path, pkg)
	}
}

func start(t *testing.T, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
}

func waitTCP(t *testing.T, addr string) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s does not listen", addr)
}

var t0 = time.Date(2026, 11, 4, 8, 15, 0, 0, time.UTC)

func downAlert(id int64, site, dev string) alerting.Alert {
	return alerting.Alert{Key: fmt.Sprintf("down:%d", id), Kind: alerting.KindDeviceDown, Status: alerting.StatusFiring, Severity: "critical",
		Municipality: "Moers", Site: site, Device: dev, Class: "switch", ObjectID: id, Cause: "snmp_timeout", Start: t0, At: t0.Add(time.Minute),
		AffectedChildren: []string{"ap-1", "ap-2"}}
}

func recovered(a alerting.Alert) alerting.Alert {
	end := t0.Add(17 * time.Minute)
	a.Key, a.Kind, a.Status, a.Severity = strings.Replace(a.Key, "down", "recovered", 1), alerting.KindDeviceRecovered, alerting.StatusResolved, "info"
	a.End, a.DurationSeconds, a.At = &end, 17*60, end
	return a
}

// TestAlertmanagerReal sends a down alert and its recovery to a real
// prometheus-alertmanager and reads its alert list back.
func TestAlertmanagerReal(t *testing.T) {
	need(t, "/usr/bin/prometheus-alertmanager", "prometheus-alertmanager")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "am.yml")
	if err := os.WriteFile(cfg, []byte("route:\n  receiver: blackhole\n  group_wait: 1s\nreceivers:\n  - name: blackhole\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	start(t, "/usr/bin/prometheus-alertmanager", "--config.file="+cfg, "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--cluster.listen-address=")
	waitTCP(t, addr)
	base := "http://" + addr
	for i := 0; ; i++ {
		resp, err := http.Get(base + "/-/ready")
		if err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			break
		}
		if i > 100 {
			t.Fatalf("alertmanager not ready: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	now := time.Now()
	b, err := (&channels.Config{Lang: "de", PublicURL: "https://monitor.example.org", Alertmanager: []channels.AlertmanagerConfig{{Name: "am", URL: base}}}).Build(func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	am := b.Notifiers[0]
	ctx := context.Background()
	// Alertmanager drops alerts whose endsAt lies in the past: use now.
	a := downAlert(42, "gs-nord", "sw-1")
	a.Start, a.At = now.Add(-time.Minute), now
	if err := am.Notify(ctx, a); err != nil {
		t.Fatal(err)
	}
	type amAlert struct {
		Labels       map[string]string      `json:"labels"`
		Annotations  map[string]string      `json:"annotations"`
		Status       struct{ State string } `json:"status"`
		GeneratorURL string                 `json:"generatorURL"`
	}
	list := func() []amAlert {
		resp, err := http.Get(base + "/api/v2/alerts")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out []amAlert
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	got := list()
	if len(got) != 1 {
		t.Fatalf("alertmanager holds %d alerts, want 1: %+v", len(got), got)
	}
	l := got[0].Labels
	if l["alertname"] != "SchulmonDown" || l["site"] != "gs-nord" || l["device"] != "sw-1" || l["severity"] != "critical" || l["municipality"] != "Moers" {
		t.Errorf("labels %v", l)
	}
	if s := got[0].Annotations["summary"]; !strings.Contains(s, "AUSFALL") || !strings.Contains(got[0].Annotations["description"], "SNMP-Abfrage ohne Antwort") {
		t.Errorf("annotations %v", got[0].Annotations)
	}
	if got[0].Status.State != "active" || got[0].GeneratorURL != "https://monitor.example.org/sites/gs-nord/devices/sw-1" {
		t.Errorf("state %q, generatorURL %q", got[0].Status.State, got[0].GeneratorURL)
	}
	// Re-sending firing alerts keeps the same alert (deduplicated by labels).
	if err := b.Background[0].Resend(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(list()); n != 1 {
		t.Errorf("after resend: %d alerts", n)
	}
	// The recovery resolves it: same labels, endsAt in the past.
	r := recovered(a)
	end := now.Add(-time.Second)
	r.End, r.At = &end, now
	if err := am.Notify(ctx, r); err != nil {
		t.Fatal(err)
	}
	if got := list(); len(got) != 0 {
		t.Errorf("after recovery alertmanager still lists %+v", got)
	}
}

func selfSignedCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// smtpServer starts aiosmtpd with STARTTLS required, storing mails in a
// Maildir.
func smtpServer(t *testing.T) (port int, caFile, maildir string) {
	t.Helper()
	need(t, "/usr/bin/python3", "python3")
	if err := exec.Command("/usr/bin/python3", "-c", "import aiosmtpd").Run(); err != nil {
		if os.Getenv("SCHULMON_QUICK") == "1" {
			t.Skip("python3-aiosmtpd missing (SCHULMON_QUICK=1)")
		}
		t.Fatal("python3 module aiosmtpd not found: run make deps (Debian package python3-aiosmtpd), or set SCHULMON_QUICK=1 to skip")
	}
	dir := t.TempDir()
	cert, key := selfSignedCert(t, dir)
	maildir = filepath.Join(dir, "Maildir")
	port = freePort(t)
	start(t, "/usr/bin/python3", "-m", "aiosmtpd", "-n", "-l", fmt.Sprintf("127.0.0.1:%d", port), "--tlscert", cert, "--tlskey", key,
		"-c", "aiosmtpd.handlers.Mailbox", maildir)
	waitTCP(t, fmt.Sprintf("127.0.0.1:%d", port))
	return port, cert, maildir
}

type received struct {
	Subject, Body string
	Header        mail.Header
}

func readMaildir(t *testing.T, maildir string, want int) []received {
	t.Helper()
	var files []string
	for i := 0; i < 100; i++ {
		files, _ = filepath.Glob(filepath.Join(maildir, "new", "*"))
		if len(files) >= want {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var out []received
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(fh)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(quotedprintable.NewReader(m.Body))
		fh.Close()
		subj, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
		out = append(out, received{Subject: subj, Body: string(body), Header: m.Header})
	}
	return out
}

// TestEmailSTARTTLSReal delivers through the alerting manager to a real
// SMTP server that requires STARTTLS: one mail for the outage, one for
// the recovery, none for a duplicate, none during maintenance, none for
// another municipality's school.
func TestEmailSTARTTLSReal(t *testing.T) {
	port, ca, maildir := smtpServer(t)
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	b, err := (&channels.Config{Lang: "both", Email: []channels.EmailConfig{{Name: "it-moers", Host: "127.0.0.1", Port: port, CAFile: ca,
		From: "schulmon@rz.example", To: []string{"it@moers.example"}, Route: channels.Route{Municipalities: []string{"Moers"}}}}}).Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := alerting.New(ctx, db, alerting.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Backoff: time.Millisecond}, nil, b.Notifiers...)
	if err != nil {
		t.Fatal(err)
	}
	obj := availability.Object{ID: 7, Municipality: "Moers", Site: "gs-nord", Device: "sw-1", Class: "switch", Critical: true}
	span := availability.Span{ID: 100, ObjectID: 7, State: availability.StateDown, Cause: availability.CauseSNMPTimeout, Start: t0.UnixMilli()}
	down := availability.Event{Kind: availability.EventDown, Object: obj, Span: span, At: t0}
	mgr.HandleEvents(ctx, []availability.Event{down, down}) // the second is a duplicate
	// During maintenance: nothing.
	obj2 := obj
	obj2.ID, obj2.Device = 8, "sw-2"
	mgr.HandleEvents(ctx, []availability.Event{{Kind: availability.EventDown, Object: obj2, Span: availability.Span{ID: 101, ObjectID: 8, Start: t0.UnixMilli()}, At: t0, Maintenance: true}})
	// Another municipality: not routed to this channel.
	obj3 := availability.Object{ID: 9, Municipality: "Kamp-Lintfort", Site: "gs-sued", Device: "sw-9", Class: "switch"}
	mgr.HandleEvents(ctx, []availability.Event{{Kind: availability.EventDown, Object: obj3, Span: availability.Span{ID: 102, ObjectID: 9, Start: t0.UnixMilli()}, At: t0}})
	span.End = t0.Add(17 * time.Minute).UnixMilli()
	mgr.HandleEvents(ctx, []availability.Event{{Kind: availability.EventRecovered, Object: obj, Span: span, At: t0.Add(17 * time.Minute)}})
	for i := 0; i < 3; i++ {
		if _, err := mgr.Deliver(ctx); err != nil {
			t.Fatal(err)
		}
	}
	mails := readMaildir(t, maildir, 2)
	if len(mails) != 2 {
		for _, m := range mails {
			t.Logf("mail: %s", m.Subject)
		}
		t.Fatalf("got %d mails, want 2 (outage and recovery)", len(mails))
	}
	var subjects []string
	for _, m := range mails {
		subjects = append(subjects, m.Subject)
	}
	all := strings.Join(subjects, "\n")
	if !strings.Contains(all, "[schulmon] AUSFALL: gs-nord/sw-1 (Moers)") || !strings.Contains(all, "[schulmon] WIEDER ERREICHBAR: gs-nord/sw-1 (Moers)") {
		t.Errorf("subjects:\n%s", all)
	}
	for _, m := range mails {
		if strings.Contains(m.Subject, "AUSFALL") {
			for _, want := range []string{"Gerät sw-1 am Standort gs-nord (Moers) ist seit 04.11.2026 09:15 Uhr ausgefallen", "Device sw-1 at site gs-nord (Moers) is down since"} {
				if !strings.Contains(m.Body, want) {
					t.Errorf("outage mail lacks %q:\n%s", want, m.Body)
				}
			}
			if m.Header.Get("X-Schulmon-Alert") != "down:100" || m.Header.Get("Auto-Submitted") != "auto-generated" {
				t.Errorf("headers %v", m.Header)
			}
		} else if !strings.Contains(m.Body, "nach 17 Min. 0 Sek. Ausfall") {
			t.Errorf("recovery mail:\n%s", m.Body)
		}
	}
}

// TestEmailRefusesPlainText: with starttls required, a server without
// STARTTLS gets nothing (a permanent failure, not endless retries).
func TestEmailRefusesPlainText(t *testing.T) {
	need(t, "/usr/bin/python3", "python3")
	if err := exec.Command("/usr/bin/python3", "-c", "import aiosmtpd").Run(); err != nil {
		if os.Getenv("SCHULMON_QUICK") == "1" {
			t.Skip("python3-aiosmtpd missing")
		}
		t.Fatal("python3 module aiosmtpd not found: run make deps")
	}
	dir := t.TempDir()
	port := freePort(t)
	start(t, "/usr/bin/python3", "-m", "aiosmtpd", "-n", "-l", fmt.Sprintf("127.0.0.1:%d", port), "-c", "aiosmtpd.handlers.Mailbox", filepath.Join(dir, "md"))
	waitTCP(t, fmt.Sprintf("127.0.0.1:%d", port))
	e, err := channels.NewEmail(channels.EmailConfig{Host: "127.0.0.1", Port: port, From: "a@b.example", To: []string{"c@d.example"}}, channels.Messages{})
	if err != nil {
		t.Fatal(err)
	}
	err = e.Notify(context.Background(), downAlert(1, "gs-nord", "sw-1"))
	var perm *alerting.PermanentError
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") || !errorsAs(err, &perm) {
		t.Fatalf("plain-text server: %v", err)
	}
	// Opportunistic sends without TLS.
	e, _ = channels.NewEmail(channels.EmailConfig{Host: "127.0.0.1", Port: port, StartTLS: "opportunistic", From: "a@b.example", To: []string{"c@d.example"}}, channels.Messages{Lang: "en"})
	if err := e.Notify(context.Background(), downAlert(1, "gs-nord", "sw-1")); err != nil {
		t.Fatal(err)
	}
	if m := readMaildir(t, filepath.Join(dir, "md"), 1); len(m) != 1 || !strings.HasPrefix(m[0].Subject, "[schulmon] DOWN: gs-nord/sw-1") {
		t.Errorf("mails %+v", m)
	}
}

func errorsAs(err error, target **alerting.PermanentError) bool {
	for err != nil {
		if p, ok := err.(*alerting.PermanentError); ok {
			*target = p
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

type capture struct {
	mu     sync.Mutex
	bodies []map[string]any
	paths  []string
	auth   []string
	status int
}

func (c *capture) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var m map[string]any
	_ = json.NewDecoder(r.Body).Decode(&m)
	c.mu.Lock()
	c.bodies, c.paths, c.auth = append(c.bodies, m), append(c.paths, r.Method+" "+r.URL.Path), append(c.auth, r.Header.Get("Authorization"))
	st := c.status
	c.mu.Unlock()
	if st != 0 {
		w.WriteHeader(st)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func TestTeamsAndMatrixPayloads(t *testing.T) {
	teams, hook, room := &capture{}, &capture{}, &capture{}
	ts, hs, rs := httptest.NewServer(teams), httptest.NewServer(hook), httptest.NewServer(room)
	defer ts.Close()
	defer hs.Close()
	defer rs.Close()
	tokenFile := filepath.Join(t.TempDir(), "tok")
	os.WriteFile(tokenFile, []byte("syt_secret\n"), 0o600)
	b, err := (&channels.Config{Lang: "en", Teams: []channels.TeamsConfig{{Name: "teams", URL: ts.URL, Route: channels.Route{MinSeverity: "critical", Lang: "de"}}},
		Matrix: []channels.MatrixConfig{{Name: "hook", URL: hs.URL}, {Name: "room", Homeserver: rs.URL, RoomID: "!abc:example.org", AccessTokenFile: tokenFile}}}).Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	warn := downAlert(5, "gs-nord", "ap-3")
	warn.Severity, warn.Key = "warning", "down:5"
	for _, n := range b.Notifiers {
		for _, a := range []alerting.Alert{downAlert(1, "gs-nord", "sw-1"), warn} {
			if err := n.Notify(ctx, a); err != nil {
				t.Fatalf("%s: %v", n.Name(), err)
			}
		}
	}
	// Teams routes only critical alerts, in German, as an Adaptive Card.
	if len(teams.bodies) != 1 {
		t.Fatalf("teams got %d posts, want 1 (min_severity critical)", len(teams.bodies))
	}
	card, _ := json.Marshal(teams.bodies[0])
	for _, want := range []string{`"type":"message"`, "application/vnd.microsoft.card.adaptive", "AUSFALL: gs-nord/sw-1", `"color":"Attention"`, "Schulträger"} {
		if !strings.Contains(string(card), want) {
			t.Errorf("teams card lacks %s: %s", want, card)
		}
	}
	if len(hook.bodies) != 2 || !strings.Contains(hook.bodies[0]["text"].(string), "DOWN: gs-nord/sw-1") || !strings.Contains(hook.bodies[0]["html"].(string), "<strong>") {
		t.Errorf("matrix webhook got %v", hook.bodies)
	}
	if len(room.paths) != 2 || !strings.HasPrefix(room.paths[0], "PUT /_matrix/client/v3/rooms/!abc:example.org/send/m.room.message/schulmon-") || room.auth[0] != "Bearer syt_secret" {
		t.Errorf("matrix room got %v %v", room.paths, room.auth)
	}
	if room.paths[0] == room.paths[1] {
		t.Error("two alerts share a Matrix transaction id")
	}
	// The same alert again uses the same transaction id: the homeserver
	// drops the repeat.
	before := room.paths[0]
	_ = b.Notifiers[2].Notify(ctx, downAlert(1, "gs-nord", "sw-1"))
	if room.paths[2] != before {
		t.Errorf("repeated delivery: txn %s, first %s", room.paths[2], before)
	}
	// A 400 is permanent, a 503 is retried.
	teams.status = http.StatusBadRequest
	var perm *alerting.PermanentError
	if err := b.Notifiers[0].Notify(ctx, downAlert(1, "gs-nord", "sw-1")); !errorsAs(err, &perm) {
		t.Errorf("HTTP 400: %v, want a permanent error", err)
	}
	teams.status = http.StatusServiceUnavailable
	if err := b.Notifiers[0].Notify(ctx, downAlert(1, "gs-nord", "sw-1")); err == nil || errorsAs(err, &perm) {
		t.Errorf("HTTP 503: %v, want a retryable error", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  channels.Config
		want string
	}{
		{channels.Config{Lang: "fr"}, "use de, en or both"},
		{channels.Config{Email: []channels.EmailConfig{{Host: "smtp", From: "x@y.example"}}}, "to: name at least one recipient"},
		{channels.Config{Email: []channels.EmailConfig{{Host: "smtp", From: "x@y.example", To: []string{"a@b.example"}, StartTLS: "maybe"}}}, "starttls"},
		{channels.Config{Teams: []channels.TeamsConfig{{URL: "ftp://x"}}}, "not an absolute http(s) URL"},
		{channels.Config{Matrix: []channels.MatrixConfig{{Homeserver: "https://m.example", RoomID: "#room:example"}}}, "internal id"},
		{channels.Config{Alertmanager: []channels.AlertmanagerConfig{{URL: "http://a:9093", Route: channels.Route{MinSeverity: "urgent"}}}}, "min_severity"},
		{channels.Config{Teams: []channels.TeamsConfig{{Name: "x", URL: "https://a"}, {Name: "x", URL: "https://b"}}}, "two channels named"},
	} {
		err := c.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
}

package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/plugins/sdk"
)

func check(t *testing.T, cfg string) *sdk.Result {
	t.Helper()
	c := &httpCheck{}
	if err := c.Configure(context.Background(), "t", []byte(cfg)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := c.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func field(r *sdk.Result, key string) any {
	for _, f := range r.Fields {
		if f.Key == key {
			return f.Value.Any()
		}
	}
	return nil
}

func TestHTTPStatusAndRedirects(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/old":
			http.Redirect(w, r, "/login", http.StatusFound)
		case "/login":
			w.Write([]byte("Anmeldung"))
		default:
			http.Error(w, "kaputt", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()

	res := check(t, `{"url":"`+srv.URL+`/down"}`)
	if res.Status != sdk.StatusCritical || field(res, "http_status_code") != int64(503) || !strings.Contains(res.Message, "status 503 not expected") {
		t.Errorf("503: %v %q", res.Status, res.Message)
	}
	res = check(t, `{"url":"`+srv.URL+`/down","expect_status":[503]}`)
	if res.Status != sdk.StatusOK {
		t.Errorf("503 expected: %v %q", res.Status, res.Message)
	}
	res = check(t, `{"url":"`+srv.URL+`/old","contains":"Anmeldung"}`)
	if res.Status != sdk.StatusOK || field(res, "http_status_code") != int64(200) || field(res, "content_match") != true {
		t.Errorf("redirect followed: %v %q %+v", res.Status, res.Message, res.Fields)
	}
	res = check(t, `{"url":"`+srv.URL+`/old","follow_redirects":false,"expect_status":[302]}`)
	if res.Status != sdk.StatusOK || field(res, "http_status_code") != int64(302) {
		t.Errorf("redirect not followed: %v %q", res.Status, res.Message)
	}
	if field(res, "cert_days_left") != nil {
		t.Errorf("plain http has no certificate: %+v", res.Fields)
	}
}

func TestHTTPUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	res := check(t, `{"url":"`+url+`"}`)
	if res.Status != sdk.StatusCritical || !strings.Contains(res.Message, "connection refused") {
		t.Errorf("closed port: %v %q", res.Status, res.Message)
	}
}

func TestHTTPConfigErrors(t *testing.T) {
	for cfg, want := range map[string]string{
		`{}`:                                     `url "": want an absolute http:// or https:// URL`,
		`{"url":"ftp://x"}`:                      `url "ftp://x"`,
		`{"url":"http://x","expect_status":[9]}`: "expect_status 9",
		`{"url":"http://x","cert_warn_days":5,"cert_crit_days":9}`: "cert_crit_days is larger",
		`{"url":"http://x","ca_file":"/nonexistent.pem"}`:          "ca_file",
		`{"url":"http://x","contain":"y"}`:                         `unknown field "contain"`,
	} {
		err := (&httpCheck{}).Configure(context.Background(), "t", []byte(cfg))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", cfg, err, want)
		}
	}
}

// Command schulmon-plugin-http is a schulmon check plugin for web services
// (the school's learning platform, the municipality's portals): HTTP status
// code, response time, optional content match and the days left on the TLS
// certificate.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/schulmon/schulmon/metric"
	"github.com/schulmon/schulmon/plugins/sdk"
)

//go:embed sample.yaml
var sampleConfig string

// maxBody bounds how much of the body is searched for the content match.
const maxBody = 1 << 20

type config struct {
	URL                string            `json:"url"`
	Method             string            `json:"method"`        // default GET
	Headers            map[string]string `json:"headers"`       // e.g. Host, Authorization
	ExpectStatus       []int             `json:"expect_status"` // default: any 2xx or 3xx
	Contains           string            `json:"contains"`      // the body must contain this
	FollowRedirects    *bool             `json:"follow_redirects"`
	CAFile             string            `json:"ca_file"` // PEM, for a municipality's own CA
	InsecureSkipVerify bool              `json:"insecure_skip_verify"`
	CertWarnDays       *float64          `json:"cert_warn_days"` // default 30
	CertCritDays       *float64          `json:"cert_crit_days"` // default 7
	WarnLatency        sdk.Duration      `json:"warn_latency"`
	CritLatency        sdk.Duration      `json:"crit_latency"`
}

type httpCheck struct {
	cfg                config
	client             *http.Client
	warnDays, critDays float64
}

func (c *httpCheck) Describe(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "http", Version: metric.Version,
		Description:  "HTTP(S) status code, response time, content match, TLS certificate days left",
		SampleConfig: sampleConfig}, nil
}

func (c *httpCheck) Configure(_ context.Context, _ string, raw []byte) error {
	var cfg config
	if err := sdk.DecodeConfig(raw, &cfg); err != nil {
		return err
	}
	u, err := url.Parse(cfg.URL)
	if cfg.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("config: url %q: want an absolute http:// or https:// URL", cfg.URL)
	}
	if cfg.Method == "" {
		cfg.Method = http.MethodGet
	}
	for _, s := range cfg.ExpectStatus {
		if s < 100 || s > 599 {
			return fmt.Errorf("config: expect_status %d: want HTTP status codes 100..599", s)
		}
	}
	c.warnDays, c.critDays = 30, 7
	if cfg.CertWarnDays != nil {
		c.warnDays = *cfg.CertWarnDays
	}
	if cfg.CertCritDays != nil {
		c.critDays = *cfg.CertCritDays
	}
	if c.critDays > c.warnDays {
		return errors.New("config: cert_crit_days is larger than cert_warn_days")
	}
	tlsCfg := &tls.Config{InsecureSkipVerify: cfg.InsecureSkipVerify} //nolint:gosec // the user asked for it, e.g. for self-signed appliances
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return fmt.Errorf("config: ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("config: ca_file %s: no PEM certificate found", cfg.CAFile)
		}
		tlsCfg.RootCAs = pool
	}
	tr := &http.Transport{TLSClientConfig: tlsCfg, Proxy: http.ProxyFromEnvironment, DisableKeepAlives: true}
	c.client = &http.Client{Transport: tr}
	if cfg.FollowRedirects != nil && !*cfg.FollowRedirects {
		c.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	c.cfg = cfg
	return nil
}

func (c *httpCheck) Collect(ctx context.Context) (*sdk.Result, error) {
	if c.client == nil {
		return nil, errors.New("not configured")
	}
	req, err := http.NewRequestWithContext(ctx, c.cfg.Method, c.cfg.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("User-Agent", "schulmon-plugin-http/"+metric.Version)
	for k, v := range c.cfg.Headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	res := &sdk.Result{Status: sdk.StatusOK}
	start := time.Now()
	resp, err := c.client.Do(req)
	if err != nil {
		res.Status = sdk.StatusCritical
		res.Message = fmt.Sprintf("%s %s: %v", c.cfg.Method, c.cfg.URL, err)
		return res, nil
	}
	defer resp.Body.Close()
	var body []byte
	if c.cfg.Contains != "" {
		body, err = io.ReadAll(io.LimitReader(resp.Body, maxBody))
	} else {
		_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	}
	took := time.Since(start)
	res.AddField("http_status_code", metric.Int(int64(resp.StatusCode)))
	res.AddField("response_time_s", metric.Float(took.Seconds()))
	var problems []string
	worse := func(s sdk.Status, format string, args ...any) {
		res.Status = sdk.Worse(res.Status, s)
		problems = append(problems, fmt.Sprintf(format, args...))
	}
	if err != nil {
		worse(sdk.StatusCritical, "reading body: %v", err)
	}
	if !c.statusOK(resp.StatusCode) {
		worse(sdk.StatusCritical, "status %d not expected", resp.StatusCode)
	}
	if c.cfg.Contains != "" {
		match := strings.Contains(string(body), c.cfg.Contains)
		res.AddField("content_match", metric.Bool(match))
		if !match {
			worse(sdk.StatusCritical, "body does not contain %q", c.cfg.Contains)
		}
	}
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		// The first certificate to expire among those the server sends:
		// an expired intermediate breaks clients as surely as the leaf.
		first := resp.TLS.PeerCertificates[0]
		for _, cert := range resp.TLS.PeerCertificates[1:] {
			if cert.NotAfter.Before(first.NotAfter) {
				first = cert
			}
		}
		days := time.Until(first.NotAfter).Hours() / 24
		res.AddField("cert_days_left", metric.Float(math.Round(days*100)/100))
		res.AddField("cert_not_after", metric.Int(first.NotAfter.Unix()))
		which := "certificate"
		if first != resp.TLS.PeerCertificates[0] {
			which = fmt.Sprintf("intermediate certificate %q", first.Subject.CommonName)
		}
		switch {
		case days < c.critDays:
			worse(sdk.StatusCritical, "%s expires in %.0f days (%s)", which, days, first.NotAfter.UTC().Format(time.DateOnly))
		case days < c.warnDays:
			worse(sdk.StatusWarning, "%s expires in %.0f days (%s)", which, days, first.NotAfter.UTC().Format(time.DateOnly))
		}
	}
	switch {
	case c.cfg.CritLatency > 0 && took > c.cfg.CritLatency.D():
		worse(sdk.StatusCritical, "response time %s over %s", took.Round(time.Millisecond), c.cfg.CritLatency.D())
	case c.cfg.WarnLatency > 0 && took > c.cfg.WarnLatency.D():
		worse(sdk.StatusWarning, "response time %s over %s", took.Round(time.Millisecond), c.cfg.WarnLatency.D())
	}
	res.Message = fmt.Sprintf("HTTP %d in %s", resp.StatusCode, took.Round(time.Millisecond))
	if len(problems) > 0 {
		res.Message += ": " + strings.Join(problems, "; ")
	}
	return res, nil
}

func (c *httpCheck) statusOK(code int) bool {
	if len(c.cfg.ExpectStatus) == 0 {
		return code >= 200 && code < 400
	}
	for _, s := range c.cfg.ExpectStatus {
		if s == code {
			return true
		}
	}
	return false
}

func main() { sdk.Serve(&httpCheck{}) }

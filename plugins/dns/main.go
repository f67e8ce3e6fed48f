// Command schulmon-plugin-dns is a schulmon check plugin: does a given DNS
// server resolve a name, with the expected answer, and how fast? Schools
// depend on the municipality's resolvers and on their own split-horizon
// names (the learning platform, the print server).
package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/schulmon/schulmon/metric"
	"github.com/schulmon/schulmon/plugins/sdk"
)

//go:embed sample.yaml
var sampleConfig string

type config struct {
	Server    string       `json:"server"`    // host or host:port; default port 53
	Name      string       `json:"name"`      // the name to resolve
	Type      string       `json:"type"`      // A (default), AAAA, MX, CNAME, TXT, NS, SRV, PTR, SOA
	Expect    []string     `json:"expect"`    // every entry must be one of the answers (e.g. an IP address)
	Transport string       `json:"transport"` // udp (default) or tcp
	WarnTime  sdk.Duration `json:"warn_time"`
	CritTime  sdk.Duration `json:"crit_time"`
}

type dnsCheck struct {
	cfg   config
	qtype uint16
}

func (c *dnsCheck) Describe(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "dns", Version: metric.Version,
		Description: "DNS resolution against a given server, answer match, response time", SampleConfig: sampleConfig}, nil
}

func (c *dnsCheck) Configure(_ context.Context, _ string, raw []byte) error {
	var cfg config
	if err := sdk.DecodeConfig(raw, &cfg); err != nil {
		return err
	}
	if cfg.Server == "" {
		return errors.New("config: server missing (the DNS server to ask, e.g. 10.1.0.53 or 10.1.0.53:53)")
	}
	if _, _, err := net.SplitHostPort(cfg.Server); err != nil {
		cfg.Server = net.JoinHostPort(cfg.Server, "53")
	}
	if cfg.Name == "" {
		return errors.New("config: name missing (the name to resolve, e.g. moodle.schule.example)")
	}
	if cfg.Type == "" {
		cfg.Type = "A"
	}
	qt, ok := dns.StringToType[strings.ToUpper(cfg.Type)]
	if !ok {
		return fmt.Errorf("config: type %q: want a DNS record type such as A, AAAA, MX, CNAME, TXT", cfg.Type)
	}
	switch cfg.Transport {
	case "":
		cfg.Transport = "udp"
	case "udp", "tcp":
	default:
		return fmt.Errorf("config: transport %q: want udp or tcp", cfg.Transport)
	}
	c.cfg, c.qtype = cfg, qt
	return nil
}

func (c *dnsCheck) Collect(ctx context.Context) (*sdk.Result, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(c.cfg.Name), c.qtype)
	m.RecursionDesired = true
	client := &dns.Client{Net: c.cfg.Transport}
	res := &sdk.Result{Status: sdk.StatusOK}
	start := time.Now()
	in, _, err := client.ExchangeContext(ctx, m, c.cfg.Server)
	took := time.Since(start)
	q := fmt.Sprintf("%s %s @%s", c.cfg.Name, strings.ToUpper(c.cfg.Type), c.cfg.Server)
	if err != nil {
		res.Status = sdk.StatusCritical
		res.Message = fmt.Sprintf("%s: %v", q, err)
		return res, nil
	}
	res.AddField("response_time_s", metric.Float(took.Seconds()))
	res.AddField("rcode", metric.String(dns.RcodeToString[in.Rcode]))
	var answers []string
	for _, rr := range in.Answer {
		if rr.Header().Rrtype != c.qtype {
			continue // e.g. the CNAME chain in front of an A record
		}
		answers = append(answers, strings.TrimSpace(strings.TrimPrefix(rr.String(), rr.Header().String())))
	}
	res.AddField("answer_count", metric.Int(int64(len(answers))))
	var problems []string
	worse := func(s sdk.Status, format string, args ...any) {
		res.Status = sdk.Worse(res.Status, s)
		problems = append(problems, fmt.Sprintf(format, args...))
	}
	switch {
	case in.Rcode != dns.RcodeSuccess:
		worse(sdk.StatusCritical, "rcode %s", dns.RcodeToString[in.Rcode])
	case len(answers) == 0:
		worse(sdk.StatusCritical, "no %s record", strings.ToUpper(c.cfg.Type))
	}
	if len(c.cfg.Expect) > 0 {
		match := true
		for _, want := range c.cfg.Expect {
			if !slices.ContainsFunc(answers, func(a string) bool {
				return strings.EqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(want, "."))
			}) {
				match = false
				worse(sdk.StatusCritical, "expected answer %q missing", want)
			}
		}
		res.AddField("answer_match", metric.Bool(match))
	}
	switch {
	case c.cfg.CritTime > 0 && took > c.cfg.CritTime.D():
		worse(sdk.StatusCritical, "response time over %s", c.cfg.CritTime.D())
	case c.cfg.WarnTime > 0 && took > c.cfg.WarnTime.D():
		worse(sdk.StatusWarning, "response time over %s", c.cfg.WarnTime.D())
	}
	res.Message = fmt.Sprintf("%s: %s in %s", q, strings.Join(answers, ", "), took.Round(time.Microsecond))
	if len(answers) == 0 {
		res.Message = fmt.Sprintf("%s: answered in %s", q, took.Round(time.Microsecond))
	}
	if len(problems) > 0 {
		res.Message += ": " + strings.Join(problems, "; ")
	}
	return res, nil
}

func main() { sdk.Serve(&dnsCheck{}) }

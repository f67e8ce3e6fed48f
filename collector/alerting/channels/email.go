package channels

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/schulmon/schulmon/collector/alerting"
)

// EmailConfig configures an e-mail channel.
type EmailConfig struct {
	Name  string `yaml:"name"`
	Route `yaml:",inline"`
	Host  string `yaml:"host"`
	Port  int    `yaml:"port"` // default 587
	// StartTLS is "required" (default: refuse to send without it),
	// "opportunistic" (use it when offered) or "none" (local relays).
	StartTLS     string        `yaml:"starttls"`
	CAFile       string        `yaml:"ca_file"` // extra CA for the server's certificate
	Username     string        `yaml:"username"`
	Password     string        `yaml:"password"`
	PasswordFile string        `yaml:"password_file"`
	From         string        `yaml:"from"`
	To           []string      `yaml:"to"`
	Timeout      time.Duration `yaml:"timeout"`
	// HelloName is sent in EHLO (default: the host name).
	HelloName string `yaml:"hello_name"`
}

// Email sends alerts as plain-text mails.
type Email struct {
	cfg      EmailConfig
	msgs     Messages
	password string
	roots    *x509.CertPool
	from     *mail.Address
	to       []*mail.Address
}

// NewEmail checks the configuration.
func NewEmail(cfg EmailConfig, msgs Messages) (*Email, error) {
	if cfg.Host == "" {
		return nil, errors.New("host is missing")
	}
	if cfg.Port == 0 {
		cfg.Port = 587
	}
	if cfg.StartTLS == "" {
		cfg.StartTLS = "required"
	}
	if cfg.StartTLS != "required" && cfg.StartTLS != "opportunistic" && cfg.StartTLS != "none" {
		return nil, fmt.Errorf("starttls %q: use required, opportunistic or none", cfg.StartTLS)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	e := &Email{cfg: cfg, msgs: msgs}
	var err error
	if e.from, err = mail.ParseAddress(cfg.From); err != nil {
		return nil, fmt.Errorf("from %q: %w", cfg.From, err)
	}
	if len(cfg.To) == 0 {
		return nil, errors.New("to: name at least one recipient")
	}
	for _, t := range cfg.To {
		a, err := mail.ParseAddress(t)
		if err != nil {
			return nil, fmt.Errorf("to %q: %w", t, err)
		}
		e.to = append(e.to, a)
	}
	if e.password, err = secret(cfg.Password, cfg.PasswordFile, "password"); err != nil {
		return nil, err
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read ca_file: %w", err)
		}
		e.roots = x509.NewCertPool()
		if !e.roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s holds no PEM certificate", cfg.CAFile)
		}
	}
	if e.cfg.Name == "" {
		e.cfg.Name = "email:" + strings.Join(cfg.To, ",")
	}
	return e, nil
}

// Name implements alerting.Notifier.
func (e *Email) Name() string { return e.cfg.Name }

// Notify implements alerting.Notifier. 5xx replies of the server are
// permanent failures; connection problems and 4xx are retried.
func (e *Email) Notify(ctx context.Context, a alerting.Alert) error {
	msg := e.build(a)
	err := e.send(ctx, msg)
	if err == nil {
		return nil
	}
	var tp *textproto.Error
	if errors.As(err, &tp) && tp.Code >= 500 {
		return alerting.Permanent(fmt.Errorf("e-mail %s: alert %s rejected: %w", e.cfg.Name, a.Key, err))
	}
	return fmt.Errorf("e-mail %s: alert %s: %w", e.cfg.Name, a.Key, err)
}

func (e *Email) build(a alerting.Alert) []byte {
	m := e.msgs.Render(a)
	var b bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	h("From", e.from.String())
	tos := make([]string, len(e.to))
	for i, t := range e.to {
		tos[i] = t.String()
	}
	h("To", strings.Join(tos, ", "))
	h("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	h("Date", a.At.Format(time.RFC1123Z))
	// The alert key makes the Message-ID stable: a retried delivery that
	// did reach the server is recognisable as the same mail.
	domain := e.from.Address[strings.LastIndex(e.from.Address, "@")+1:]
	h("Message-ID", "<"+strings.NewReplacer(":", ".", "/", ".").Replace(a.Key)+"@schulmon."+domain+">")
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "quoted-printable")
	h("Auto-Submitted", "auto-generated")
	h("X-Schulmon-Alert", a.Key)
	h("X-Schulmon-Status", a.Status)
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	body := m.Text + "\n"
	for _, f := range m.Facts {
		body += "\n" + f[0] + ": " + f[1]
	}
	if m.Link != "" {
		body += "\n\n" + m.Link
	}
	_, _ = qp.Write([]byte(strings.ReplaceAll(body, "\n", "\r\n") + "\r\n"))
	_ = qp.Close()
	return b.Bytes()
}

func (e *Email) send(ctx context.Context, msg []byte) error {
	addr := net.JoinHostPort(e.cfg.Host, strconv.Itoa(e.cfg.Port))
	d := net.Dialer{Timeout: e.cfg.Timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", addr, err)
	}
	deadline := time.Now().Add(e.cfg.Timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = conn.SetDeadline(deadline)
	c, err := smtp.NewClient(conn, e.cfg.Host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp greeting from %s: %w", addr, err)
	}
	defer c.Close()
	if e.cfg.HelloName != "" {
		if err := c.Hello(e.cfg.HelloName); err != nil {
			return fmt.Errorf("EHLO: %w", err)
		}
	}
	if e.cfg.StartTLS != "none" {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(&tls.Config{ServerName: e.cfg.Host, RootCAs: e.roots, MinVersion: tls.VersionTLS12}); err != nil {
				return fmt.Errorf("STARTTLS with %s: %w", addr, err)
			}
		} else if e.cfg.StartTLS == "required" {
			return alerting.Permanent(fmt.Errorf("%s does not offer STARTTLS; set starttls: opportunistic or none only for a trusted local relay", addr))
		}
	}
	if e.password != "" || e.cfg.Username != "" {
		// PlainAuth refuses to send the password without TLS, except to
		// localhost.
		if err := c.Auth(smtp.PlainAuth("", e.cfg.Username, e.password, e.cfg.Host)); err != nil {
			return fmt.Errorf("authenticate as %s: %w", e.cfg.Username, err)
		}
	}
	if err := c.Mail(e.from.Address); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	for _, t := range e.to {
		if err := c.Rcpt(t.Address); err != nil {
			return fmt.Errorf("RCPT TO %s: %w", t.Address, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("send message: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("end of message: %w", err)
	}
	return c.Quit()
}

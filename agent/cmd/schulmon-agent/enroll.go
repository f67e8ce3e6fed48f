package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/schulmon/schulmon/agent/config"
	"github.com/schulmon/schulmon/agent/sender"
)

// enrollOptions are the inputs of one enrollment.
type enrollOptions struct {
	Collector     string
	Token         string
	StateDir      string
	Device        string
	TLS           config.TLS
	AllowInsecure bool
	Force         bool
	Timeout       time.Duration
}

// enrollResult is the collector's answer (collector/enroll.Response).
type enrollResult struct {
	Token        string `json:"token"`
	TokenID      int64  `json:"token_id"`
	Site         string `json:"site"`
	Municipality string `json:"municipality"`
	Error        string `json:"error"`
	Reason       string `json:"reason"`
}

func newEnrollCmd(f *flags) *cobra.Command {
	var o enrollOptions
	var writeConfig string
	cmd := &cobra.Command{
		Use:   "enroll --collector URL --enrollment-token se_… [--state-dir DIR] [--ca-file F | --fingerprint SHA256]",
		Short: "Trade an enrollment token for this agent's own token, stored in the state directory",
		Long: `Trade a one-time enrollment token (from 'schulmon-collector enrollment
create') for this agent's own token. The token is written with mode 0600
to STATE_DIR/token, where the agent finds it, so the config file needs no
secret. Verify the collector with --ca-file (its certificate or CA) or
--fingerprint (the SHA-256 the collector printed); plain http:// to
another host needs --allow-insecure.

The enrollment token can also come from the environment variable
SCHULMON_ENROLLMENT_TOKEN, or from standard input with
--enrollment-token - (so that it stays out of the shell history).

With --config, the collector URL, TLS settings and state directory are
taken from that file unless given as flags.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := config.Default()
			if f.configPath != "" {
				var err error
				if cfg, err = config.Load(f.configPath); err != nil {
					return err
				}
				if o.Collector == "" && cfg.Collector.URL != config.Default().Collector.URL {
					o.Collector = cfg.Collector.URL
				}
				if o.TLS.CAFile == "" && o.TLS.Fingerprint == "" {
					o.TLS.CAFile, o.TLS.Fingerprint = cfg.Collector.TLS.CAFile, cfg.Collector.TLS.Fingerprint
				}
				if o.TLS.CertFile == "" {
					o.TLS.CertFile, o.TLS.KeyFile = cfg.Collector.TLS.CertFile, cfg.Collector.TLS.KeyFile
				}
				o.AllowInsecure = o.AllowInsecure || cfg.Collector.AllowInsecure
			}
			if o.StateDir == "" {
				o.StateDir = cfg.StateDir
			}
			if o.Device == "" {
				o.Device, _ = deviceName(cfg)
			}
			if o.Token == "" {
				o.Token = os.Getenv("SCHULMON_ENROLLMENT_TOKEN")
			}
			if o.Token == "-" {
				line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				if err != nil && !errors.Is(err, io.EOF) {
					return fmt.Errorf("read the enrollment token from standard input: %w", err)
				}
				o.Token = strings.TrimSpace(line)
			}
			res, path, err := enrollAgent(cmd.Context(), o)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "enrolled for site %s in %s (agent token %d); token stored in %s (mode 0600)\n", res.Site, res.Municipality, res.TokenID, path)
			snippet := configSnippet(o)
			if writeConfig != "" {
				if err := writeNewFile(writeConfig, []byte(snippet), 0o644); err != nil {
					return err
				}
				fmt.Fprintf(out, "wrote %s (no secret in it)\n", writeConfig)
			} else if f.configPath == "" {
				fmt.Fprintf(out, "agent config (no secret needed in it):\n%s", snippet)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Collector, "collector", "", "collector URL, e.g. https://collector.example:8086")
	fl.StringVar(&o.Token, "enrollment-token", "", "enrollment token se_… ('-' reads it from standard input)")
	fl.StringVar(&o.StateDir, "state-dir", "", "agent state directory (default from --config, else ./var/agent)")
	fl.StringVar(&o.Device, "device", "", "name this agent reports as (default: the hostname)")
	fl.StringVar(&o.TLS.CAFile, "ca-file", "", "PEM CA bundle (or the collector's self-signed certificate) to verify the collector")
	fl.StringVar(&o.TLS.Fingerprint, "fingerprint", "", "pin the collector's certificate by its SHA-256 fingerprint (hex, colons allowed)")
	fl.StringVar(&o.TLS.CertFile, "cert-file", "", "client certificate for mutual TLS")
	fl.StringVar(&o.TLS.KeyFile, "key-file", "", "client key for mutual TLS")
	fl.BoolVar(&o.AllowInsecure, "allow-insecure", false, "permit plain http:// to another host (the token travels unencrypted)")
	fl.BoolVar(&o.Force, "force", false, "replace a token that is already in the state directory")
	fl.DurationVar(&o.Timeout, "timeout", 30*time.Second, "how long to wait for the collector")
	fl.StringVar(&writeConfig, "write-config", "", "write a matching agent config file (no secret in it); the file must not exist")
	return cmd
}

// enrollAgent runs one enrollment and stores the token; it returns the
// collector's answer and the token file's path.
func enrollAgent(ctx context.Context, o enrollOptions) (enrollResult, string, error) {
	if o.Collector == "" {
		return enrollResult{}, "", errors.New("name the collector with --collector https://HOST:PORT")
	}
	if o.Token == "" {
		return enrollResult{}, "", errors.New("no enrollment token: pass --enrollment-token se_… (from 'schulmon-collector enrollment create'), '-' for standard input, or set SCHULMON_ENROLLMENT_TOKEN")
	}
	u, err := url.Parse(o.Collector)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return enrollResult{}, "", fmt.Errorf("--collector %q: want https://HOST:PORT", o.Collector)
	}
	if u.Scheme == "http" && !o.AllowInsecure && !loopbackHost(u.Hostname()) {
		return enrollResult{}, "", fmt.Errorf("--collector %q is plain HTTP to another host: use https, or pass --allow-insecure if you accept that the tokens travel unencrypted", o.Collector)
	}
	if u.Scheme == "http" && (o.TLS.CAFile != "" || o.TLS.Fingerprint != "") {
		return enrollResult{}, "", fmt.Errorf("--collector %q is plain HTTP: --ca-file and --fingerprint only apply to https", o.Collector)
	}
	path := filepath.Join(o.StateDir, "token")
	if _, err := os.Stat(path); err == nil && !o.Force {
		return enrollResult{}, "", fmt.Errorf("this agent is enrolled already (%s exists): pass --force to enroll again and replace it", path)
	}
	tc, err := sender.TLSConfig(o.TLS)
	if err != nil {
		return enrollResult{}, "", err
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	client := &http.Client{Timeout: o.Timeout, Transport: &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment}}
	defer client.CloseIdleConnections()
	body, _ := json.Marshal(map[string]string{"enrollment_token": o.Token, "device": o.Device})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(o.Collector, "/")+"/api/v1/enroll", bytes.NewReader(body))
	if err != nil {
		return enrollResult{}, "", fmt.Errorf("enroll at %s: %w", o.Collector, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		var ua x509.UnknownAuthorityError
		var hn x509.HostnameError
		switch {
		case errors.As(err, &ua):
			return enrollResult{}, "", fmt.Errorf("enroll at %s: the collector's certificate is not trusted: pass --fingerprint (printed by 'schulmon-collector tls selfsigned') or --ca-file: %w", o.Collector, err)
		case errors.As(err, &hn):
			return enrollResult{}, "", fmt.Errorf("enroll at %s: the collector's certificate is not valid for this host name: use a name it lists, recreate it with --hosts, or pin it with --fingerprint: %w", o.Collector, err)
		}
		return enrollResult{}, "", fmt.Errorf("enroll at %s: %w", o.Collector, err)
	}
	defer resp.Body.Close()
	var res enrollResult
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if jerr := json.Unmarshal(data, &res); jerr != nil {
		return enrollResult{}, "", fmt.Errorf("enroll at %s: the collector answered %s with no schulmon JSON (is this the collector's URL?): %.200s", o.Collector, resp.Status, data)
	}
	if resp.StatusCode != http.StatusOK || res.Token == "" {
		msg := res.Error
		if msg == "" {
			msg = resp.Status
		}
		return enrollResult{}, "", fmt.Errorf("enrollment refused by the collector (%s): %s", resp.Status, msg)
	}
	if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
		return enrollResult{}, "", fmt.Errorf("create state directory: %w", err)
	}
	if err := writeSecret(path, []byte(res.Token+"\n")); err != nil {
		return enrollResult{}, "", err
	}
	if err := matchOwner(path, o.StateDir); err != nil {
		return enrollResult{}, "", err
	}
	return res, path, nil
}

// writeSecret replaces path atomically with a file of mode 0600.
func writeSecret(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".token-*")
	if err != nil {
		return fmt.Errorf("store token: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("store token: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("store token: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("store token: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("store token: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("store token in %s: %w", path, err)
	}
	return nil
}

func writeNewFile(path string, data []byte, perm os.FileMode) error {
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	if _, err := fh.Write(data); err != nil {
		fh.Close()
		return fmt.Errorf("write config %s: %w", path, err)
	}
	return fh.Close()
}

// configSnippet is an agent config matching the enrollment, with no
// secret: the token is found in state_dir/token.
func configSnippet(o enrollOptions) string {
	var b strings.Builder
	fmt.Fprintf(&b, "collector:\n  url: %s\n", o.Collector)
	if o.AllowInsecure && strings.HasPrefix(o.Collector, "http:") {
		b.WriteString("  allow_insecure: true\n")
	}
	if o.TLS.CAFile != "" || o.TLS.Fingerprint != "" || o.TLS.CertFile != "" {
		b.WriteString("  tls:\n")
		if o.TLS.CAFile != "" {
			fmt.Fprintf(&b, "    ca_file: %s\n", abs(o.TLS.CAFile))
		}
		if o.TLS.Fingerprint != "" {
			fmt.Fprintf(&b, "    fingerprint: %q\n", o.TLS.Fingerprint)
		}
		if o.TLS.CertFile != "" {
			fmt.Fprintf(&b, "    cert_file: %s\n    key_file: %s\n", abs(o.TLS.CertFile), abs(o.TLS.KeyFile))
		}
	}
	fmt.Fprintf(&b, "state_dir: %s\n", abs(o.StateDir))
	return b.String()
}

func abs(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// warnInsecure logs that the agent talks plain HTTP to another host,
// which the config allowed with collector.allow_insecure.
func warnInsecure(cfg config.Config, log *slog.Logger) {
	u, err := url.Parse(cfg.Collector.URL)
	if err == nil && u.Scheme == "http" && !loopbackHost(u.Hostname()) {
		log.Warn("sending to the collector over plain HTTP (collector.allow_insecure): the token and the data travel unencrypted; use https", "collector", cfg.Collector.URL)
	}
}

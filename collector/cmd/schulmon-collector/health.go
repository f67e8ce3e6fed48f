package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/spf13/cobra"
)

func newHealthcheckCmd() *cobra.Command {
	var target string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "healthcheck [--url https://127.0.0.1:8086/health]",
		Short: "Exit 0 if the collector's /health answers 200 (for container health checks)",
		Long: `Ask the collector's /health endpoint and exit 0 when it answers 200, 1
otherwise: the health check of container images that have no curl. The
certificate is not verified, and only loopback URLs are accepted, so that
this cannot become a way to skip verification against another host.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			u, err := url.Parse(target)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
				return fmt.Errorf("--url %q: want http(s)://127.0.0.1:PORT/health", target)
			}
			if !loopback(u.Hostname()) {
				return fmt.Errorf("--url %q: only loopback addresses (this container or host) are checked", target)
			}
			client := &http.Client{Timeout: timeout, Transport: &http.Transport{
				// Liveness on loopback: the self-signed certificate is
				// the collector's own.
				TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec
			}}
			resp, err := client.Get(target)
			if err != nil {
				return fmt.Errorf("health check: %w", err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("health check: %s: %s", resp.Status, body)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s", body)
			return nil
		},
	}
	cmd.Flags().StringVar(&target, "url", "https://127.0.0.1:8086/health", "the collector's /health URL on this host")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait")
	return cmd
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

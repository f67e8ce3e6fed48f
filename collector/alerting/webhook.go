package alerting

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// WebhookConfig configures a JSON webhook.
type WebhookConfig struct {
	Name    string            `yaml:"name" json:"name"`
	URL     string            `yaml:"url" json:"url"`
	Headers map[string]string `yaml:"headers" json:"headers,omitempty"`
	Timeout time.Duration     `yaml:"timeout" json:"timeout,omitempty"`
}

// Webhook posts each alert as a JSON object.
type Webhook struct {
	cfg    WebhookConfig
	client *http.Client
}

// NewWebhook checks the configuration and returns the notifier.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	if cfg.URL == "" {
		return nil, fmt.Errorf("webhook %q: url is missing", cfg.Name)
	}
	req, err := http.NewRequest(http.MethodPost, cfg.URL, nil)
	if err != nil || (req.URL.Scheme != "http" && req.URL.Scheme != "https") {
		return nil, fmt.Errorf("webhook %q: url %q is not an http(s) URL", cfg.Name, cfg.URL)
	}
	if cfg.Name == "" {
		cfg.Name = "webhook:" + req.URL.Host + req.URL.Path
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	return &Webhook{cfg: cfg, client: &http.Client{Timeout: cfg.Timeout}}, nil
}

// Name implements Notifier.
func (w *Webhook) Name() string { return w.cfg.Name }

// Notify implements Notifier: 2xx is success; 408, 429 and 5xx and network
// errors are retried; other statuses are permanent failures.
func (w *Webhook) Notify(ctx context.Context, a Alert) error {
	body, err := json.Marshal(a)
	if err != nil {
		return Permanent(fmt.Errorf("encode alert %s: %w", a.Key, err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return Permanent(fmt.Errorf("webhook %s: %w", w.cfg.Name, err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "schulmon-collector")
	for k, v := range w.cfg.Headers {
		req.Header.Set(k, v)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook %s: post alert %s: %w", w.cfg.Name, a.Key, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("webhook %s: alert %s: HTTP %d: %s", w.cfg.Name, a.Key, resp.StatusCode, bytes.TrimSpace(msg))
	}
	return Permanent(fmt.Errorf("webhook %s: alert %s rejected: HTTP %d: %s", w.cfg.Name, a.Key, resp.StatusCode, bytes.TrimSpace(msg)))
}

package channels

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/schulmon/schulmon/collector/alerting"
)

// postJSON posts body and classifies the answer the way the alerting
// manager expects: 2xx done, 408/429/5xx and network errors retried, other
// statuses permanent.
func postJSON(ctx context.Context, client *http.Client, method, u string, headers map[string]string, body any, what string) error {
	b, err := json.Marshal(body)
	if err != nil {
		return alerting.Permanent(fmt.Errorf("%s: encode: %w", what, err))
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(b))
	if err != nil {
		return alerting.Permanent(fmt.Errorf("%s: %w", what, err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "schulmon-collector")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("%s: HTTP %d: %s", what, resp.StatusCode, bytes.TrimSpace(msg))
	}
	return alerting.Permanent(fmt.Errorf("%s: rejected: HTTP %d: %s", what, resp.StatusCode, bytes.TrimSpace(msg)))
}

func checkURL(u string) error {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return fmt.Errorf("url %q is not an absolute http(s) URL", u)
	}
	return nil
}

func hostOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	return p.Host
}

// ---- Microsoft Teams ----

// TeamsConfig configures a Teams incoming webhook: a Workflows ("Post to
// a channel when a webhook request is received") URL takes an Adaptive
// Card (format adaptive, the default); an old Office 365 connector URL a
// MessageCard (format messagecard).
type TeamsConfig struct {
	Name    string `yaml:"name"`
	Route   `yaml:",inline"`
	URL     string        `yaml:"url"`
	Format  string        `yaml:"format"`
	Timeout time.Duration `yaml:"timeout"`
}

// Teams posts cards to a Teams channel.
type Teams struct {
	cfg    TeamsConfig
	msgs   Messages
	client *http.Client
}

// NewTeams checks the configuration.
func NewTeams(cfg TeamsConfig, msgs Messages) (*Teams, error) {
	if err := checkURL(cfg.URL); err != nil {
		return nil, err
	}
	if cfg.Format == "" {
		cfg.Format = "adaptive"
	}
	if cfg.Format != "adaptive" && cfg.Format != "messagecard" {
		return nil, fmt.Errorf("format %q: use adaptive or messagecard", cfg.Format)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Name == "" {
		cfg.Name = "teams:" + hostOf(cfg.URL)
	}
	return &Teams{cfg: cfg, msgs: msgs, client: &http.Client{Timeout: cfg.Timeout}}, nil
}

// Name implements alerting.Notifier.
func (t *Teams) Name() string { return t.cfg.Name }

func colour(a alerting.Alert) (hex, adaptive string) {
	switch {
	case a.Status == alerting.StatusResolved:
		return "1E6B2A", "Good"
	case a.Severity == "critical":
		return "A4161A", "Attention"
	}
	return "7A4F01", "Warning"
}

// TeamsPayload builds the JSON the channel posts.
func (t *Teams) TeamsPayload(a alerting.Alert) any {
	m := t.msgs.Render(a)
	hexColour, adaptiveColour := colour(a)
	if t.cfg.Format == "messagecard" {
		facts := []map[string]string{}
		for _, f := range m.Facts {
			facts = append(facts, map[string]string{"name": f[0], "value": f[1]})
		}
		card := map[string]any{"@type": "MessageCard", "@context": "https://schema.org/extensions", "themeColor": hexColour,
			"summary": m.Subject, "title": m.Subject, "text": m.Text, "sections": []any{map[string]any{"facts": facts}}}
		if m.Link != "" {
			card["potentialAction"] = []any{map[string]any{"@type": "OpenUri", "name": "schulmon", "targets": []any{map[string]string{"os": "default", "uri": m.Link}}}}
		}
		return card
	}
	facts := []map[string]string{}
	for _, f := range m.Facts {
		facts = append(facts, map[string]string{"title": f[0], "value": f[1]})
	}
	body := []any{
		map[string]any{"type": "TextBlock", "text": m.Subject, "weight": "Bolder", "size": "Medium", "color": adaptiveColour, "wrap": true},
		map[string]any{"type": "TextBlock", "text": m.Text, "wrap": true},
		map[string]any{"type": "FactSet", "facts": facts},
	}
	content := map[string]any{"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard", "version": "1.4", "body": body}
	if m.Link != "" {
		content["actions"] = []any{map[string]string{"type": "Action.OpenUrl", "title": "schulmon", "url": m.Link}}
	}
	return map[string]any{"type": "message", "attachments": []any{map[string]any{"contentType": "application/vnd.microsoft.card.adaptive", "content": content}}}
}

// Notify implements alerting.Notifier.
func (t *Teams) Notify(ctx context.Context, a alerting.Alert) error {
	return postJSON(ctx, t.client, http.MethodPost, t.cfg.URL, nil, t.TeamsPayload(a), fmt.Sprintf("teams %s: alert %s", t.cfg.Name, a.Key))
}

// ---- Matrix ----

// MatrixConfig configures a Matrix channel: either an incoming-webhook URL
// (matrix-hookshot's generic webhooks: JSON with text and html), or a room
// on a homeserver with a bot's access token (Client-Server API; the alert
// key is the transaction id, so the homeserver itself drops a repeated
// delivery).
type MatrixConfig struct {
	Name            string `yaml:"name"`
	Route           `yaml:",inline"`
	URL             string        `yaml:"url"`
	Homeserver      string        `yaml:"homeserver"`
	RoomID          string        `yaml:"room_id"`
	AccessToken     string        `yaml:"access_token"`
	AccessTokenFile string        `yaml:"access_token_file"`
	Timeout         time.Duration `yaml:"timeout"`
}

// Matrix posts messages to a Matrix room.
type Matrix struct {
	cfg    MatrixConfig
	msgs   Messages
	token  string
	client *http.Client
}

// NewMatrix checks the configuration.
func NewMatrix(cfg MatrixConfig, msgs Messages) (*Matrix, error) {
	m := &Matrix{cfg: cfg, msgs: msgs}
	switch {
	case cfg.URL != "" && cfg.Homeserver != "":
		return nil, errors.New("give url (incoming webhook) or homeserver and room_id, not both")
	case cfg.URL != "":
		if err := checkURL(cfg.URL); err != nil {
			return nil, err
		}
		if m.cfg.Name == "" {
			m.cfg.Name = "matrix:" + hostOf(cfg.URL)
		}
	case cfg.Homeserver != "":
		if err := checkURL(cfg.Homeserver); err != nil {
			return nil, fmt.Errorf("homeserver: %w", err)
		}
		if !strings.HasPrefix(cfg.RoomID, "!") {
			return nil, fmt.Errorf("room_id %q: give the room's internal id (starts with !, see the room's advanced settings)", cfg.RoomID)
		}
		var err error
		if m.token, err = secret(cfg.AccessToken, cfg.AccessTokenFile, "access_token"); err != nil {
			return nil, err
		}
		if m.token == "" {
			return nil, errors.New("access_token or access_token_file is required with homeserver")
		}
		if m.cfg.Name == "" {
			m.cfg.Name = "matrix:" + cfg.RoomID
		}
	default:
		return nil, errors.New("give url (incoming webhook) or homeserver, room_id and access_token")
	}
	if m.cfg.Timeout <= 0 {
		m.cfg.Timeout = 10 * time.Second
	}
	m.client = &http.Client{Timeout: m.cfg.Timeout}
	return m, nil
}

// Name implements alerting.Notifier.
func (m *Matrix) Name() string { return m.cfg.Name }

// Notify implements alerting.Notifier.
func (m *Matrix) Notify(ctx context.Context, a alerting.Alert) error {
	msg := m.msgs.Render(a)
	text := msg.Subject + "\n" + msg.Text
	htm := "<p><strong>" + html.EscapeString(msg.Subject) + "</strong></p><p>" + strings.ReplaceAll(html.EscapeString(msg.Text), "\n\n", "</p><p>") + "</p>"
	if msg.Link != "" {
		text += "\n" + msg.Link
		htm += `<p><a href="` + html.EscapeString(msg.Link) + `">schulmon</a></p>`
	}
	what := fmt.Sprintf("matrix %s: alert %s", m.cfg.Name, a.Key)
	if m.cfg.URL != "" {
		return postJSON(ctx, m.client, http.MethodPost, m.cfg.URL, nil, map[string]string{"text": text, "html": htm, "username": "schulmon"}, what)
	}
	txn := sha256.Sum256([]byte(a.Key))
	u := strings.TrimRight(m.cfg.Homeserver, "/") + "/_matrix/client/v3/rooms/" + url.PathEscape(m.cfg.RoomID) + "/send/m.room.message/schulmon-" + hex.EncodeToString(txn[:12])
	body := map[string]string{"msgtype": "m.text", "body": text, "format": "org.matrix.custom.html", "formatted_body": htm}
	return postJSON(ctx, m.client, http.MethodPut, u, map[string]string{"Authorization": "Bearer " + m.token}, body, what)
}

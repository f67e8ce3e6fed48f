package enroll

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Path is where the enrollment endpoint is mounted.
const Path = "/api/v1/enroll"

// Request is the body of POST /api/v1/enroll. The enrollment token may
// instead come in 'Authorization: Token se_…'.
type Request struct {
	EnrollmentToken string `json:"enrollment_token"`
	// Device is the agent's name, recorded with the new token.
	Device string `json:"device,omitempty"`
}

// Response is the JSON answer: Result on success, Error and Reason
// (unknown, expired, used, revoked, rate_limited, bad_request) otherwise.
type Response struct {
	*Result
	Error  string `json:"error,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Handler serves POST /api/v1/enroll. It is unauthenticated by design
// (the enrollment token is the credential), so it is rate-limited per
// client address against guessing.
type Handler struct {
	store *Store
	log   *slog.Logger

	mu      sync.Mutex
	clients map[string]*rate.Limiter
	perIP   rate.Limit
	burst   int
}

// Limits of the enrollment endpoint per client address.
type Limits struct {
	// PerMinute is the sustained rate of attempts (default 6).
	PerMinute float64
	// Burst is how many attempts may come at once (default 5).
	Burst int
}

// NewHandler serves enrollments from store.
func NewHandler(store *Store, log *slog.Logger, lim Limits) *Handler {
	if lim.PerMinute <= 0 {
		lim.PerMinute = 6
	}
	if lim.Burst <= 0 {
		lim.Burst = 5
	}
	return &Handler{store: store, log: log, clients: map[string]*rate.Limiter{}, perIP: rate.Limit(lim.PerMinute / 60), burst: lim.Burst}
}

// Routes mounts the handler on mux.
func (h *Handler) Routes(mux *http.ServeMux) {
	mux.Handle("POST "+Path, h)
}

// maxClients bounds the limiter table; when full it starts over, which
// at worst gives each address a fresh burst.
const maxClients = 10_000

func (h *Handler) allow(remote string) (bool, time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	l, ok := h.clients[remote]
	if !ok {
		if len(h.clients) >= maxClients {
			clear(h.clients)
		}
		l = rate.NewLimiter(h.perIP, h.burst)
		h.clients[remote] = l
	}
	r := l.Reserve()
	if d := r.Delay(); d > 0 {
		r.Cancel()
		return false, d
	}
	return true, 0
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	remote, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		remote = r.RemoteAddr
	}
	if ok, wait := h.allow(remote); !ok {
		secs := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		reply(w, http.StatusTooManyRequests, Response{Reason: "rate_limited", Error: "too many enrollment attempts from " + remote + ": retry in " + strconv.Itoa(secs) + " s"})
		return
	}
	var req Request
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		reply(w, http.StatusBadRequest, Response{Reason: "bad_request", Error: "read request body: " + err.Error()})
		return
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			reply(w, http.StatusBadRequest, Response{Reason: "bad_request", Error: `request body is not JSON like {"enrollment_token": "se_…", "device": "name"}: ` + err.Error()})
			return
		}
	}
	if req.EnrollmentToken == "" {
		req.EnrollmentToken = bearer(r)
	}
	res, err := h.store.Redeem(r.Context(), req.EnrollmentToken, req.Device, remote)
	var refusal *Error
	switch {
	case errors.As(err, &refusal):
		h.log.Warn("enrollment refused", "remote", remote, "device", req.Device, "reason", refusal.Reason)
		code := http.StatusForbidden
		if refusal.Reason == ReasonUnknown {
			code = http.StatusUnauthorized
		}
		reply(w, code, Response{Reason: refusal.Reason, Error: refusal.Msg})
	case err != nil:
		h.log.Error("enrollment failed", "remote", remote, "device", req.Device, "err", err)
		reply(w, http.StatusInternalServerError, Response{Error: "the collector could not complete the enrollment; try again later"})
	default:
		h.log.Info("agent enrolled", "remote", remote, "device", req.Device, "site", res.Site, "token_id", res.TokenID)
		reply(w, http.StatusOK, Response{Result: &res})
	}
}

func bearer(r *http.Request) string {
	a := r.Header.Get("Authorization")
	for _, p := range []string{"Token ", "Bearer "} {
		if len(a) > len(p) && strings.EqualFold(a[:len(p)], p) {
			return strings.TrimSpace(a[len(p):])
		}
	}
	return ""
}

func reply(w http.ResponseWriter, code int, v Response) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store") // the answer holds a secret
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

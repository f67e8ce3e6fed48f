// Package server assembles the collector: it opens the databases, builds
// the write API, read API and web UI on one HTTP mux, runs the background
// jobs, and shuts everything down gracefully.
package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/schulmon/schulmon/collector/api"
	"github.com/schulmon/schulmon/collector/config"
	"github.com/schulmon/schulmon/collector/enroll"
	"github.com/schulmon/schulmon/collector/events"
	"github.com/schulmon/schulmon/collector/ingest"
	"github.com/schulmon/schulmon/collector/sqlitedb"
	"github.com/schulmon/schulmon/collector/staffing"
	"github.com/schulmon/schulmon/collector/store"
	"github.com/schulmon/schulmon/collector/store/influx"
	"github.com/schulmon/schulmon/collector/store/sqlite"
	"github.com/schulmon/schulmon/collector/tenancy"
	"github.com/schulmon/schulmon/collector/tlscert"
	"github.com/schulmon/schulmon/collector/users"
	"github.com/schulmon/schulmon/collector/web"
	"github.com/schulmon/schulmon/metric"
)

// Server is a running collector's parts.
type Server struct {
	Config   config.Config
	Log      *slog.Logger
	MetaDB   *sql.DB
	Dir      *tenancy.Directory
	Store    store.Store
	Ingest   *ingest.Handler
	API      *api.Handler
	Web      *web.UI
	Staffing *staffing.Handler
	Mux      *http.ServeMux
	Registry *prometheus.Registry

	// jobs run every Interval until shutdown.
	jobs    []job
	closers []func() error
	started time.Time
}

type job struct {
	name     string
	interval time.Duration
	run      func(ctx context.Context, now time.Time) error
}

// MetaDBPath is the embedded database with inventory, tokens and
// everything that is not a metric.
func MetaDBPath(dataDir string) string { return filepath.Join(dataDir, "schulmon.db") }

// PointsDBPath is the embedded metric store.
func PointsDBPath(dataDir string) string { return filepath.Join(dataDir, "points.db") }

// OpenDirectory opens the tenancy directory in dataDir; the CLI's
// management commands use it without starting a server.
func OpenDirectory(ctx context.Context, dataDir string) (*tenancy.Directory, func() error, error) {
	db, err := sqlitedb.Open(ctx, MetaDBPath(dataDir))
	if err != nil {
		return nil, nil, err
	}
	dir, err := tenancy.New(ctx, db)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return dir, db.Close, nil
}

// New builds a collector from cfg.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*Server, error) {
	if err := selfSigned(&cfg, log); err != nil {
		return nil, err
	}
	s := &Server{Config: cfg, Log: log, Mux: http.NewServeMux(), Registry: prometheus.NewRegistry(), started: time.Now()}
	s.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ok := false
	defer func() {
		if !ok {
			s.close()
		}
	}()

	dir, closeDB, err := OpenDirectory(ctx, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, closeDB)
	s.Dir, s.MetaDB = dir, dir.DB()

	switch cfg.Storage.Backend {
	case "embedded":
		st, err := sqlite.Open(ctx, PointsDBPath(cfg.DataDir), sqlite.Options{RawRetention: cfg.Storage.RawRetention, RollupRetention: cfg.Storage.RollupRetention, Logger: log})
		if err != nil {
			return nil, err
		}
		s.Store = st
		s.Registry.MustRegister(storeCollector{st})
	case "influxdb":
		opt, err := influx.OptionsFromConfig(cfg.Storage.InfluxDB, cfg.DataDir, log)
		if err != nil {
			return nil, err
		}
		st, err := influx.Open(ctx, opt)
		if err != nil {
			return nil, err
		}
		s.Store = st
		s.Registry.MustRegister(st)
		defer func() {
			// After the write API is registered: self-metrics read its counters.
			s.AddJob("influx-self-metrics", cfg.Storage.InfluxDB.ExportInterval, st.SelfMetricsJob(s.Registry, s.started))
		}()
	default:
		return nil, fmt.Errorf("storage backend %q is not available in this build", cfg.Storage.Backend)
	}
	s.closers = append(s.closers, s.Store.Close)

	s.Ingest = ingest.New(dir, s.Store, ingest.Limits(cfg.Limits), log, s.Registry)
	s.API = &api.Handler{Dir: dir, Store: s.Store}
	webUsers, err := users.Open(ctx, s.MetaDB)
	if err != nil {
		return nil, err
	}
	s.Web = web.New(dir, s.API, log, web.Deps{DB: s.MetaDB, Users: webUsers, Store: s.Store, Config: cfg.Web, OIDC: openOIDC(ctx, cfg.Web, log)})

	s.Mux.Handle("POST /api/v2/write", s.Ingest)
	s.Mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Influxdb-Version", "schulmon-"+metric.Version)
		w.WriteHeader(http.StatusNoContent)
	})
	s.Mux.HandleFunc("GET /health", s.health)
	s.Mux.Handle("GET /metrics", promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{}))
	s.API.Routes(s.Mux, s.Authenticate)
	enr, err := enroll.New(ctx, s.MetaDB, dir)
	if err != nil {
		return nil, err
	}
	enroll.NewHandler(enr, log, enroll.Limits{}).Routes(s.Mux)

	// Staffing: inventory from what agents and switches report, and the
	// planner's report; the web UI shares the same handler.
	staff, err := staffing.NewStore(ctx, s.MetaDB)
	if err != nil {
		return nil, err
	}
	staff.SetLogger(log)
	if err := staff.WarmThrottle(ctx); err != nil {
		return nil, err
	}
	// Asynchronous: the inventory adds nothing to write latency, and what a
	// crash loses is recorded again with the next poll (the throttle that
	// skips known rows lives in memory, warmed from the rows at start).
	s.Ingest.AddAsyncObserver(staff)
	staffHandler := &staffing.Handler{Store: staff, Incidents: &staffing.SpanIncidents{DB: s.MetaDB}, Log: log}
	staffHandler.Routes(s.Mux, s.Authenticate)
	s.Web.SetStaffing(staffHandler)
	s.Staffing = staffHandler

	// Trap and reboot events per device.
	if err := events.Migrate(ctx, s.MetaDB); err != nil {
		return nil, err
	}
	ev := events.New(s.MetaDB)
	s.Ingest.AddObserver(ev)
	(&events.Handler{Store: ev, SiteByName: func(ctx context.Context, name string) (int64, error) {
		st, err := dir.SiteByName(ctx, name)
		return st.ID, err
	}}).Routes(s.Mux, s.Authenticate)
	s.AddJob("prune-events", 24*time.Hour, func(ctx context.Context, now time.Time) error {
		_, err := ev.Prune(ctx, now.AddDate(-1, 0, 0))
		return err
	})
	s.Web.Routes(s.Mux)

	s.AddJob("flush-last-seen", 10*time.Second, func(ctx context.Context, _ time.Time) error { return dir.FlushSeen(ctx) })
	s.AddCloser(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return dir.FlushAllSeen(ctx)
	})
	ok = true
	return s, nil
}

// AddCloser registers fn to run at shutdown, after the last request and
// the final job runs, before the databases close (later-added first).
func (s *Server) AddCloser(fn func() error) { s.closers = append(s.closers, fn) }

// AddJob runs fn every interval while the server runs.
func (s *Server) AddJob(name string, interval time.Duration, fn func(ctx context.Context, now time.Time) error) {
	s.jobs = append(s.jobs, job{name, interval, fn})
}

// Authenticate wraps API handlers: the principal comes from an API token
// or from a web session; without either the request gets 401.
func (s *Server) Authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p *tenancy.Principal
		if secret := ingest.BearerToken(r); secret != "" {
			var err error
			p, err = s.Dir.Authenticate(r.Context(), secret)
			if err != nil && !errors.Is(err, tenancy.ErrUnauthenticated) {
				s.Log.Error("authenticate", "err", err)
				api.Error(w, http.StatusServiceUnavailable, "cannot check the token right now")
				return
			}
		} else {
			p = s.Web.Principal(r)
			// A session cookie is sent by the browser on its own: writes
			// made with it must prove they come from our pages.
			if p != nil && r.Method != http.MethodGet && r.Method != http.MethodHead && !s.Web.CheckCSRF(r) {
				api.Error(w, http.StatusForbidden, "missing or wrong X-CSRF-Token header for a request with a session cookie")
				return
			}
		}
		if p == nil {
			w.Header().Set("WWW-Authenticate", `Token realm="schulmon"`)
			api.Error(w, http.StatusUnauthorized, "missing, unknown or revoked token: send 'Authorization: Token <token>'")
			return
		}
		next.ServeHTTP(w, r.WithContext(tenancy.WithPrincipal(r.Context(), p)))
	})
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	status, code := "pass", http.StatusOK
	msg := "ready for queries and writes"
	if err := s.MetaDB.PingContext(r.Context()); err != nil {
		status, code, msg = "fail", http.StatusServiceUnavailable, "database: "+err.Error()
	}
	api.WriteJSON(w, code, map[string]string{"name": "schulmon-collector", "status": status, "message": msg, "version": metric.Version})
}

// readSyncWait bounds how long a read waits for the observers.
const readSyncWait = 2 * time.Second

// readsAfterWrites makes a reading request (the web UI, the API) see every
// write acknowledged before it: the availability engine and the inventory
// observe writes asynchronously, after the acknowledgement, so a read
// first waits until they have caught up (a few milliseconds; at most
// readSyncWait under overload, then it answers with what is there).
// Probes and metrics do not wait.
func (s *Server) readsAfterWrites(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			switch r.URL.Path {
			case "/ping", "/health", "/metrics":
			default:
				ctx, cancel := context.WithTimeout(r.Context(), readSyncWait)
				_ = s.Ingest.Sync(ctx)
				cancel()
			}
		}
		next.ServeHTTP(w, r)
	})
}

// Run serves on ln until ctx is cancelled, then stops accepting, lets
// in-flight requests finish (up to 30 s) and closes the stores.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	defer s.close()
	srv := &http.Server{
		Handler:           s.readsAfterWrites(s.Mux),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.Log.Handler(), slog.LevelWarn),
	}
	if s.Config.TLS.CertFile != "" {
		tc, err := s.tlsConfig()
		if err != nil {
			return err
		}
		srv.TLSConfig = tc
		ln = tls.NewListener(ln, tc)
	} else if tcp, ok := ln.Addr().(*net.TCPAddr); ok && !tcp.IP.IsLoopback() {
		// Checked on the real listener too: --listen overrides the file.
		if err := s.Config.CheckPlainHTTP(ln.Addr().String()); err != nil {
			ln.Close()
			return err
		}
		s.Log.Warn("serving plain HTTP on a non-loopback address (tls.allow_plain_http): agent tokens travel unencrypted unless a proxy in front terminates TLS", "addr", ln.Addr().String())
	}
	jobCtx, stopJobs := context.WithCancel(context.Background())
	jobsDone := s.runJobs(jobCtx)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		stopJobs()
		<-jobsDone
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.Log.Info("shutting down: draining in-flight requests")
	shutCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := srv.Shutdown(shutCtx)
	s.Ingest.Close() // observers' merge goroutines, after the last write
	stopJobs()
	<-jobsDone
	// One last run of every job (e.g. flush last-seen times).
	for _, j := range s.jobs {
		if jerr := j.run(shutCtx, time.Now()); jerr != nil {
			s.Log.Error("final job run", "job", j.name, "err", jerr)
		}
	}
	if err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	return nil
}

func (s *Server) runJobs(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		tickers := make([]*time.Ticker, len(s.jobs))
		for i, j := range s.jobs {
			tickers[i] = time.NewTicker(j.interval)
			defer tickers[i].Stop()
		}
		errc := make(chan struct{})
		for i, j := range s.jobs {
			go func(t *time.Ticker, j job) {
				for {
					select {
					case <-ctx.Done():
						errc <- struct{}{}
						return
					case now := <-t.C:
						if err := j.run(ctx, now); err != nil && ctx.Err() == nil {
							s.Log.Error("background job failed", "job", j.name, "err", err)
						}
					}
				}
			}(tickers[i], j)
		}
		for range s.jobs {
			<-errc
		}
	}()
	return done
}

// selfSigned creates the self-signed pair of tls.self_signed on the
// first start and points cfg at it.
func selfSigned(cfg *config.Config, log *slog.Logger) error {
	if !cfg.TLS.SelfSigned {
		return nil
	}
	if cfg.TLS.CertFile == "" {
		cfg.TLS.CertFile, cfg.TLS.KeyFile = tlscert.DefaultPaths(cfg.DataDir)
	}
	fp, created, err := tlscert.Ensure(cfg.TLS.CertFile, cfg.TLS.KeyFile, tlscert.Options{Hosts: cfg.TLS.Hosts})
	if err != nil {
		return err
	}
	if created {
		log.Info("created a self-signed TLS certificate", "cert_file", cfg.TLS.CertFile)
	}
	log.Info("TLS certificate fingerprint: pin it in the agents as collector.tls.fingerprint", "sha256", fp)
	return nil
}

func (s *Server) tlsConfig() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(s.Config.TLS.CertFile, s.Config.TLS.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate %s: %w", s.Config.TLS.CertFile, err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if s.Config.TLS.ClientCAFile != "" {
		pem, err := os.ReadFile(s.Config.TLS.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("read client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client CA %s holds no PEM certificate", s.Config.TLS.ClientCAFile)
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

func (s *Server) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		if err := s.closers[i](); err != nil {
			s.Log.Error("close", "err", err)
		}
	}
	s.closers = nil
}

// storeCollector exports the embedded store's counters.
type storeCollector struct{ st *sqlite.Store }

var (
	descCommits = prometheus.NewDesc("schulmon_store_commits_total", "Group-commit transactions of the embedded store.", nil, nil)
	descErrors  = prometheus.NewDesc("schulmon_store_commit_errors_total", "Failed commits of the embedded store.", nil, nil)
	descPoints  = prometheus.NewDesc("schulmon_store_points_total", "Points committed to the embedded store.", nil, nil)
	descSeries  = prometheus.NewDesc("schulmon_store_series", "Series known to the embedded store.", nil, nil)
	descRollups = prometheus.NewDesc("schulmon_store_rollup_buckets_total", "Five-minute buckets rolled up, by source: memory (accumulated at write time), raw (recomputed from the points) or late (late points added to a bucket rolled up before).", []string{"source"}, nil)
	descRollEnt = prometheus.NewDesc("schulmon_store_rollup_entries", "Fields of series held in the in-memory rollups.", nil, nil)
	descWAL     = prometheus.NewDesc("schulmon_store_wal_pages", "Pages in the embedded store's write-ahead log at its last checkpoint, by whether they were copied to the database file (a WAL that keeps growing means a reader holds checkpoints back).", []string{"state"}, nil)
)

func (c storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descCommits
	ch <- descErrors
	ch <- descPoints
	ch <- descSeries
	ch <- descRollups
	ch <- descRollEnt
	ch <- descWAL
}

func (c storeCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.st.Stats()
	ch <- prometheus.MustNewConstMetric(descCommits, prometheus.CounterValue, float64(st.Commits))
	ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, float64(st.CommitErrors))
	ch <- prometheus.MustNewConstMetric(descPoints, prometheus.CounterValue, float64(st.Points))
	ch <- prometheus.MustNewConstMetric(descSeries, prometheus.GaugeValue, float64(st.Series))
	ch <- prometheus.MustNewConstMetric(descRollups, prometheus.CounterValue, float64(st.RollupMemoryBuckets), "memory")
	ch <- prometheus.MustNewConstMetric(descRollups, prometheus.CounterValue, float64(st.RollupRawBuckets), "raw")
	ch <- prometheus.MustNewConstMetric(descRollups, prometheus.CounterValue, float64(st.RollupLateBuckets), "late")
	ch <- prometheus.MustNewConstMetric(descRollEnt, prometheus.GaugeValue, float64(st.RollupEntries))
	ch <- prometheus.MustNewConstMetric(descWAL, prometheus.GaugeValue, float64(st.WALCheckpointed), "copied")
	ch <- prometheus.MustNewConstMetric(descWAL, prometheus.GaugeValue, float64(st.WALFrames-st.WALCheckpointed), "pending")
}

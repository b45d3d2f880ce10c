package netio

import (
	"fmt"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// AdminHandler serves the admin port: /metrics (Prometheus), /debug/pprof/
// and /healthz. It is meant for a separate listener on a private address
// (default 127.0.0.1:7778): pprof can stop the world for a trace, and none of
// it belongs on the game port's network.
func AdminHandler(s *Server, reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	// Registered by hand: importing net/http/pprof for its side effect would
	// put the profiles on http.DefaultServeMux, which anything may serve.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		ok, msg := s.health()
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintln(w, msg)
	})
	return mux
}

// Health reports whether the server is healthy, and why not: the rule of
// /healthz, for other health reporters (the Agones SDK client's pings).
func (s *Server) Health() (ok bool, msg string) { return s.health() }

// health is healthy while the tick advances and the server is not draining.
// "Advances" allows 20 tick periods (one second at 20 Hz) without a tick:
// a single overrun is a metric, a stall that long is an outage.
func (s *Server) health() (bool, string) {
	if s.draining.Load() {
		return false, "draining"
	}
	last := s.TickStats.LastAt.Load()
	if s.TickStats.Ticks.Load() == 0 {
		return false, "starting"
	}
	if age := time.Duration(s.now() - last); age > 20*s.cfg.shape.period {
		return false, fmt.Sprintf("tick stalled for %v at tick %d", age.Round(time.Millisecond), s.tickNo.Load())
	}
	return true, fmt.Sprintf("ok tick=%d sessions=%d", s.tickNo.Load(), s.Sessions())
}

//go:build linux

package main

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/treasured/treasured/client/clienttest"
	"github.com/treasured/treasured/engine"
	"github.com/treasured/treasured/netio"
	"github.com/treasured/treasured/netio/metricname"
)

// realServer is treasured's own netio and engine, in process on 127.0.0.1
// with a small world and a short tick: the bench is tested against the
// server it measures, not a second implementation of the protocol.
type realServer struct {
	key   string // the connect-token key file, for --token-key
	addr  string // UDP
	admin string // http://... serving /metrics
	world *engine.World
	net   *netio.Server
}

// settle waits until no session is left and two more ticks ran, so that
// every Bye the bench sent reached the engine as a Leave. Bounded, and
// generous for a loaded machine.
func (s *realServer) settle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		m, err := ScrapeMetrics(context.Background(), s.admin)
		if err == nil {
			if n, ok := m.Get(metricname.SessionsActive); ok && n == 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Errorf("sessions still active 20 s after the run (last scrape error %v)", err)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	for t0 := s.net.Tick(); s.net.Tick() < t0+2; {
		if time.Now().After(deadline) {
			t.Error("the server stopped ticking")
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// startRealServer starts the server; stop (also the test's cleanup) stops
// it, after which the engine's counters are final.
func startRealServer(t *testing.T, players int) (srv *realServer, stop func()) {
	t.Helper()
	ecfg := engine.DefaultConfig()
	// One region of 2x2 zones of 10 m: every player sees every chest, and
	// a chest is a few ticks' walk away.
	ecfg.Regions, ecfg.ZonesX, ecfg.ZonesY, ecfg.ZoneSize, ecfg.ChestsPerZone = 1, 2, 2, 10_000, 4
	ecfg.MaxPlayers = 2 * players
	ecfg.TickHz = 100
	w, err := engine.New(ecfg)
	if err != nil {
		t.Fatal(err)
	}
	// All players come from 127.0.0.1: lift the per-IP admission limits,
	// which are sized for a NAT (perf/lib.sh does the same).
	// World size and tick rate (100 Hz: a 10 ms tick) come from the world.
	// Tokens on, as in production: the bench issues them with the key.
	key, keyFile, err := clienttest.NewKeyFile(t.TempDir(), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := netio.New(netio.Config{TokenKey: key, Addr: "127.0.0.1:0", Loops: 1,
		SessionsPerIP: 4 * players, HandshakeRate: 1e5, HandshakeBurst: 4 * players,
		SessionRate: 1e5, SessionBurst: 4 * players, Logger: slog.New(slog.DiscardHandler)}, netio.EngineWorld(w))
	if err != nil {
		t.Fatal(err)
	}
	reg := netio.NewRegistry(ns)
	if err := ns.Start(); err != nil {
		t.Fatal(err)
	}
	admin := httptest.NewServer(netio.AdminHandler(ns, reg))
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := ns.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}
	t.Cleanup(stop)
	return &realServer{key: keyFile, addr: ns.Addr().String(), admin: admin.URL, world: w, net: ns}, stop
}

package netio

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/treasured/treasured/engine"
	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

func newSmallWorld(t testing.TB) (World, engine.Config) {
	t.Helper()
	cfg := e2eEngineConfig()
	cfg.MaxPlayers = 64
	return EngineWorld(newEngine(t, cfg)), cfg
}

// newEngine is a fresh engine world of cfg.
func newEngine(t testing.TB, cfg engine.Config) *engine.World {
	t.Helper()
	w, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func shutdown(t *testing.T, s *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// waitFor polls cond every 10 ms for up to 20 s: the outcome, not the timing,
// is what the tests assert.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 2000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func (s *Server) dropsOf(r DropReason) (n uint64) {
	for i := range s.LoopStats {
		n += s.LoopStats[i].Drops[r].Load()
	}
	var kernel [NumDropReasons]uint64
	s.filterDrops(&kernel)
	return n + kernel[r]
}

// Bad input through real sockets and gnet: every case is dropped and counted
// by reason, none is answered.
func TestServerBadInput(t *testing.T) { forEachBackend(t, testServerBadInput) }

func testServerBadInput(t *testing.T, bc backendCase) {
	w, _ := newSmallWorld(t)
	srv := startServer(t, bc.config(Config{Loops: 1}), w)
	defer shutdown(t, srv)

	c := connectedClient(t, srv.Addr(), 1, 0, 1)
	valid := bytes.Clone(c.enc.Input(&schema.InputFrame{SessionID: c.w.SessionID, N: 1,
		Actions: [schema.MaxActions]schema.Action{{Seq: 1, Kind: uint8(wire.ActionKindMove)}}}))

	// The session's address is c's; a second socket is "another address".
	other, err := newTestClient(srv.Addr(), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer other.close()

	cases := []struct {
		name   string
		from   *testClient
		in     []byte
		reason DropReason
	}{
		{"random bytes", other, []byte("\x01\x02\x03\x04 not a flatbuffer at all, just noise"), DropBadIdentifier},
		{"truncated", other, valid[:len(valid)-8], DropMalformed},
		{"too short", other, valid[:5], DropTruncated},
		{"oversized", other, make([]byte, 3000), DropOversized},
		{"stale session", c, bytes.Clone(c.enc.Input(&schema.InputFrame{SessionID: c.w.SessionID ^ 1<<40})), DropBadSession},
		{"wrong address", other, valid, DropWrongAddress},
	}
	for _, tc := range cases {
		before := srv.dropsOf(tc.reason)
		if err := tc.from.send(tc.in); err != nil {
			t.Fatal(err)
		}
		waitFor(t, tc.name, func() bool { return srv.dropsOf(tc.reason) == before+1 })
	}

	// A flood from one session: rate-limited and counted as one flooder.
	for range 300 {
		c.send(valid)
	}
	waitFor(t, "flood", func() bool { return srv.dropsOf(DropRateLimited) > 0 && srv.LoopStats[0].Flooders.Load() == 1 })

	// None of it was answered: the other socket has only ever received
	// nothing (it never did a handshake).
	if _, err := other.read(time.Now().Add(200 * time.Millisecond)); err != errTimeout {
		t.Fatalf("bad input was answered: %v", err)
	}
}

// A port held by another socket is a clear start-up error, not a shared
// port: the SO_REUSEPORT trap.
func TestServerPortInUse(t *testing.T) { forEachBackend(t, testServerPortInUse) }

func testServerPortInUse(t *testing.T, bc backendCase) {
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	w, _ := newSmallWorld(t)
	s, err := New(bc.config(Config{NoAuth: true, Addr: pc.LocalAddr().String(), Logger: discardLogger()}), w)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); !errors.Is(err, ErrAddrInUse) {
		t.Fatalf("Start on a used port: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	w, _ := newSmallWorld(t)
	for _, c := range []Config{
		{Addr: "localhost:7777"},
		{Addr: "127.0.0.1"},
		{Addr: "127.0.0.1:99999"},
		{Addr: "127.0.0.1:1", RingSize: 1000},
		{Addr: "127.0.0.1:1", Loops: -1},
		{Addr: "127.0.0.1:1", CookieTTL: 10 * time.Second, CookieRotate: time.Second},
		{Addr: "127.0.0.1:1", BatchSize: 5000},
	} {
		if _, err := New(c, w); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

// netio serves the world it is given: its size and tick rate come from the
// World's engine.Config alone (once netio defaulted to 1 region against
// the engine's 3, and its tick period was a second, separate setting).
func TestWorldShapeFromConfig(t *testing.T) {
	ecfg := engine.DefaultConfig()
	ecfg.MaxPlayers, ecfg.Regions, ecfg.TickHz, ecfg.GraceTicks = 8, 2, 10, 30
	s, err := New(Config{NoAuth: true, Addr: "127.0.0.1:0", Logger: discardLogger()}, &tickWorld{cfg: &ecfg})
	if err != nil {
		t.Fatal(err)
	}
	if s.params.regions != 2 || s.params.tickHz != 10 || s.ticker.period != 100*time.Millisecond ||
		s.cfg.shape.grace != 3*time.Second || s.cfg.shape.maxPlayers != 8 {
		t.Fatalf("regions %d, tick_hz %d, period %v, grace %v, slots %d: want the world's 2, 10, 100ms, 3s, 8",
			s.params.regions, s.params.tickHz, s.ticker.period, s.cfg.shape.grace, s.cfg.shape.maxPlayers)
	}
	// A world the engine would refuse is a configuration error here too.
	bad := ecfg
	bad.TickHz = 0
	if _, err := New(Config{NoAuth: true, Addr: "127.0.0.1:0"}, &tickWorld{cfg: &bad}); !errors.Is(err, ErrConfig) {
		t.Fatalf("world with TickHz 0: %v", err)
	}
}

// IPv6 loopback, with the admin endpoints scraped while it runs.
func TestServerIPv6AndAdmin(t *testing.T) { forEachBackend(t, testServerIPv6AndAdmin) }

func testServerIPv6AndAdmin(t *testing.T, bc backendCase) {
	if ln, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback}); err != nil {
		t.Skip("no IPv6 loopback:", err)
	} else {
		ln.Close()
	}
	w, _ := newSmallWorld(t)
	// Two fan-out workers: each with its own dup of the socket.
	s, err := New(bc.config(Config{Addr: "[::1]:0", Loops: 2, FanoutWorkers: 2,
		Logger: discardLogger()}), w)
	if err != nil {
		t.Fatal(err)
	}
	reg := NewRegistry(s)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, s)
	c := connectedClient(t, s.Addr(), 9, 1, 1)
	body, err := c.read(time.Now().Add(10 * time.Second))
	if err != nil || body != wire.BodySnapshot {
		t.Fatalf("no snapshot over IPv6: %v %v", body, err)
	}
	// Ping -> Pong from the loop.
	c.send(c.enc.Ping(&schema.PingFrame{SessionID: c.w.SessionID, T: 42}))
	for range 100 {
		body, err := c.read(time.Now().Add(10 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if body == wire.BodyPong {
			break
		}
	}

	admin := httptest.NewServer(AdminHandler(s, reg))
	defer admin.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(admin.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitFor(t, "healthy", func() bool { code, _ := get("/healthz"); return code == 200 })
	code, body2 := get("/metrics")
	if code != 200 {
		t.Fatalf("/metrics %d", code)
	}
	for _, want := range []string{
		`treasured_datagrams_received_total{loop="0"}`,
		`treasured_drops_total{reason="ring_full"} 0`,
		`treasured_handshakes_total{step="welcome"} 1`,
		`treasured_sessions_active 1`,
		`treasured_pongs_total 1`,
		"treasured_tick_work_seconds_bucket",
		"treasured_tick_jitter_seconds_count",
		"treasured_gc_pauses_seconds_bucket",
		"treasured_alloc_bytes_total",
		"treasured_ring_depth",
		`treasured_datagrams_sent_total{kind="snapshot"}`,
		"go_goroutines",
	} {
		if !strings.Contains(body2, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if code, _ := get("/debug/pprof/"); code != 200 {
		t.Errorf("pprof index %d", code)
	}
}

// Shutdown with nobody connected, and Connect during shutdown.
func TestServerShutdownEmpty(t *testing.T) { forEachBackend(t, testServerShutdownEmpty) }

func testServerShutdownEmpty(t *testing.T, bc backendCase) {
	w, _ := newSmallWorld(t)
	srv := startServer(t, bc.config(Config{Loops: 2}), w)
	waitFor(t, "a tick", func() bool { return srv.Tick() > 0 })
	shutdown(t, srv)
	if !srv.Draining() {
		t.Fatal("not draining after shutdown")
	}
	if ok, msg := srv.health(); ok {
		t.Fatalf("healthy after shutdown: %s", msg)
	}
}

// BenchmarkServerPingPong measures a Ping/Pong round trip over real
// loopback. Our handler allocates nothing per datagram (TestLoopNoAlloc), so
// allocs/op here is gnet's own per-datagram cost (its UDP read path builds a
// conn, a sockaddr and a net.UDPAddr for every datagram) plus the client's.
// One sub-benchmark per backend and layout: under taskset -c 0 (one P) the
// round trip shows what a switch between the client, the loop and the tick
// costs in each (a goroutine switch in the poll layout, a futex hand-off of
// the P between locked threads in the others).
func BenchmarkServerPingPong(b *testing.B) {
	for _, bc := range backendCases() {
		b.Run(bc.name, func(b *testing.B) { benchServerPingPong(b, bc) })
	}
}

func benchServerPingPong(b *testing.B, bc backendCase) {
	w, _ := newSmallWorld(b)
	s, err := New(bc.config(Config{NoAuth: true, Addr: "127.0.0.1:0", Loops: 1,
		SessionRate: 1e6, SessionBurst: 1 << 20, Logger: discardLogger()}), w)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(); err != nil {
		b.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	c := connectedClient(b, s.Addr(), 1, 0, 1)
	ping := bytes.Clone(c.enc.Ping(&schema.PingFrame{SessionID: c.w.SessionID, T: 1}))
	buf := make([]byte, 2048)
	c.conn.SetReadDeadline(time.Time{})
	b.ReportAllocs()
	for b.Loop() {
		c.conn.Write(ping)
		for { // skip snapshots until the Pong
			n, err := c.conn.Read(buf)
			if err != nil {
				b.Fatal(err)
			}
			if body, _ := c.dec.Decode(buf[:n]); body == wire.BodyPong {
				break
			}
		}
	}
}

// A silent session ends after the idle timeout: the sweep runs on the
// loop's own goroutine (gnet's task queue), the engine gets the leave, and
// the snapshots stop.
func TestServerIdleTimeout(t *testing.T) { forEachBackend(t, testServerIdleTimeout) }

func testServerIdleTimeout(t *testing.T, bc backendCase) {
	w, _ := newSmallWorld(t)
	srv := startServer(t, bc.config(Config{Loops: 2,
		IdleTimeout: 300 * time.Millisecond}), w)
	defer shutdown(t, srv)
	c := connectedClient(t, srv.Addr(), 1, 0, 1)
	waitFor(t, "timeout", func() bool {
		var ended uint64
		for i := range srv.LoopStats {
			ended += srv.LoopStats[i].Ended[EndTimeout].Load()
		}
		return ended == 1 && srv.Sessions() == 0 && srv.TickStats.Leaves.Load() == 1
	})
	// Snapshots stop: drain what was queued, then silence.
	for range 1000 {
		if _, err := c.read(time.Now().Add(500 * time.Millisecond)); err == errTimeout {
			return
		} else if err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("snapshots kept coming after the timeout")
}

// When the kernel caps SO_RCVBUF/SO_SNDBUF, start-up says so and names the
// sysctl to raise.
func TestServerBufferWarning(t *testing.T) { forEachBackend(t, testServerBufferWarning) }

func testServerBufferWarning(t *testing.T, bc backendCase) {
	var log syncLog
	w, _ := newSmallWorld(t)
	srv := startServer(t, bc.config(Config{Loops: 1,
		RecvBuffer: 1 << 30, SendBuffer: 1 << 30, Logger: slog.New(slog.NewTextHandler(&log, nil))}), w)
	defer shutdown(t, srv)
	out := log.String()
	if runtime.GOOS == "linux" && (!strings.Contains(out, "net.core.rmem_max") || !strings.Contains(out, "net.core.wmem_max")) {
		t.Fatalf("no warning naming the sysctls in:\n%s", out)
	}
}

type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncLog) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

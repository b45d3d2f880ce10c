package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/treasured/treasured/cmd/treasured/agones"
	"github.com/treasured/treasured/cmd/treasured/agones/agonestest"
	"github.com/treasured/treasured/engine"
	"github.com/treasured/treasured/netio"
)

// stallClock is the real tick clock with a gate: while stalled, the tick
// goroutine blocks in SleepUntil, as it would behind a stuck tick.
type stallClock struct {
	real   netio.Clock
	mu     sync.Mutex
	gate   chan struct{} // non-nil while stalled
	parked chan struct{} // closed when the tick goroutine reaches the gate
}

func (c *stallClock) Now() time.Duration { return c.real.Now() }

func (c *stallClock) SleepUntil(t time.Duration) {
	c.real.SleepUntil(t)
	c.mu.Lock()
	g := c.gate
	if g != nil && c.parked != nil {
		close(c.parked)
		c.parked = nil
	}
	c.mu.Unlock()
	if g != nil {
		<-g
	}
}

// stall closes the gate and returns once the tick goroutine waits at it.
// Only then can no tick run until resume: a tick goroutine that had passed
// the gate just before, and was then held up (a loaded machine, -race),
// would otherwise run one more tick and look healthy again.
func (c *stallClock) stall(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	if c.gate == nil {
		c.gate, c.parked = make(chan struct{}), make(chan struct{})
	}
	p := c.parked
	c.mu.Unlock()
	if p == nil {
		return // already waiting at the gate
	}
	select {
	case <-p:
	case <-time.After(60 * time.Second):
		t.Fatal("the tick goroutine did not reach the stalled clock in 60 s")
	}
}

func (c *stallClock) resume() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gate != nil {
		close(c.gate)
		c.gate = nil
	}
}

// startTestServer starts a real server on loopback with clock clk.
func startTestServer(t *testing.T, clk netio.Clock) *netio.Server {
	t.Helper()
	ecfg := engine.DefaultConfig()
	ecfg.MaxPlayers = 64
	w, err := engine.New(ecfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := netio.New(netio.Config{NoAuth: true, Addr: "127.0.0.1:0", Loops: 1,
		Clock: clk, Logger: slog.New(slog.DiscardHandler)}, netio.EngineWorld(w))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return srv
}

// waitHealth waits, with a generous bound, until srv's health is want.
func waitHealth(t *testing.T, srv *netio.Server, want bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok, msg := srv.Health()
		if ok == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("health still %v (%s) after 60 s", ok, msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAgonesHealthStopsWhenTickStalls: a real server's tick clock stalls,
// and the Agent — wired with the server's own health rule — stops pinging
// Agones; when the tick resumes, so do the pings. The beats are the test's,
// and the stall is observed through the server's health, never timed.
func TestAgonesHealthStopsWhenTickStalls(t *testing.T) {
	clk := &stallClock{real: netio.NewMonoClock()}
	srv := startTestServer(t, clk)
	defer clk.resume() // before the server's cleanup shuts it down
	waitHealth(t, srv, true)

	sc := agonestest.New()
	defer sc.Close()
	beats := make(chan time.Time)
	// What the agent saw at each beat, and during which step, for the
	// failure message.
	var (
		seenMu sync.Mutex
		seen   []string
		step   atomic.Int32
		evals  atomic.Int32 // Status calls
	)
	status := agonesStatus(srv, 64)
	a := &agones.Agent{Client: agones.NewClient(sc.URL, nil), Beats: beats, WorldRegions: 3, Log: slog.New(slog.DiscardHandler),
		Status: func() agones.Status {
			st := status()
			seenMu.Lock()
			seen = append(seen, fmt.Sprintf("step %d: healthy %v (%s)", step.Load(), st.Healthy, st.Reason))
			seenMu.Unlock()
			evals.Add(1)
			return st
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	// beat returns once the agent has judged the health for it. Taking
	// the beat is not enough: the agent asks for the status afterwards,
	// and a test that moved on (resumed the clock) in between made a
	// "stalled" beat ping.
	beat := func() {
		t.Helper()
		n := evals.Load()
		select {
		case beats <- time.Time{}:
		case <-time.After(30 * time.Second):
			t.Fatal("the agent did not take a beat within 30 s")
		}
		for end := time.Now().Add(30 * time.Second); evals.Load() == n; {
			if time.Now().After(end) {
				t.Fatal("the agent did not ask for the status within 30 s of a beat")
			}
			time.Sleep(time.Millisecond)
		}
	}

	// A healthy beat's ping follows its status: wait for it before
	// changing the health.
	pinged := func(n int) {
		t.Helper()
		for end := time.Now().Add(30 * time.Second); healthCalls(sc) < n; {
			if time.Now().After(end) {
				t.Fatalf("%d health pings in 30 s, want %d", healthCalls(sc), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	step.Store(1)
	beat() // ticking: one health ping
	pinged(1)
	step.Store(2)
	clk.stall(t)
	waitHealth(t, srv, false)
	step.Store(3)
	beat() // stalled: none
	beat() // stalled: none
	step.Store(4)
	clk.resume()
	waitHealth(t, srv, true)
	step.Store(5)
	beat() // ticking again: one ping
	pinged(2)
	step.Store(6)
	clk.stall(t)
	waitHealth(t, srv, false)
	step.Store(7)
	beat() // proves the previous beat is done; stalled, so no call
	cancel()
	if err := <-done; !errors.Is(err, agones.ErrStopped) {
		t.Errorf("Run: %v", err)
	}
	clk.resume()

	var got []string
	for _, c := range sc.Calls() {
		got = append(got, c.String())
	}
	want := []string{
		"POST /ready {}",
		`PUT /metadata/label {"key":"treasured-world-regions","value":"3"}`,
		`PUT /metadata/label {"key":"treasured-players","value":"0"}`,
		`PUT /metadata/label {"key":"treasured-capacity","value":"64"}`,
		"POST /health {}",
		"POST /health {}",
	}
	if !slices.Equal(got, want) {
		seenMu.Lock()
		defer seenMu.Unlock()
		t.Fatalf("calls:\n%s\nwant:\n%s\nthe agent saw:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), strings.Join(seen, "\n"))
	}
}

func healthCalls(sc *agonestest.Sidecar) (n int) {
	for _, c := range sc.Calls() {
		if c.String() == "POST /health {}" {
			n++
		}
	}
	return n
}

// TestAgonesShutdownOnFatal: startAgones sends Ready as soon as the server
// listens, and its stop asks Agones to shut down only when the server
// stopped on a fatal error.
func TestAgonesShutdownOnFatal(t *testing.T) {
	srv := startTestServer(t, netio.NewMonoClock())
	for _, fatal := range []error{nil, errors.New("event loops stopped: boom")} {
		sc := agonestest.New()
		o := &options{agonesBase: sc.URL, agonesBeat: time.Hour, maxPlayers: 64, regions: 3}
		stop := startAgones(o, srv, slog.New(slog.DiscardHandler))
		// Ready and the labels set after it: 4 calls before any beat.
		for range 4 {
			select {
			case <-sc.Seen():
			case <-time.After(30 * time.Second):
				t.Fatalf("calls so far: %v", sc.Calls())
			}
		}
		stop(fatal)
		calls := sc.Calls()
		sc.Close()
		if calls[0].String() != "POST /ready {}" {
			t.Errorf("first call %s, want Ready", calls[0])
		}
		gotShutdown := calls[len(calls)-1].String() == "POST /shutdown {}"
		if gotShutdown != (fatal != nil) {
			t.Errorf("fatal %v: calls %v", fatal, calls)
		}
	}
}

// TestAgonesFlags: Agones is off without the sidecar variable, and bad
// settings are usage errors (exit 2) before anything starts.
func TestAgonesFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--agones", "ftp://sidecar"}, nil, "--agones"},
		{nil, map[string]string{agones.EnvPort: "http"}, agones.EnvPort},
		{[]string{"--agones-region", "eu west"}, nil, "--agones-region"},
		{[]string{"--agones-health-every", "0s"}, nil, "--agones-health-every"},
		{nil, map[string]string{"TREASURED_AGONES_REGION": strings.Repeat("x", 64)}, "--agones-region"},
	} {
		var out syncBuffer
		code := run(context.Background(), nil, append([]string{"--pin=false", "--admin="}, tc.args...), env(tc.env), &out, nil)
		if code != exitUsage || !strings.Contains(out.String(), tc.want) {
			t.Errorf("%v %v: exit %d, output %q (want %q)", tc.args, tc.env, code, out.String(), tc.want)
		}
	}
	o := options{agones: "auto", agonesBeat: time.Second}
	if err := checkAgones(&o, env(nil)); err != nil || o.agonesBase != "" {
		t.Errorf("auto without %s: base %q, %v", agones.EnvPort, o.agonesBase, err)
	}
	if err := checkAgones(&o, env(map[string]string{agones.EnvPort: "9358"})); err != nil || o.agonesBase != "http://localhost:9358" {
		t.Errorf("auto with %s=9358: base %q, %v", agones.EnvPort, o.agonesBase, err)
	}
}

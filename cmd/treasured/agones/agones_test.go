package agones_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/treasured/treasured/cmd/treasured/agones"
	"github.com/treasured/treasured/cmd/treasured/agones/agonestest"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestResolve(t *testing.T) {
	env := func(port string) func(string) string {
		return func(k string) string {
			if k == agones.EnvPort {
				return port
			}
			return ""
		}
	}
	for _, tc := range []struct {
		setting, port, want string
		bad                 bool
	}{
		{"auto", "", "", false},
		{"auto", "9358", "http://localhost:9358", false},
		{"", "9358", "http://localhost:9358", false},
		{"off", "9358", "", false},
		{"http://127.0.0.1:9999", "", "http://127.0.0.1:9999", false},
		{"auto", "nine", "", true},
		{"auto", "70000", "", true},
		{"localhost:9358", "", "", true},
		{"ftp://x", "", "", true},
	} {
		got, err := agones.Resolve(tc.setting, env(tc.port))
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("Resolve(%q, port %q) = %q, %v; want %q, error %v", tc.setting, tc.port, got, err, tc.want, tc.bad)
		}
	}
}

func TestValidLabelValue(t *testing.T) {
	for v, want := range map[string]bool{
		"": true, "eu-west-1": true, "a": true, "A.b_c-9": true, strings.Repeat("x", 63): true,
		strings.Repeat("x", 64): false, "-a": false, "a-": false, "a b": false, "a/b": false, "é": false,
	} {
		if got := agones.ValidLabelValue(v); got != want {
			t.Errorf("ValidLabelValue(%q) = %v, want %v", v, got, want)
		}
	}
}

// TestClientCalls: each call is the documented method, path, JSON content
// type and body, and a non-2xx answer is an error naming the call.
func TestClientCalls(t *testing.T) {
	sc := agonestest.New()
	defer sc.Close()
	c := agones.NewClient(sc.URL, nil)
	ctx := context.Background()
	for _, f := range []func() error{
		func() error { return c.Ready(ctx) },
		func() error { return c.Health(ctx) },
		func() error { return c.SetLabel(ctx, "treasured-region", "eu-west") },
		func() error { return c.Shutdown(ctx) },
	} {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		"POST /ready {}",
		"POST /health {}",
		`PUT /metadata/label {"key":"treasured-region","value":"eu-west"}`,
		"POST /shutdown {}",
	}
	calls := sc.Calls()
	if got := callStrings(calls); !slices.Equal(got, want) {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, c := range calls {
		if c.ContentType != "application/json" {
			t.Errorf("%s: Content-Type %q", c, c.ContentType)
		}
	}

	sc.FailNext("/health", 1)
	if err := c.Health(ctx); err == nil || !strings.Contains(err.Error(), "/health") || !strings.Contains(err.Error(), "503") {
		t.Errorf("Health against a failing sidecar: %v", err)
	}
	dead := agones.NewClient("http://127.0.0.1:1", nil)
	if err := dead.Ready(ctx); err == nil {
		t.Error("Ready with no sidecar listening succeeded")
	}
}

func callStrings(calls []agonestest.Call) []string {
	s := make([]string, len(calls))
	for i, c := range calls {
		s[i] = c.String()
	}
	return s
}

// agentRig runs an Agent against a fake sidecar with beats the test sends
// and a scripted Status: the n-th call of Status returns script[n]; past the
// script it repeats the last entry, unhealthy, so extra beats add no call.
type agentRig struct {
	t      *testing.T
	sc     *agonestest.Sidecar
	beats  chan time.Time
	cancel context.CancelFunc
	done   chan error

	mu     sync.Mutex
	script []agones.Status
	calls  int
}

func newAgentRig(t *testing.T, script []agones.Status, labelEvery int, failReady int) *agentRig {
	r := &agentRig{t: t, sc: agonestest.New(), beats: make(chan time.Time), done: make(chan error, 1), script: script}
	t.Cleanup(r.sc.Close)
	r.sc.FailNext("/ready", failReady)
	a := &agones.Agent{
		Client: agones.NewClient(r.sc.URL, nil), Beats: r.beats, Status: r.status,
		Region: "eu-west", WorldRegions: 3, LabelEvery: labelEvery, Log: quiet(),
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- a.Run(ctx) }()
	return r
}

func (r *agentRig) status() agones.Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.calls < len(r.script) {
		r.calls++
		return r.script[r.calls-1]
	}
	last := r.script[len(r.script)-1]
	last.Healthy, last.Reason = false, "script over"
	return last
}

// beat delivers n beats. The channel is unbuffered, so each send returns
// only once the Agent has finished everything before it.
func (r *agentRig) beat(n int) {
	for range n {
		select {
		case r.beats <- time.Time{}:
		case <-time.After(30 * time.Second):
			r.t.Fatal("the agent did not take a beat within 30 s")
		}
	}
}

// stop ends Run once the last beat is fully handled and returns the calls.
func (r *agentRig) stop() []string {
	// A beat past the script proves the previous one is done and adds no
	// call (unhealthy, labels unchanged).
	r.beat(1)
	r.cancel()
	select {
	case err := <-r.done:
		if !errors.Is(err, agones.ErrStopped) {
			r.t.Errorf("Run returned %v", err)
		}
	case <-time.After(30 * time.Second):
		r.t.Fatal("Run did not return within 30 s of cancel")
	}
	return callStrings(r.sc.Calls())
}

// TestAgentLifecycle: Ready (retried while the sidecar is not up), the
// labels, a health ping per healthy beat, none while the server is
// unhealthy (tick stalled), and pings again after it recovers; player
// labels only when changed and at most every LabelEvery beats.
func TestAgentLifecycle(t *testing.T) {
	healthy := func(players int) agones.Status {
		return agones.Status{Healthy: true, Players: players, Capacity: 64 - players}
	}
	stalled := agones.Status{Healthy: false, Reason: "tick stalled for 1.2s at tick 40", Players: 5, Capacity: 59}
	// Status calls: Ready's labels (beat 1), then one per beat.
	rig := newAgentRig(t, []agones.Status{healthy(0), healthy(5), healthy(5), stalled, stalled, healthy(5)}, 2, 1)
	rig.beat(6)
	got := rig.stop()

	want := []string{
		"POST /ready {}", // 503: the sidecar starts after the game server
		"POST /ready {}", // beat 1
		`PUT /metadata/label {"key":"treasured-region","value":"eu-west"}`,
		`PUT /metadata/label {"key":"treasured-world-regions","value":"3"}`,
		`PUT /metadata/label {"key":"treasured-players","value":"0"}`,
		`PUT /metadata/label {"key":"treasured-capacity","value":"64"}`,
		"POST /health {}", // beat 2; player labels not due yet
		"POST /health {}", // beat 3; due and changed
		`PUT /metadata/label {"key":"treasured-players","value":"5"}`,
		`PUT /metadata/label {"key":"treasured-capacity","value":"59"}`,
		// beats 4 and 5: tick stalled, no health ping
		"POST /health {}", // beat 6: recovered; labels unchanged
	}
	if !slices.Equal(got, want) {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestAgentNeverHealthyBeforeReady: while Ready fails, beats retry Ready
// and send nothing else, however healthy the server is.
func TestAgentNeverHealthyBeforeReady(t *testing.T) {
	rig := newAgentRig(t, []agones.Status{{Healthy: true}}, 1, 4)
	rig.beat(4) // the 5th Ready attempt, on beat 4, succeeds
	got := rig.stop()
	if len(got) < 5 {
		t.Fatalf("calls %q", got)
	}
	for i, c := range got[:5] {
		if c != "POST /ready {}" {
			t.Fatalf("call %d = %q before Ready succeeded; all: %q", i, c, got)
		}
	}
	if slices.Contains(got, "POST /health {}") {
		t.Errorf("a health ping although the server never had a healthy beat after Ready: %q", got)
	}
}

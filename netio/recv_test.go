package netio

import (
	"slices"
	"testing"
	"time"

	"github.com/treasured/treasured/netio/udp"
)

// backendCase is one way of receiving: the server tests run once per case,
// so every backend and layout (gnet, mmsg, mmsg with inline I/O, the poll
// layout) goes through the same
// end-to-end, bad-input, idle-timeout, shutdown and journal checks.
type backendCase struct {
	name    string
	backend Backend
	inline  bool          // InlineIO: forces one loop
	pace    time.Duration // RecvPace (poll); 0: the default
}

func backendCases() []backendCase {
	cs := []backendCase{{name: "gnet", backend: BackendGnet}}
	if mmsgSupported {
		cs = append(cs,
			backendCase{name: "mmsg", backend: BackendMmsg},
			backendCase{name: "mmsg-inline", backend: BackendMmsg, inline: true},
			backendCase{name: "poll", backend: BackendPoll},
			backendCase{name: "poll-unpaced", backend: BackendPoll, pace: -1})
	}
	return cs
}

// config returns cfg set up for this case.
// A test that sets no token key runs the plain (NoAuth) datagram path.
func (bc backendCase) config(cfg Config) Config {
	cfg.Backend = bc.backend
	cfg.RecvPace = bc.pace
	if cfg.TokenKey == nil {
		cfg.NoAuth = true
	}
	if bc.inline {
		cfg.InlineIO, cfg.Loops = true, 1
	}
	return cfg
}

func forEachBackend(t *testing.T, f func(*testing.T, backendCase)) {
	for _, bc := range backendCases() {
		t.Run(bc.name, func(t *testing.T) { f(t, bc) })
	}
}

func TestBackendConfig(t *testing.T) {
	for _, s := range []string{"gnet", "mmsg", "poll", "auto"} {
		b, err := ParseBackend(s)
		if err != nil || b.String() != s {
			t.Errorf("ParseBackend(%q) = %v, %v", s, b, err)
		}
	}
	if _, err := ParseBackend("epoll"); err == nil {
		t.Error("ParseBackend accepted epoll")
	}
	bad := []Config{
		{Backend: BackendGnet, InlineIO: true},
		{Backend: 7},
	}
	if mmsgSupported {
		bad = append(bad, Config{Backend: BackendMmsg, InlineIO: true, Loops: 2},
			Config{Backend: BackendPoll, InlineIO: true},
			Config{Backend: BackendPoll, RecvPace: 26 * time.Millisecond}) // over half the 50 ms tick
	} else {
		bad = append(bad, Config{Backend: BackendMmsg}, Config{Backend: BackendPoll})
	}
	for _, c := range bad {
		c.Addr, c.shape = "127.0.0.1:0", worldShape{maxPlayers: 8, regions: 1, tickHz: 20, period: 50 * time.Millisecond}
		if _, err := c.normalize(); err == nil {
			t.Errorf("normalize accepted %+v", c)
		}
	}
}

// BackendAuto: the poll layout exactly when everything shares one CPU
// (one loop, and one P or one CPU in the plan), gnet otherwise; the poll
// layout never locks threads; the reason is kept for the start-up log.
func TestAutoBackend(t *testing.T) {
	cases := []struct {
		name       string
		cfg        Config
		gomaxprocs int
		want       Backend
	}{
		{"one P", Config{}, 1, BackendPoll},
		{"engine and I/O on one CPU", Config{IOCPUs: []int{3}, EngineCPUs: []int{3}}, 2, BackendPoll},
		{"I/O on CPU 0, engine on CPU 1", Config{IOCPUs: []int{0}, EngineCPUs: []int{1}}, 2, BackendGnet},
		{"nothing planned, two Ps", Config{}, 2, BackendGnet},
		{"two loops on one P", Config{Loops: 2}, 1, BackendGnet},
	}
	for _, c := range cases {
		c.cfg.Loops = max(c.cfg.Loops, 1)
		want := c.want
		if !mmsgSupported {
			want = BackendGnet
		}
		got, why := autoBackend(&c.cfg, c.gomaxprocs)
		if got != want || why == "" {
			t.Errorf("%s: %v (%q), want %v", c.name, got, why, want)
		}
	}
	if !mmsgSupported {
		return
	}
	c := Config{NoAuth: true, Addr: "127.0.0.1:0", Backend: BackendPoll, shape: worldShape{maxPlayers: 8, regions: 1, tickHz: 20, period: 50 * time.Millisecond}}
	if _, err := c.normalize(); err != nil || !c.UnlockedThreads || !slices.Contains(c.sockOpts, udp.RawSyscalls) || c.RecvPace != DefaultRecvPace {
		t.Fatalf("poll layout: %v, unlocked %v, socket options %v, receive pace %v", err, c.UnlockedThreads, c.sockOpts, c.RecvPace)
	}
}

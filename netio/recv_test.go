package netio

import (
	"testing"
	"time"
)

// backendCase is one way of receiving: the server tests run once per case,
// so both backends (and the single-CPU inline mode) go through the same
// end-to-end, bad-input, idle-timeout, shutdown and journal checks.
type backendCase struct {
	name    string
	backend Backend
	inline  bool // InlineIO: forces one loop
}

func backendCases() []backendCase {
	cs := []backendCase{{name: "gnet", backend: BackendGnet}}
	if mmsgSupported {
		cs = append(cs,
			backendCase{name: "mmsg", backend: BackendMmsg},
			backendCase{name: "mmsg-inline", backend: BackendMmsg, inline: true})
	}
	return cs
}

// config returns cfg set up for this case.
// A test that sets no token key runs the plain (NoAuth) datagram path.
func (bc backendCase) config(cfg Config) Config {
	cfg.Backend = bc.backend
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
	for _, s := range []string{"gnet", "mmsg"} {
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
		bad = append(bad, Config{Backend: BackendMmsg, InlineIO: true, Loops: 2})
	} else {
		bad = append(bad, Config{Backend: BackendMmsg})
	}
	for _, c := range bad {
		c.Addr, c.shape = "127.0.0.1:0", worldShape{maxPlayers: 8, regions: 1, tickHz: 20, period: 50 * time.Millisecond}
		if _, err := c.normalize(); err == nil {
			t.Errorf("normalize accepted %+v", c)
		}
	}
}

package main

import (
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestParseArgsDefaults(t *testing.T) {
	c, err := ParseArgs(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Rate != 20 || c.Players != 1000 || c.Mix != (Mix{6, 3, 1}) || c.Duration != 10*time.Second {
		t.Fatalf("%+v", c)
	}
}

func TestParseArgsBad(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--players", "0"}, "--players 0"},
		{[]string{"--players", "x"}, "invalid value"},
		{[]string{"--rate", "-1"}, "--rate"},
		{[]string{"--loss", "1.5"}, "--loss"},
		{[]string{"--loss", "NaN"}, "--loss"},
		{[]string{"--mix", "move=1,jump=2"}, "unknown action"},
		{[]string{"--mix", "move=0"}, "all weights are 0"},
		{[]string{"--mix", "move=1,move=2"}, "twice"},
		{[]string{"--mix", "move"}, "name=weight"},
		{[]string{"--addr", "nohost"}, "--addr"},
		{[]string{"--admin", "127.0.0.1:7778"}, "--admin"},
		{[]string{"--duration", "0s"}, "--duration"},
		{[]string{"--progress", "sometimes"}, "--progress"},
		{[]string{"extra"}, "unexpected argument"},
		{[]string{"--no-such-flag"}, "not defined"},
	} {
		_, err := ParseArgs(tc.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestParseMix(t *testing.T) {
	m, err := ParseMix(" pickup=2 , move=5")
	if err != nil || m != (Mix{Move: 5, Pickup: 2}) {
		t.Fatalf("%v %v", m, err)
	}
}

func TestSocketPlan(t *testing.T) {
	loop := netip.MustParseAddrPort("127.0.0.1:7777")
	for _, tc := range []struct {
		args   []string
		server netip.AddrPort
		want   int
		err    string
	}{
		{nil, loop, defaultPlayersPerSocket, ""},
		{[]string{"--players-per-socket", "1"}, loop, 1, ""},
		{[]string{"--players-per-socket", "64"}, loop, 64, ""},
		{nil, netip.MustParseAddrPort("192.0.2.1:7777"), 1, ""},
		{nil, netip.MustParseAddrPort("[::1]:7777"), 1, ""},
		{[]string{"--players-per-socket", "8"}, netip.MustParseAddrPort("192.0.2.1:7777"), 0, "configured on an interface"},
		{[]string{"--players-per-socket", "8"}, netip.MustParseAddrPort("[::1]:7777"), 0, "needs an IPv4 server"},
		{[]string{"--players-per-socket", "8", "--src-range", "10.89.0.0/16"}, netip.MustParseAddrPort("192.0.2.1:7777"), 8, ""},
		{[]string{"--players-per-socket", "8", "--src-range", "10.90.0.0/16"}, netip.MustParseAddrPort("192.0.2.1:7777"), 0, "configured on an interface"},
		{[]string{"--src-range", "10.0.0.0/16"}, loop, 0, "inside 127.0.0.0/8"},
		{[]string{"--src-range", "127.1.0.0/24", "--players", "300"}, loop, 0, "holds 254 player addresses"},
		{[]string{"--src-range", "127.0.0.0/16"}, loop, 0, "contains the server's address"},
	} {
		c, err := ParseArgs(tc.args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		n, err := c.SocketPlan(tc.server, func(a netip.Addr) bool { return netip.MustParsePrefix("10.89.0.0/16").Contains(a) })
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v -> %v: err %v, want %q", tc.args, tc.server, err, tc.err)
			}
			continue
		}
		if err != nil || n != tc.want {
			t.Errorf("%v -> %v: %d, %v; want %d", tc.args, tc.server, n, err, tc.want)
		}
	}
	for _, bad := range [][]string{{"--src-range", "::1/128"}, {"--src-range", "x"}, {"--players-per-socket", "-1"}} {
		if _, err := ParseArgs(bad, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	c, _ := ParseArgs([]string{"--src-range", "127.1.0.0/16"}, io.Discard)
	if a := c.PlayerAddr(0); a != netip.MustParseAddr("127.1.0.1") || c.PlayerAddr(300) != netip.MustParseAddr("127.1.1.45") {
		t.Fatalf("player addresses %v %v", a, c.PlayerAddr(300))
	}
}

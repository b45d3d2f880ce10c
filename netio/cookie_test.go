package netio

import (
	"net/netip"
	"testing"

	"github.com/treasured/treasured/netio/udp"
	"github.com/treasured/treasured/schema"
)

func testAddr(s string) Addr { return udp.AddrFromAddrPort(netip.MustParseAddrPort(s)) }

func TestCookieRoundTrip(t *testing.T) {
	jar := newCookieJar([32]byte{1})
	m := newCookieMAC(jar)
	a := testAddr("127.0.0.1:5000")
	const now, ttl = 1_000_000, 10_000
	c := m.mint(a, 42, now+ttl)
	if got := m.check(a, 42, now+ttl, c, now, ttl); got != cookieOK {
		t.Fatalf("fresh cookie: %v", got)
	}
	// A second loop with its own MAC state accepts it too: loops share the jar.
	if got := newCookieMAC(jar).check(a, 42, now+ttl, c, now, ttl); got != cookieOK {
		t.Fatalf("other loop: %v", got)
	}
	// Exactly at expiry it is still good; one ms later it is not.
	if got := m.check(a, 42, now+ttl, c, now+ttl, ttl); got != cookieOK {
		t.Fatalf("at expiry: %v", got)
	}
	if got := m.check(a, 42, now+ttl, c, now+ttl+1, ttl); got != cookieExpired {
		t.Fatalf("after expiry: %v", got)
	}
}

// Every input of the MAC matters: change any one and the cookie is bad.
func TestCookieBindsEverything(t *testing.T) {
	m := newCookieMAC(newCookieJar([32]byte{2}))
	a := testAddr("[::1]:7000")
	const now, ttl, exp = 5_000, 10_000, 12_000
	c := m.mint(a, 7, exp)
	cases := []struct {
		name   string
		a      Addr
		nonce  uint64
		expiry uint64
		c      schema.Cookie
	}{
		{"other port", testAddr("[::1]:7001"), 7, exp, c},
		{"other ip", testAddr("[::2]:7000"), 7, exp, c},
		{"other nonce", a, 8, exp, c},
		{"other expiry", a, 7, exp - 1, c},
		{"flipped hi bit", a, 7, exp, schema.Cookie{Hi: c.Hi ^ 1, Lo: c.Lo}},
		{"flipped lo bit", a, 7, exp, schema.Cookie{Hi: c.Hi, Lo: c.Lo ^ 1<<63}},
		{"zero cookie", a, 7, exp, schema.Cookie{}},
	}
	for _, tc := range cases {
		if got := m.check(tc.a, tc.nonce, tc.expiry, tc.c, now, ttl); got != cookieBad {
			t.Errorf("%s: %v, want bad", tc.name, got)
		}
	}
	// An expiry further out than the TTL allows is refused before the MAC.
	far := m.mint(a, 7, now+ttl+1)
	if got := m.check(a, 7, now+ttl+1, far, now, ttl); got != cookieBad {
		t.Errorf("expiry beyond TTL: %v", got)
	}
	// IPv4 and its mapped IPv6 form are the same client.
	v4, mapped := testAddr("10.1.2.3:9"), testAddr("[::ffff:10.1.2.3]:9")
	if v4 != mapped {
		t.Fatal("IPv4 and IPv4-mapped keys differ")
	}
}

// A cookie survives one rotation (checked with the previous secret) and dies
// with the second; a new cookie uses the new secret.
func TestCookieRotation(t *testing.T) {
	jar := newCookieJar([32]byte{3})
	m := newCookieMAC(jar)
	a := testAddr("127.0.0.1:1")
	const now, ttl = 0, 10_000
	old := m.mint(a, 1, ttl)
	jar.rotate([32]byte{4})
	if got := m.check(a, 1, ttl, old, now, ttl); got != cookieOK {
		t.Fatalf("after one rotation: %v", got)
	}
	fresh := m.mint(a, 1, ttl)
	if fresh == old {
		t.Fatal("rotation did not change the secret")
	}
	jar.rotate([32]byte{5})
	if got := m.check(a, 1, ttl, old, now, ttl); got != cookieBad {
		t.Fatalf("after two rotations: %v", got)
	}
	if got := m.check(a, 1, ttl, fresh, now, ttl); got != cookieOK {
		t.Fatalf("cookie of the previous secret: %v", got)
	}
}

// Minting and checking run on the event loop for every handshake.
func TestCookieNoAlloc(t *testing.T) {
	m := newCookieMAC(newCookieJar([32]byte{6}))
	a := testAddr("127.0.0.1:2")
	c := m.mint(a, 1, 100)
	if n := testing.AllocsPerRun(200, func() {
		m.mint(a, 1, 100)
		m.check(a, 1, 100, c, 50, 1000)
	}); n != 0 {
		t.Fatalf("mint+check allocate %v", n)
	}
}

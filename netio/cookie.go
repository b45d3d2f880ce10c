package netio

import (
	"hash"
	"sync/atomic"

	"github.com/treasured/treasured/netio/cookiemac"
	"github.com/treasured/treasured/schema"
)

// Cookies are the 128-bit truncated HMAC-SHA256 (schema.Cookie) the server
// hands out in a Challenge and expects back in Connect.
//
// The handshake is stateless until proven (netcode.io's connect token idea,
// DTLS's HelloVerifyRequest): a Hello costs the server one HMAC and no
// memory, and only a sender that can receive at its claimed address can echo
// the cookie, so a spoofed source never gets a slot. 128 bits is what
// wire.Cookie carries; forging it means guessing a 128-bit MAC before it
// expires.

// cookieKeys is one immutable generation of secrets. A rotation publishes a
// new value; nothing writes a published one.
type cookieKeys struct {
	gen     uint64
	cur     [32]byte
	prev    [32]byte
	hasPrev bool
}

// cookieJar holds the current and previous secret, shared by every event
// loop. Rotation replaces the whole pair with one atomic store, so a loop
// never sees a half-written secret; loops notice the new generation on their
// next handshake and rebuild their own HMAC states (cookieMAC).
//
// Two secrets are enough because a cookie lives at most cookieTTL and the
// server rotates no more often than every cookieTTL: a cookie made just
// before a rotation is checked against "previous" until it has expired.
type cookieJar struct {
	keys atomic.Pointer[cookieKeys]
}

func newCookieJar(first [32]byte) *cookieJar {
	j := new(cookieJar)
	j.keys.Store(&cookieKeys{gen: 1, cur: first})
	return j
}

// rotate makes next the current secret and the current one the previous.
// One goroutine rotates (Server's rotator, or a test); loops only read.
func (j *cookieJar) rotate(next [32]byte) {
	old := j.keys.Load()
	j.keys.Store(&cookieKeys{gen: old.gen + 1, cur: next, prev: old.cur, hasPrev: true})
}

// cookieVerdict is the result of checking a Connect's cookie.
type cookieVerdict uint8

const (
	cookieOK      cookieVerdict = iota
	cookieExpired               // expiry is in the past: Reject CookieExpired
	cookieBad                   // MAC does not match either secret: Reject BadCookie
)

// cookieMAC mints and checks cookies for one event loop. It is owned by
// that loop's goroutine: hash.Hash is not safe for concurrent use, and one
// per loop means no lock. It allocates only when it rebuilds its HMAC
// states after a rotation.
type cookieMAC struct {
	jar  *cookieJar
	seen *cookieKeys // generation the HMAC states below were built from
	cur  hash.Hash
	prev hash.Hash // nil when the jar has no previous secret

	scratch cookiemac.Scratch
}

func newCookieMAC(j *cookieJar) *cookieMAC {
	m := &cookieMAC{jar: j}
	m.refresh()
	return m
}

// refresh rebuilds the HMAC states when the jar has rotated since we last
// looked. A pointer compare: generations are never modified after publishing.
func (m *cookieMAC) refresh() {
	k := m.jar.keys.Load()
	if k == m.seen {
		return
	}
	m.seen = k
	m.cur = cookiemac.NewHash(k.cur)
	m.prev = nil
	if k.hasPrev {
		m.prev = cookiemac.NewHash(k.prev)
	}
}

// compute is the cookie of (a, nonce, expiry) under h (cookiemac).
func (m *cookieMAC) compute(h hash.Hash, a Addr, nonce, expiry uint64) schema.Cookie {
	return m.scratch.Cookie(h, a.IP, a.Port, nonce, expiry)
}

// mint returns the cookie for a Hello from a with nonce, valid until expiry
// (server clock, unix milliseconds, as wire.Challenge.expiry says).
func (m *cookieMAC) mint(a Addr, nonce, expiry uint64) schema.Cookie {
	m.refresh()
	return m.compute(m.cur, a, nonce, expiry)
}

// check verifies a cookie echoed in a Connect from a at server time nowMs.
// maxTTL bounds how far in the future a genuine expiry can be; it only
// matters if a secret leaked, and costs nothing.
func (m *cookieMAC) check(a Addr, nonce, expiry uint64, c schema.Cookie, nowMs, maxTTL uint64) cookieVerdict {
	// The expiry is checked first because it is cheap and it is covered by
	// the MAC below: a forged "fresh" expiry still fails the MAC.
	if expiry < nowMs {
		return cookieExpired
	}
	if expiry-nowMs > maxTTL {
		return cookieBad
	}
	m.refresh()
	if sameCookie(m.compute(m.cur, a, nonce, expiry), c) {
		return cookieOK
	}
	if m.prev != nil && sameCookie(m.compute(m.prev, a, nonce, expiry), c) {
		return cookieOK
	}
	return cookieBad
}

// sameCookie compares in constant time (cookiemac.Same).
func sameCookie(a, b schema.Cookie) bool { return cookiemac.Same(a, b) }

package netio

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"sync/atomic"

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

	msg [16 + 2 + 8 + 8]byte // address, port, nonce, expiry
	sum [sha256.Size]byte
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
	m.cur = hmac.New(sha256.New, k.cur[:])
	m.prev = nil
	if k.hasPrev {
		m.prev = hmac.New(sha256.New, k.prev[:])
	}
}

// compute writes the MAC of (a, nonce, expiry) under h. The fields are
// fixed-size and in a fixed order, so no two inputs share an encoding.
func (m *cookieMAC) compute(h hash.Hash, a Addr, nonce, expiry uint64) schema.Cookie {
	copy(m.msg[:16], a.IP[:])
	binary.BigEndian.PutUint16(m.msg[16:], a.Port)
	binary.BigEndian.PutUint64(m.msg[18:], nonce)
	binary.BigEndian.PutUint64(m.msg[26:], expiry)
	h.Reset()
	h.Write(m.msg[:])
	s := h.Sum(m.sum[:0])
	return schema.Cookie{Hi: binary.BigEndian.Uint64(s[0:8]), Lo: binary.BigEndian.Uint64(s[8:16])}
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

// sameCookie compares in constant time (no early exit on the first differing
// word), so response timing says nothing about how much of a guess was right.
func sameCookie(a, b schema.Cookie) bool {
	return (a.Hi^b.Hi)|(a.Lo^b.Lo) == 0
}

// Package cookiemac is the handshake cookie's MAC, the one definition that
// treasured (netio) and the baseline servers (perf) share: HMAC-SHA256 under
// a server secret of the client's address, port, nonce and the cookie's
// expiry, truncated to the 128 bits schema.Cookie carries. Who holds which
// secrets, when they rotate and what a failed check answers is each
// server's own policy; this package only computes and compares.
package cookiemac

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"

	"github.com/treasured/treasured/schema"
)

// NewHash returns the keyed hash cookies are computed with. It allocates;
// keep one per secret and per goroutine (a hash.Hash is not safe for
// concurrent use).
func NewHash(secret [32]byte) hash.Hash {
	return hmac.New(sha256.New, secret[:])
}

// Scratch holds the message and digest buffers of Cookie, so that a cookie
// costs no allocation: a slice passed to a hash.Hash method escapes, so
// these cannot live on the caller's stack. Not safe for concurrent use.
type Scratch struct {
	msg [16 + 2 + 8 + 8]byte // address, port, nonce, expiry
	sum [sha256.Size]byte
}

// Cookie is the MAC of (ip, port, nonce, expiry) under h (from NewHash).
// The fields are fixed-size and in a fixed order, so no two inputs share an
// encoding; ip is the address in its 16-byte form (IPv4-mapped for IPv4).
func (s *Scratch) Cookie(h hash.Hash, ip [16]byte, port uint16, nonce, expiry uint64) schema.Cookie {
	copy(s.msg[:16], ip[:])
	binary.BigEndian.PutUint16(s.msg[16:], port)
	binary.BigEndian.PutUint64(s.msg[18:], nonce)
	binary.BigEndian.PutUint64(s.msg[26:], expiry)
	h.Reset()
	h.Write(s.msg[:])
	d := h.Sum(s.sum[:0])
	return schema.Cookie{Hi: binary.BigEndian.Uint64(d[0:8]), Lo: binary.BigEndian.Uint64(d[8:16])}
}

// Same compares in constant time (no early exit on the first differing
// word), so response timing says nothing about how much of a guess was
// right.
func Same(a, b schema.Cookie) bool {
	return (a.Hi^b.Hi)|(a.Lo^b.Lo) == 0
}

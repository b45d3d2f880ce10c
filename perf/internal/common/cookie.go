package common

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// CookieTTL is how long a Challenge's cookie is accepted.
const CookieTTL = 10 * time.Second

// Cookies mints and checks handshake cookies: HMAC-SHA256(secret, address,
// nonce, expiry) truncated to 128 bits, as treasured does. Not safe for
// concurrent use.
type Cookies struct {
	secret [32]byte
}

// NewCookies draws a random secret.
func NewCookies() *Cookies {
	c := &Cookies{}
	if _, err := rand.Read(c.secret[:]); err != nil {
		panic(err)
	}
	return c
}

func (c *Cookies) mac(a netip.AddrPort, nonce, expiry uint64) schema.Cookie {
	var msg [16 + 2 + 8 + 8]byte
	ip := a.Addr().As16()
	copy(msg[:16], ip[:])
	binary.BigEndian.PutUint16(msg[16:], a.Port())
	binary.BigEndian.PutUint64(msg[18:], nonce)
	binary.BigEndian.PutUint64(msg[26:], expiry)
	h := hmac.New(sha256.New, c.secret[:])
	h.Write(msg[:])
	s := h.Sum(nil)
	return schema.Cookie{Hi: binary.BigEndian.Uint64(s[0:8]), Lo: binary.BigEndian.Uint64(s[8:16])}
}

// Challenge answers a Hello from a.
func (c *Cookies) Challenge(a netip.AddrPort, nonce uint64, now time.Time) schema.ChallengeFrame {
	exp := uint64(now.Add(CookieTTL).UnixMilli())
	return schema.ChallengeFrame{Cookie: c.mac(a, nonce, exp), Expiry: exp, ClientNonce: nonce}
}

// Check verifies a Connect's cookie; the reject reason when it fails.
func (c *Cookies) Check(a netip.AddrPort, f *schema.ConnectFrame, now time.Time) (ok bool, reason wire.RejectReason) {
	if f.Version != schema.Version {
		return false, wire.RejectReasonBadVersion
	}
	if f.Expiry < uint64(now.UnixMilli()) {
		return false, wire.RejectReasonCookieExpired
	}
	if c.mac(a, f.ClientNonce, f.Expiry) != f.Cookie {
		return false, wire.RejectReasonBadCookie
	}
	return true, wire.RejectReasonUnknown
}

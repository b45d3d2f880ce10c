package common

import (
	"crypto/rand"
	"hash"
	"net/netip"
	"time"

	"github.com/treasured/treasured/netio/cookiemac"
	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// CookieTTL is how long a Challenge's cookie is accepted.
const CookieTTL = 10 * time.Second

// Cookies mints and checks handshake cookies with treasured's MAC
// (netio/cookiemac) under one secret that never rotates. Not safe for
// concurrent use.
type Cookies struct {
	h       hash.Hash
	scratch cookiemac.Scratch
}

// NewCookies draws a random secret.
func NewCookies() *Cookies {
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		panic(err) // crypto/rand.Read does not fail on a supported platform
	}
	return &Cookies{h: cookiemac.NewHash(secret)}
}

func (c *Cookies) mac(a netip.AddrPort, nonce, expiry uint64) schema.Cookie {
	return c.scratch.Cookie(c.h, a.Addr().As16(), a.Port(), nonce, expiry)
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
	if !cookiemac.Same(c.mac(a, f.ClientNonce, f.Expiry), f.Cookie) {
		return false, wire.RejectReasonBadCookie
	}
	return true, wire.RejectReasonUnknown
}

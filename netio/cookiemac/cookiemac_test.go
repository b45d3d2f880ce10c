package cookiemac

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/treasured/treasured/schema"
)

// TestCookieIsTruncatedHMAC: the cookie is the first 128 bits of
// HMAC-SHA256(secret, ip16 || port || nonce || expiry), big-endian, computed
// here independently, and the same Scratch and hash give the same answer
// on reuse.
func TestCookieIsTruncatedHMAC(t *testing.T) {
	secret := [32]byte{1, 2, 3, 31: 9}
	a := netip.MustParseAddrPort("192.0.2.7:4000")
	const nonce, expiry = 0x0102030405060708, 1_700_000_000_000

	var msg []byte
	ip := a.Addr().As16()
	msg = append(msg, ip[:]...)
	msg = binary.BigEndian.AppendUint16(msg, a.Port())
	msg = binary.BigEndian.AppendUint64(msg, nonce)
	msg = binary.BigEndian.AppendUint64(msg, expiry)
	mac := hmac.New(sha256.New, secret[:])
	mac.Write(msg)
	d := mac.Sum(nil)
	want := schema.Cookie{Hi: binary.BigEndian.Uint64(d[:8]), Lo: binary.BigEndian.Uint64(d[8:16])}

	var s Scratch
	h := NewHash(secret)
	for range 2 {
		if got := s.Cookie(h, ip, a.Port(), nonce, expiry); got != want {
			t.Fatalf("cookie %x, want %x", got, want)
		}
	}
	if got := s.Cookie(NewHash([32]byte{}), ip, a.Port(), nonce, expiry); Same(got, want) {
		t.Error("another secret gives the same cookie")
	}
	if got := s.Cookie(h, ip, a.Port()+1, nonce, expiry); Same(got, want) {
		t.Error("another port gives the same cookie")
	}
}

func TestCookieAllocatesNothing(t *testing.T) {
	var s Scratch
	h := NewHash([32]byte{7})
	ip := netip.MustParseAddr("::1").As16()
	if n := testing.AllocsPerRun(100, func() { s.Cookie(h, ip, 1, 2, 3) }); n != 0 {
		t.Errorf("%v allocations per cookie", n)
	}
}

func TestSame(t *testing.T) {
	a := schema.Cookie{Hi: 1, Lo: 2}
	if !Same(a, a) || Same(a, schema.Cookie{Hi: 1, Lo: 3}) || Same(a, schema.Cookie{Hi: 0, Lo: 2}) {
		t.Error("Same disagrees with ==")
	}
}

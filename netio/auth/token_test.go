package auth

import (
	"bytes"
	crand "crypto/rand"
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

// seeded is a deterministic byte source for tests (ChaCha8 seeded by name).
func seeded(seed byte) *rand.ChaCha8 {
	var s [32]byte
	s[0] = seed
	return rand.NewChaCha8(s)
}

var (
	testNow    = time.Unix(1_800_000_000, 0)
	testServer = netip.MustParseAddrPort("127.0.0.1:7777")
	testOther  = netip.MustParseAddrPort("127.0.0.2:7777")
)

func testKey(t testing.TB, id uint32) *Key {
	t.Helper()
	k, err := GenerateKey(id, seeded(byte(id)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func issue(t testing.TB, k *Key, c Claims) ([]byte, SessionKeys) {
	t.Helper()
	tok, keys, err := k.Issue(nil, c, seeded(7))
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) != TokenSize {
		t.Fatalf("token is %d bytes, want %d", len(tok), TokenSize)
	}
	return tok, keys
}

func validClaims() Claims {
	return Claims{
		UserID:  42,
		Servers: []netip.AddrPort{netip.MustParseAddrPort("[2001:db8::1]:7777"), testServer},
		Expires: testNow.Add(30 * time.Second),
	}
}

func TestTokenRoundTrip(t *testing.T) {
	k := testKey(t, 1)
	tok, keys := issue(t, k, validClaims())
	v, err := NewVerifier(k, nil, []netip.AddrPort{testServer})
	if err != nil {
		t.Fatal(err)
	}
	var got Token
	if err := v.Verify(tok, testNow, &got); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got.UserID != 42 || got.KeyID != 1 || got.Expires != uint64(testNow.Unix()+30) || got.Keys != keys {
		t.Fatalf("token decoded as %+v", got)
	}
	want := validClaims().Servers
	if s := got.Servers(); len(s) != 2 || s[0] != want[0] || s[1] != want[1] {
		t.Fatalf("servers %v, want %v", s, want)
	}
	if got.ID() != TokenID(tok[offNonce:offNonce+16]) {
		t.Fatal("token id is not the nonce's first 16 bytes")
	}
}

// TestTokenRefusals: each way a token can be wrong is refused with its own
// error, which the server will count under its own reason.
func TestTokenRefusals(t *testing.T) {
	cur, prev, retired := testKey(t, 3), testKey(t, 2), testKey(t, 1)
	v, err := NewVerifier(cur, prev, []netip.AddrPort{testServer})
	if err != nil {
		t.Fatal(err)
	}
	good, _ := issue(t, cur, validClaims())
	fromPrev, _ := issue(t, prev, validClaims())
	fromRetired, _ := issue(t, retired, validClaims())
	other := validClaims()
	other.Servers = []netip.AddrPort{testOther}
	forOther, _ := issue(t, cur, other)
	// A key holder could not make this one, but it shows the server checks
	// the port too.
	otherPort := validClaims()
	otherPort.Servers = []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:7778")}
	forOtherPort, _ := issue(t, cur, otherPort)

	flip := func(b []byte, i int) []byte {
		c := bytes.Clone(b)
		c[i] ^= 1
		return c
	}
	// A forged key id pointing at the current key: the header is
	// authenticated, so this fails the signature.
	forgedID := bytes.Clone(fromRetired)
	forgedID[offKeyID] = 3
	// An attacker extending the expiry of a token fails the signature too.
	extended := bytes.Clone(good)
	extended[offExpires+2]++

	ver2 := bytes.Clone(good)
	ver2[offVersion] = 2
	// Random bytes behind a header that passes every cheap check: only the
	// signature can refuse them.
	randomGarbage := make([]byte, TokenSize)
	_, _ = crand.Read(randomGarbage)
	copy(randomGarbage, good[:offNonce])

	cases := []struct {
		name string
		tok  []byte
		now  time.Time
		want error
	}{
		{"valid", good, testNow, nil},
		{"previous key during rotation", fromPrev, testNow, nil},
		{"expired", good, testNow.Add(30 * time.Second), ErrExpired},
		{"long expired", good, testNow.Add(time.Hour), ErrExpired},
		{"other server address", forOther, testNow, ErrWrongServer},
		{"other server port", forOtherPort, testNow, ErrWrongServer},
		{"retired key", fromRetired, testNow, ErrUnknownKey},
		{"retired key relabelled", forgedID, testNow, ErrBadSignature},
		{"bad signature: tag", flip(good, TokenSize-1), testNow, ErrBadSignature},
		{"bad signature: sealed part", flip(good, headerSize+5), testNow, ErrBadSignature},
		{"bad signature: nonce", flip(good, offNonce), testNow, ErrBadSignature},
		{"bad signature: expiry extended", extended, testNow, ErrBadSignature},
		{"truncated by one", good[:TokenSize-1], testNow, ErrTruncated},
		{"truncated to header", good[:headerSize], testNow, ErrTruncated},
		{"empty", nil, testNow, ErrTruncated},
		{"too long", append(bytes.Clone(good), 0), testNow, ErrTruncated},
		{"reserved byte set", flip(good, offReserved+1), testNow, ErrMalformed},
		{"garbage", bytes.Repeat([]byte{0x5a}, TokenSize), testNow, ErrVersion},
		{"zeros", make([]byte, TokenSize), testNow, ErrVersion},
		{"version 2", ver2, testNow, ErrVersion},
		{"random garbage with a valid header", randomGarbage, testNow, ErrBadSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got Token
			if err := v.Verify(c.tok, c.now, &got); !errors.Is(err, c.want) {
				t.Fatalf("Verify = %v, want %v", err, c.want)
			}
		})
	}
}

// TestTokenSealedContentChecked: a token whose sealed part a key holder
// filled wrongly (no address, a zero port, bytes in the padding) is still
// refused, so every accepted token has one encoding.
func TestTokenSealedContentChecked(t *testing.T) {
	k := testKey(t, 1)
	v, err := NewVerifier(k, nil, []netip.AddrPort{testServer})
	if err != nil {
		t.Fatal(err)
	}
	good, _ := issue(t, k, validClaims())
	var tok Token
	if err := v.Verify(good, testNow, &tok); err != nil {
		t.Fatal(err)
	}
	plain := tok.plain
	mutations := map[string]func(p *[privateSize]byte){
		"no address":            func(p *[privateSize]byte) { p[privCount] = 0 },
		"five addresses":        func(p *[privateSize]byte) { p[privCount] = 5 },
		"unknown family":        func(p *[privateSize]byte) { p[privAddrs] = 5 },
		"zero port":             func(p *[privateSize]byte) { p[privAddrs+addrSize+17], p[privAddrs+addrSize+18] = 0, 0 },
		"v4 with trailing byte": func(p *[privateSize]byte) { p[privAddrs+addrSize+10] = 1 },
		"unused slot not zero":  func(p *[privateSize]byte) { p[privAddrs+3*addrSize] = familyV4 },
		"padding not zero":      func(p *[privateSize]byte) { p[privateSize-1] = 1 },
	}
	for name, m := range mutations {
		t.Run(name, func(t *testing.T) {
			p := plain
			m(&p)
			b := resealed(t, k, good[:headerSize], p[:])
			if err := v.Verify(b, testNow, &tok); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Verify = %v, want ErrMalformed", err)
			}
		})
	}
}

// resealed builds a token from a header and a chosen plaintext, as only a
// key holder can.
func resealed(t testing.TB, k *Key, hdr, plain []byte) []byte {
	t.Helper()
	out := append([]byte(nil), hdr...)
	return k.aead.Seal(out, hdr[offNonce:offNonce+NonceSize], plain, hdr)
}

func TestIssueRefusesBadClaims(t *testing.T) {
	k := testKey(t, 1)
	bad := map[string]Claims{
		"no server":     {UserID: 1, Expires: testNow},
		"five servers":  {UserID: 1, Expires: testNow, Servers: []netip.AddrPort{testServer, testServer, testServer, testServer, testServer}},
		"zero port":     {UserID: 1, Expires: testNow, Servers: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")}},
		"zoned address": {UserID: 1, Expires: testNow, Servers: []netip.AddrPort{netip.MustParseAddrPort("[fe80::1%eth0]:7777")}},
		"no expiry":     {UserID: 1, Servers: []netip.AddrPort{testServer}},
	}
	for name, c := range bad {
		if _, _, err := k.Issue(nil, c, seeded(1)); err == nil {
			t.Errorf("%s: Issue accepted %+v", name, c)
		}
	}
}

func TestNewVerifierRefusesBadConfig(t *testing.T) {
	k1, k1b := testKey(t, 1), testKey(t, 1)
	if _, err := NewVerifier(nil, nil, []netip.AddrPort{testServer}); err == nil {
		t.Error("accepted no current key")
	}
	if _, err := NewVerifier(k1, k1b, []netip.AddrPort{testServer}); err == nil {
		t.Error("accepted two keys with one id")
	}
	if _, err := NewVerifier(k1, nil, nil); err == nil {
		t.Error("accepted no server address")
	}
	if _, err := NewVerifier(k1, nil, []netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:7777")}); err == nil {
		t.Error("accepted a wildcard server address")
	}
}

// TestVerifyIPv4Mapped: a server configured with ::ffff:127.0.0.1 accepts
// a token for 127.0.0.1, the same address.
func TestVerifyIPv4Mapped(t *testing.T) {
	k := testKey(t, 1)
	tok, _ := issue(t, k, validClaims())
	v, err := NewVerifier(k, nil, []netip.AddrPort{netip.MustParseAddrPort("[::ffff:127.0.0.1]:7777")})
	if err != nil {
		t.Fatal(err)
	}
	var got Token
	if err := v.Verify(tok, testNow, &got); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyNoAlloc: refusing garbage and accepting a good token allocate
// nothing, so a Connect flood costs no garbage collection.
func TestVerifyNoAlloc(t *testing.T) {
	k := testKey(t, 1)
	v, err := NewVerifier(k, testKey(t, 2), []netip.AddrPort{testServer})
	if err != nil {
		t.Fatal(err)
	}
	good, _ := issue(t, k, validClaims())
	forged := bytes.Clone(good)
	forged[TokenSize-1] ^= 1
	inputs := map[string][]byte{"good": good, "forged": forged, "short": good[:17], "zeros": make([]byte, TokenSize)}
	var tok Token
	for name, in := range inputs {
		if a := testing.AllocsPerRun(200, func() { _ = v.Verify(in, testNow, &tok) }); a != 0 {
			t.Errorf("%s: %v allocations per Verify", name, a)
		}
	}
}

package auth

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// Token layout (docs/PROTOCOL.md "Token layout (208 bytes)"). Every field has a fixed offset so the parser never loops over
// attacker-chosen lengths.
const (
	TokenVersion = 1

	KeySize   = chacha20poly1305.KeySize    // 32: token keys and session keys
	NonceSize = chacha20poly1305.NonceSizeX // 24: random per token, also its id
	MaxAddrs  = 4                           // server addresses one token may name

	headerSize  = 40 // version, reserved, key id, expiry, nonce: the AEAD's additional data
	addrSize    = 19 // family, 16 address bytes, port
	privateSize = 152
	tagSize     = chacha20poly1305.Overhead

	// TokenSize is the exact length of every version 1 token.
	TokenSize = headerSize + privateSize + tagSize // 208

	offVersion  = 0
	offReserved = 1 // 3 bytes, zero
	offKeyID    = 4
	offExpires  = 8
	offNonce    = 16

	privUser  = 0
	privC2S   = 8
	privS2C   = privC2S + KeySize
	privCount = privS2C + KeySize
	privAddrs = privCount + 1
	privPad   = privAddrs + MaxAddrs*addrSize // zero up to privateSize

	familyNone = 0
	familyV4   = 4
	familyV6   = 6
)

// Each refusal has its own error so the server can count it under its own
// reason; none of them wraps details from the token, which is attacker input.
var (
	ErrTruncated    = errors.New("auth: token has the wrong length")
	ErrVersion      = errors.New("auth: token version not supported")
	ErrMalformed    = errors.New("auth: token fields malformed")
	ErrUnknownKey   = errors.New("auth: token sealed with a retired or unknown key")
	ErrExpired      = errors.New("auth: token expired")
	ErrBadSignature = errors.New("auth: token signature does not verify")
	ErrWrongServer  = errors.New("auth: token issued for another server address")
)

// TokenID identifies a token for the replay cache: the first 16 bytes of its
// random nonce, 128 bits no issuer repeats by chance.
type TokenID [16]byte

// SessionKeys authenticate the datagrams of one session, one key per
// direction so a datagram can never be reflected back as valid.
type SessionKeys struct {
	ClientToServer [KeySize]byte
	ServerToClient [KeySize]byte
}

// Key is one token key of the shared secret between the backend that issues
// tokens and the servers that accept them. The ID travels in the clear so a
// server holding the current and previous keys knows which to try.
type Key struct {
	ID     uint32
	secret [KeySize]byte
	aead   cipher.AEAD
}

// NewKey wraps a 32-byte secret.
func NewKey(id uint32, secret []byte) (*Key, error) {
	if len(secret) != KeySize {
		return nil, fmt.Errorf("auth: key %d: secret is %d bytes, want %d", id, len(secret), KeySize)
	}
	aead, err := chacha20poly1305.NewX(secret)
	if err != nil {
		return nil, fmt.Errorf("auth: key %d: %w", id, err)
	}
	k := &Key{ID: id, aead: aead}
	copy(k.secret[:], secret)
	return k, nil
}

// GenerateKey draws a new secret from rnd (crypto/rand.Reader in production).
func GenerateKey(id uint32, rnd io.Reader) (*Key, error) {
	var s [KeySize]byte
	if _, err := io.ReadFull(rnd, s[:]); err != nil {
		return nil, fmt.Errorf("auth: generating key %d: %w", id, err)
	}
	return NewKey(id, s[:])
}

// Secret returns a copy of the key's secret, for writing a key file.
func (k *Key) Secret() [KeySize]byte { return k.secret }

// Claims is what an issuer vouches for in a token.
type Claims struct {
	UserID  uint64
	Servers []netip.AddrPort // 1..MaxAddrs; the servers that may accept it
	Expires time.Time        // truncated to the second
}

// Issue seals a new token for c into dst (appended; pass dst[:0] of a
// TokenSize buffer to reuse it) with fresh session keys, drawing the nonce
// and keys from rnd. The backend hands the token and the keys to the client
// over its own authenticated channel (HTTPS); the server learns the keys
// from the token alone.
func (k *Key) Issue(dst []byte, c Claims, rnd io.Reader) ([]byte, SessionKeys, error) {
	var keys SessionKeys
	if len(c.Servers) == 0 || len(c.Servers) > MaxAddrs {
		return dst, keys, fmt.Errorf("auth: a token names 1 to %d server addresses, got %d", MaxAddrs, len(c.Servers))
	}
	if c.Expires.Unix() <= 0 {
		return dst, keys, fmt.Errorf("auth: token expiry %v is not after 1970", c.Expires)
	}
	var hdr [headerSize]byte
	hdr[offVersion] = TokenVersion
	binary.LittleEndian.PutUint32(hdr[offKeyID:], k.ID)
	binary.LittleEndian.PutUint64(hdr[offExpires:], uint64(c.Expires.Unix()))
	if _, err := io.ReadFull(rnd, hdr[offNonce:offNonce+NonceSize]); err != nil {
		return dst, keys, fmt.Errorf("auth: token nonce: %w", err)
	}
	if _, err := io.ReadFull(rnd, keys.ClientToServer[:]); err != nil {
		return dst, keys, fmt.Errorf("auth: session key: %w", err)
	}
	if _, err := io.ReadFull(rnd, keys.ServerToClient[:]); err != nil {
		return dst, keys, fmt.Errorf("auth: session key: %w", err)
	}
	var priv [privateSize]byte
	if err := putPrivate(&priv, c.UserID, &keys, c.Servers); err != nil {
		return dst, keys, err
	}
	dst = append(dst, hdr[:]...)
	dst = k.aead.Seal(dst, hdr[offNonce:offNonce+NonceSize], priv[:], hdr[:])
	return dst, keys, nil
}

// putPrivate encodes the sealed part; decodePrivate is its inverse.
func putPrivate(p *[privateSize]byte, user uint64, keys *SessionKeys, servers []netip.AddrPort) error {
	*p = [privateSize]byte{}
	binary.LittleEndian.PutUint64(p[privUser:], user)
	copy(p[privC2S:], keys.ClientToServer[:])
	copy(p[privS2C:], keys.ServerToClient[:])
	p[privCount] = byte(len(servers))
	for i, ap := range servers {
		if err := putAddr(p[privAddrs+i*addrSize:], ap); err != nil {
			return err
		}
	}
	return nil
}

func putAddr(b []byte, ap netip.AddrPort) error {
	if !ap.IsValid() || ap.Port() == 0 {
		return fmt.Errorf("auth: server address %v has no address or port", ap)
	}
	a := ap.Addr().Unmap()
	switch {
	case a.Is4():
		b[0] = familyV4
		v := a.As4()
		copy(b[1:], v[:])
	case a.Zone() != "":
		return fmt.Errorf("auth: server address %v has a zone, which a token cannot carry", ap)
	default:
		b[0] = familyV6
		v := a.As16()
		copy(b[1:], v[:])
	}
	binary.LittleEndian.PutUint16(b[17:], ap.Port())
	return nil
}

// getAddr decodes one address slot; unused slots and padding must be zero so
// a token has exactly one encoding.
func getAddr(b []byte) (netip.AddrPort, error) {
	port := binary.LittleEndian.Uint16(b[17:])
	switch b[0] {
	case familyV4:
		for _, x := range b[5:17] {
			if x != 0 {
				return netip.AddrPort{}, ErrMalformed
			}
		}
		if port == 0 {
			return netip.AddrPort{}, ErrMalformed
		}
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[1:5])), port), nil
	case familyV6:
		a := netip.AddrFrom16([16]byte(b[1:17]))
		if port == 0 || a.Is4In6() {
			return netip.AddrPort{}, ErrMalformed
		}
		return netip.AddrPortFrom(a, port), nil
	}
	return netip.AddrPort{}, ErrMalformed
}

// Token is a verified token. Verify fills it in place, so a server keeps one
// per event loop and validation allocates nothing.
type Token struct {
	KeyID   uint32
	Expires uint64 // Unix seconds
	Nonce   [NonceSize]byte
	UserID  uint64
	Keys    SessionKeys
	NAddrs  int
	Addrs   [MaxAddrs]netip.AddrPort

	plain [privateSize]byte // AEAD output, kept here so Verify does not allocate
}

// ID is the token's replay-cache key.
func (t *Token) ID() TokenID { return TokenID(t.Nonce[:16]) }

// Servers is the token's server addresses.
func (t *Token) Servers() []netip.AddrPort { return t.Addrs[:t.NAddrs] }

// ParseHeader reads the clear part of a token: its length, version and
// reserved bytes are checked, nothing is authenticated yet. It never
// allocates, so a flood of garbage Connects costs no garbage collection.
func ParseHeader(b []byte, t *Token) error {
	if len(b) != TokenSize {
		return ErrTruncated
	}
	if b[offVersion] != TokenVersion {
		return ErrVersion
	}
	if b[offReserved]|b[offReserved+1]|b[offReserved+2] != 0 {
		return ErrMalformed
	}
	t.KeyID = binary.LittleEndian.Uint32(b[offKeyID:])
	t.Expires = binary.LittleEndian.Uint64(b[offExpires:])
	copy(t.Nonce[:], b[offNonce:offNonce+NonceSize])
	return nil
}

// Verifier validates tokens statelessly: signature under the current or
// previous key, expiry, and that the token names this server. Whether the
// token was used before is server state (ReplayCache). A Verifier is
// read-only after construction, so event loops share one.
type Verifier struct {
	current, previous *Key
	self              []netip.AddrPort
}

// NewVerifier accepts tokens sealed with current or, during a rotation,
// previous (nil when there is none), naming one of self: the addresses
// clients are told to reach this server at (not a wildcard bind address).
func NewVerifier(current, previous *Key, self []netip.AddrPort) (*Verifier, error) {
	if current == nil {
		return nil, errors.New("auth: verifier needs a current key")
	}
	if previous != nil && previous.ID == current.ID {
		return nil, fmt.Errorf("auth: current and previous key share id %d", current.ID)
	}
	if len(self) == 0 {
		return nil, errors.New("auth: verifier needs this server's public address")
	}
	v := &Verifier{current: current, previous: previous}
	for _, ap := range self {
		if !ap.IsValid() || ap.Port() == 0 || ap.Addr().IsUnspecified() {
			return nil, fmt.Errorf("auth: server address %v is not one a client can reach", ap)
		}
		v.self = append(v.self, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
	}
	return v, nil
}

// Verify checks b and fills t. Cheap checks come first so garbage costs no
// cryptography; the expiry is read before the signature is checked, which is
// safe because the AEAD authenticates the header and a forged expiry fails
// there.
func (v *Verifier) Verify(b []byte, now time.Time, t *Token) error {
	if err := ParseHeader(b, t); err != nil {
		return err
	}
	var k *Key
	switch {
	case t.KeyID == v.current.ID:
		k = v.current
	case v.previous != nil && t.KeyID == v.previous.ID:
		k = v.previous
	default:
		return ErrUnknownKey
	}
	if n := now.Unix(); n < 0 || t.Expires <= uint64(n) {
		return ErrExpired
	}
	if _, err := k.aead.Open(t.plain[:0], b[offNonce:offNonce+NonceSize], b[headerSize:], b[:headerSize]); err != nil {
		return ErrBadSignature
	}
	if err := t.decodePrivate(); err != nil {
		return err
	}
	for _, ap := range t.Servers() {
		for _, s := range v.self {
			if ap == s {
				return nil
			}
		}
	}
	return ErrWrongServer
}

// decodePrivate reads the authenticated part. A token that verifies came from
// a key holder, but its content is still checked: one encoding per token.
func (t *Token) decodePrivate() error {
	p := &t.plain
	t.UserID = binary.LittleEndian.Uint64(p[privUser:])
	copy(t.Keys.ClientToServer[:], p[privC2S:privS2C])
	copy(t.Keys.ServerToClient[:], p[privS2C:privCount])
	n := int(p[privCount])
	if n < 1 || n > MaxAddrs {
		t.NAddrs = 0
		return ErrMalformed
	}
	t.NAddrs = n
	for i := range MaxAddrs {
		slot := p[privAddrs+i*addrSize : privAddrs+(i+1)*addrSize]
		if i >= n {
			if !allZero(slot) {
				return ErrMalformed
			}
			t.Addrs[i] = netip.AddrPort{}
			continue
		}
		ap, err := getAddr(slot)
		if err != nil {
			return err
		}
		t.Addrs[i] = ap
	}
	if !allZero(p[privPad:]) {
		return ErrMalformed
	}
	return nil
}

func allZero(b []byte) bool { return !slices.ContainsFunc(b, isNonZero) }

func isNonZero(x byte) bool { return x != 0 }

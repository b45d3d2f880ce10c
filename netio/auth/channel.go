package auth

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"

	"golang.org/x/crypto/chacha20poly1305"
)

// Datagram layout (docs/PROTOCOL.md "Authenticated datagrams"):
//
//	0   8  session id, u64 LE, bit 63 set   clear, authenticated
//	8   8  sequence number, u64 LE, from 1  clear, authenticated; the nonce;
//	         bit 63 is the urgent mark (UrgentBit), not part of the number
//	16  n  body (a protocol version 1 message), encrypted
//	16+n 16 Poly1305 tag
//
// Bit 63 of the session id puts a byte >= 0x80 at offset 7, where a version
// 1 FlatBuffers datagram has an ASCII file identifier byte, so a receiver
// tells the two kinds apart by one byte.
const (
	HeaderSize = 16
	Overhead   = HeaderSize + tagSize // 32 bytes added to every datagram

	sessionBit = uint64(1) << 63

	// UrgentBit, set in the sequence number field, marks a datagram the
	// receiver should read ahead of bulk traffic (a client's Ping: the
	// server steers it to a socket it reads between the fan-out's send
	// batches). The mark is part of the authenticated header, so only the
	// session's key holder can set or clear it, and it is a scheduling
	// hint only: a receiver treats the datagram the same either way.
	// Sequence numbers themselves stay below it.
	UrgentBit = uint64(1) << 63

	// UrgentByte is the offset of the byte holding UrgentBit (the top byte
	// of the little-endian sequence number), for a kernel program that
	// reads single bytes.
	UrgentByte = 15
)

// Datagram refusals, one error each so every one is counted apart.
var (
	ErrShortDatagram    = errors.New("auth: datagram shorter than the authentication overhead")
	ErrWrongSession     = errors.New("auth: datagram for another session")
	ErrForged           = errors.New("auth: datagram tag does not verify")
	ErrReplayedDatagram = errors.New("auth: datagram sequence number already received")
	ErrTooOld           = errors.New("auth: datagram sequence number below the replay window")
	ErrSeqExhausted     = errors.New("auth: sequence numbers exhausted, the session must end")
	ErrNoRoom           = errors.New("auth: buffer has no room for the tag")
)

// Role says which direction's key a Channel seals with.
type Role uint8

const (
	RoleClient Role = iota // seals client-to-server, opens server-to-client
	RoleServer             // the reverse
)

// Channel authenticates one session's datagrams in both directions:
// ChaCha20-Poly1305 with the session keys from the token, the sequence
// number as nonce (unique per key because each direction has its own key and
// its own counter) and a replay window. Seal and Open work in place and
// allocate nothing. A Channel belongs to one goroutine (a client); the
// server, whose receive and send sides run on different goroutines, uses
// the two halves, Opener and Sealer, apart.
type Channel struct {
	Sealer
	Opener
	nonce [chacha20poly1305.NonceSize]byte // Seal's scratch; here so it does not escape per call
}

// NewChannel starts a session's channel for role; sessionID must have bit 63
// set (the server's session ids do).
func NewChannel(sessionID uint64, keys *SessionKeys, role Role) (*Channel, error) {
	send, recv := &keys.ClientToServer, &keys.ServerToClient
	if role == RoleServer {
		send, recv = recv, send
	}
	c := &Channel{}
	if err := c.Sealer.init(sessionID, send); err != nil {
		return nil, err
	}
	if err := c.Opener.init(sessionID, recv); err != nil {
		return nil, err
	}
	return c, nil
}

// Seal authenticates the body in buf[HeaderSize:HeaderSize+n]; see
// Sealer.Seal.
func (c *Channel) Seal(buf []byte, n int) ([]byte, error) { return c.Sealer.Seal(buf, n, &c.nonce) }

// SealUrgent is Seal with the urgent mark (UrgentBit) set.
func (c *Channel) SealUrgent(buf []byte, n int) ([]byte, error) {
	return c.Sealer.SealUrgent(buf, n, &c.nonce)
}

// Session is the channel's session id.
func (c *Channel) Session() uint64 { return c.Opener.session }

// Sealer is the sending half of a session. It is safe for concurrent use:
// the AEAD holds only its key and the sequence number is taken atomically,
// so the server's event loop (Welcome, Pong, path challenges) and its
// fan-out workers (snapshots) seal for one session without a lock; each
// caller brings its own nonce scratch.
type Sealer struct {
	session uint64
	aead    cipher.AEAD
	seq     atomic.Uint64 // last sequence number used
}

// NewSealer returns the sending half for key (the direction's session key).
func NewSealer(sessionID uint64, key *[KeySize]byte) (*Sealer, error) {
	s := &Sealer{}
	if err := s.init(sessionID, key); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Sealer) init(sessionID uint64, key *[KeySize]byte) error {
	a, err := sessionAEAD(sessionID, key)
	if err != nil {
		return err
	}
	s.session, s.aead = sessionID, a
	return nil
}

// sessionAEAD is the cipher of one direction of session sessionID.
func sessionAEAD(sessionID uint64, key *[KeySize]byte) (cipher.AEAD, error) {
	if sessionID&sessionBit == 0 {
		return nil, fmt.Errorf("auth: session id %#x lacks bit 63", sessionID)
	}
	a, err := chacha20poly1305.New(key[:])
	if err != nil {
		return nil, fmt.Errorf("auth: session key: %w", err)
	}
	return a, nil
}

// Seal authenticates the body in buf[HeaderSize:HeaderSize+n], writing the
// header in front and the tag after it, and returns the datagram
// buf[:HeaderSize+n+16]. buf needs that capacity; nonce is the caller's
// scratch (one per goroutine).
func (s *Sealer) Seal(buf []byte, n int, nonce *[chacha20poly1305.NonceSize]byte) ([]byte, error) {
	return s.seal(buf, n, nonce, 0)
}

// SealUrgent is Seal with the urgent mark (UrgentBit) set.
func (s *Sealer) SealUrgent(buf []byte, n int, nonce *[chacha20poly1305.NonceSize]byte) ([]byte, error) {
	return s.seal(buf, n, nonce, UrgentBit)
}

// seal is Seal with mark (0 or UrgentBit) in the sequence number field. The
// nonce is the whole field, mark included: still unique per key, because
// the numbers under the mark are.
func (s *Sealer) seal(buf []byte, n int, nonce *[chacha20poly1305.NonceSize]byte, mark uint64) ([]byte, error) {
	end := HeaderSize + n + tagSize
	if n < 0 || cap(buf) < end {
		return nil, ErrNoRoom
	}
	seq := s.seq.Add(1)
	if seq == 0 || seq >= UrgentBit {
		s.seq.Store(UrgentBit) // stay exhausted
		return nil, ErrSeqExhausted
	}
	buf = buf[:end]
	binary.LittleEndian.PutUint64(buf[0:], s.session)
	binary.LittleEndian.PutUint64(buf[8:], seq|mark)
	binary.LittleEndian.PutUint64(nonce[4:], seq|mark)
	body := buf[HeaderSize : HeaderSize+n]
	s.aead.Seal(body[:0], nonce[:], body, buf[:HeaderSize])
	return buf, nil
}

// Opener is the receiving half of a session: the direction's key and its
// replay window. It belongs to one goroutine (the session's event loop).
type Opener struct {
	session uint64
	aead    cipher.AEAD
	window  Window
	nonce   [chacha20poly1305.NonceSize]byte // scratch; here so it does not escape per call
}

// NewOpener returns the receiving half for key (the direction's session key).
func NewOpener(sessionID uint64, key *[KeySize]byte) (*Opener, error) {
	o := &Opener{}
	if err := o.init(sessionID, key); err != nil {
		return nil, err
	}
	return o, nil
}

func (o *Opener) init(sessionID uint64, key *[KeySize]byte) error {
	a, err := sessionAEAD(sessionID, key)
	if err != nil {
		return err
	}
	o.session, o.aead, o.window = sessionID, a, NewWindow()
	return nil
}

// Urgent reports whether datagram b carries the urgent mark (UrgentBit); it
// says nothing about whether b will open.
func Urgent(b []byte) bool {
	return len(b) >= Overhead && binary.LittleEndian.Uint64(b[8:])&UrgentBit != 0
}

// PeekSession reads the session id of an authenticated datagram so the
// receiver can find its Channel; ok is false when b cannot be one.
func PeekSession(b []byte) (id uint64, ok bool) {
	if len(b) < Overhead {
		return 0, false
	}
	id = binary.LittleEndian.Uint64(b)
	return id, id&sessionBit != 0
}

// Open verifies and decrypts datagram b in place and returns its body, a
// sub-slice of b. Replays are refused before the tag is checked and the
// window moves only after it verified. A refused datagram's body may have
// been overwritten: drop it, never forward it.
func (o *Opener) Open(b []byte) ([]byte, error) {
	if len(b) < Overhead {
		return nil, ErrShortDatagram
	}
	if binary.LittleEndian.Uint64(b) != o.session {
		return nil, ErrWrongSession
	}
	field := binary.LittleEndian.Uint64(b[8:])
	seq := field &^ UrgentBit
	if err := o.window.Check(seq); err != nil {
		return nil, err
	}
	binary.LittleEndian.PutUint64(o.nonce[4:], field)
	ct := b[HeaderSize:]
	body, err := o.aead.Open(ct[:0], o.nonce[:], ct, b[:HeaderSize])
	if err != nil {
		return nil, ErrForged
	}
	o.window.Accept(seq)
	return body, nil
}

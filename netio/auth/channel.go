package auth

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// Datagram layout (docs/PROTOCOL.md "Authenticated datagrams"):
//
//	0   8  session id, u64 LE, bit 63 set   clear, authenticated
//	8   8  sequence number, u64 LE, from 1  clear, authenticated; the nonce
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
// allocate nothing. A Channel belongs to one goroutine (the session's event
// loop); it holds pointers (the ciphers), so a pointer-free session table
// keeps Channels in a side table indexed by slot.
type Channel struct {
	session    uint64
	send, recv cipher.AEAD
	nextSeq    uint64
	window     Window
	nonce      [chacha20poly1305.NonceSize]byte // scratch; here so it does not escape per call
}

// NewChannel starts a session's channel for role; sessionID must have bit 63
// set (the server's session ids do).
func NewChannel(sessionID uint64, keys *SessionKeys, role Role) (*Channel, error) {
	if sessionID&sessionBit == 0 {
		return nil, fmt.Errorf("auth: session id %#x lacks bit 63", sessionID)
	}
	c2s, err := chacha20poly1305.New(keys.ClientToServer[:])
	if err != nil {
		return nil, fmt.Errorf("auth: client-to-server key: %w", err)
	}
	s2c, err := chacha20poly1305.New(keys.ServerToClient[:])
	if err != nil {
		return nil, fmt.Errorf("auth: server-to-client key: %w", err)
	}
	c := &Channel{session: sessionID, nextSeq: 1, window: NewWindow()}
	c.send, c.recv = c2s, s2c
	if role == RoleServer {
		c.send, c.recv = s2c, c2s
	}
	return c, nil
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

// Seal authenticates the body in buf[HeaderSize:HeaderSize+n], writing the
// header in front and the tag after it, and returns the datagram
// buf[:HeaderSize+n+16]. buf needs that capacity.
func (c *Channel) Seal(buf []byte, n int) ([]byte, error) {
	end := HeaderSize + n + tagSize
	if n < 0 || cap(buf) < end {
		return nil, ErrNoRoom
	}
	if c.nextSeq == 0 {
		return nil, ErrSeqExhausted
	}
	buf = buf[:end]
	seq := c.nextSeq
	c.nextSeq++
	binary.LittleEndian.PutUint64(buf[0:], c.session)
	binary.LittleEndian.PutUint64(buf[8:], seq)
	binary.LittleEndian.PutUint64(c.nonce[4:], seq)
	body := buf[HeaderSize : HeaderSize+n]
	c.send.Seal(body[:0], c.nonce[:], body, buf[:HeaderSize])
	return buf, nil
}

// Open verifies and decrypts datagram b in place and returns its body, a
// sub-slice of b. Replays are refused before the tag is checked and the
// window moves only after it verified. A refused datagram's body may have
// been overwritten: drop it, never forward it.
func (c *Channel) Open(b []byte) ([]byte, error) {
	if len(b) < Overhead {
		return nil, ErrShortDatagram
	}
	if binary.LittleEndian.Uint64(b) != c.session {
		return nil, ErrWrongSession
	}
	seq := binary.LittleEndian.Uint64(b[8:])
	if err := c.window.Check(seq); err != nil {
		return nil, err
	}
	binary.LittleEndian.PutUint64(c.nonce[4:], seq)
	ct := b[HeaderSize:]
	body, err := c.recv.Open(ct[:0], c.nonce[:], ct, b[:HeaderSize])
	if err != nil {
		return nil, ErrForged
	}
	c.window.Accept(seq)
	return body, nil
}

// Session is the channel's session id.
func (c *Channel) Session() uint64 { return c.session }

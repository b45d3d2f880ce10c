// Package sockfilter drops, in the kernel, the datagrams a treasured server
// would refuse from their first eight bytes, before they are queued on its
// socket: no wake-up, no recvmmsg copy, no verifier on the core that ticks.
//
// It is an eBPF socket filter (attached with SO_ATTACH_BPF) plus two maps:
// the live session ids by slot, which the server keeps current as sessions
// begin and end, and a drop counter per reason. The filter makes only the
// decisions the server's own checks would make first, in the same order and
// with the same reason, so a dropped datagram is counted exactly as the
// server would have counted it:
//
//   - longer than the largest datagram: oversized;
//   - shorter than 8 bytes: truncated;
//   - sealed (byte 7 >= 0x80, with authentication on): shorter than the
//     seal's overhead, truncated; a session id that names no live
//     session, bad session;
//   - plain: a file identifier other than the protocol's, bad identifier;
//     a root offset the verifier refuses (below 8, at or past the end, not
//     4-aligned), malformed.
//
// Everything else reaches the server, which verifies it in full: the filter
// is a first cut that random bytes do not pass, not a second verifier.
package sockfilter

import "errors"

// Reason is why the filter dropped a datagram.
type Reason int

// The reasons, each the server's own drop reason of the same name.
const (
	Oversized Reason = iota
	Truncated
	BadIdentifier
	Malformed
	BadSession
	NumReasons
)

func (r Reason) String() string {
	switch r {
	case Oversized:
		return "oversized"
	case Truncated:
		return "truncated"
	case BadIdentifier:
		return "bad_identifier"
	case Malformed:
		return "malformed"
	case BadSession:
		return "bad_session"
	}
	return "unknown"
}

// Params are the protocol's facts the filter checks against.
type Params struct {
	// MaxDatagram is the longest datagram accepted (schema.MaxDatagram).
	MaxDatagram int
	// Identifier is the FlatBuffers file identifier at bytes 4..8.
	Identifier [4]byte
	// Sealed says authentication is on: a datagram whose byte 7 is >=
	// 0x80 is sealed and begins with its session id.
	Sealed bool
	// Overhead is the shortest sealed datagram (auth.Overhead).
	Overhead int
	// Slots is the number of session slots; a session id's low 24 bits
	// are its slot.
	Slots int
}

func (p Params) check() error {
	switch {
	case p.MaxDatagram < 8 || p.MaxDatagram > 65507:
		return errors.New("sockfilter: MaxDatagram out of range")
	case p.Sealed && (p.Overhead < 8 || p.Overhead > p.MaxDatagram):
		return errors.New("sockfilter: Overhead out of range")
	case p.Slots < 1 || p.Slots > 1<<24:
		return errors.New("sockfilter: Slots out of range")
	}
	return nil
}

// ErrUnsupported is returned by New where eBPF socket filters are not
// available (another OS).
var ErrUnsupported = errors.New("sockfilter: eBPF socket filters need Linux")

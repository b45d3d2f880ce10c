package udp

import (
	"errors"
	"net/netip"
)

// Message is one datagram of a batch.
type Message struct {
	// Buf is the datagram to send, or the buffer to receive into; it
	// belongs to the caller.
	Buf []byte
	// N is, after ReadBatch, the datagram's length in Buf.
	N int
	// Addr is the peer: the destination of a send, the source of a receive.
	// An invalid Addr on send means the socket's connected peer.
	Addr netip.AddrPort
	// Local is the local address: on send, the source address the datagram
	// leaves from (the socket's own when invalid); after ReadBatch on a Conn
	// with Options.PacketInfo, the address the datagram was sent to.
	Local netip.Addr
	// Truncated is set by ReadBatch when the datagram did not fit in Buf.
	Truncated bool
	// Stamp is, after ReadBatch on a Conn with Options.Timestamps, when the
	// kernel received the datagram (CLOCK_REALTIME, Unix nanoseconds); 0
	// when it gave no time.
	Stamp int64
}

// Options configure a Conn.
type Options struct {
	// Batch is the most messages one WriteBatch or ReadBatch takes; 0
	// means DefaultBatch.
	Batch int
	// PacketInfo enables IP_PKTINFO (IPV6_PKTINFO): ReadBatch reports each
	// datagram's destination address in Message.Local. Sending from a
	// chosen Local works without it.
	PacketInfo bool
	// RawSyscalls makes WriteBatch's sendmmsg and ReadBatch's recvmmsg raw
	// system calls, as the RawSyscalls socket option does for the socket
	// sender and receiver (Linux only).
	RawSyscalls bool
	// Timestamps enables SO_TIMESTAMPNS: ReadBatch reports when the kernel
	// received each datagram in Message.Stamp, so a receiver that is busy
	// can still tell when a datagram arrived from when it read it.
	Timestamps bool
	// RecvBuffer and SendBuffer, when > 0, size the socket's kernel
	// buffers. Above net.core.rmem_max/wmem_max they need CAP_NET_ADMIN;
	// without it the kernel's cap applies silently (see Conn.Buffers).
	RecvBuffer, SendBuffer int
}

// DefaultBatch is the batch size when Options.Batch is 0.
const DefaultBatch = 64

// WriteResult accounts for every message passed to one WriteBatch.
type WriteResult struct {
	Sent       int   // accepted by the kernel
	WouldBlock int   // not sent: the send buffer was full (EAGAIN)
	Failed     int   // refused by the kernel for another reason, skipped
	Syscalls   int   // send system calls made
	Err        error // the last error behind Failed, for the log
}

// ErrUnsupported is returned where the platform has no implementation.
var ErrUnsupported = errors.New("udp: batched UDP sockets are implemented on Linux only")

// errBatch is returned for more messages than the Conn's batch size.
var errBatch = errors.New("udp: more messages than the batch size")

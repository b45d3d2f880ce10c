// Package udp is a UDP transport with batched I/O and nothing else: it knows
// no protocol, no session and no schedule.
//
// A Conn is one non-blocking socket. WriteBatch and ReadBatch move many
// datagrams per system call (sendmmsg(2) and recvmmsg(2) on Linux) into and
// out of buffers the caller owns, and each Message carries, besides its
// peer, the local address the datagram leaves from or arrived at
// (IP_PKTINFO / IPV6_PKTINFO). That is what lets one socket bound to the
// wildcard address speak for many local addresses: a load generator drives
// thousands of players, each with its own source address in 127.0.0.0/8,
// through a handful of sockets.
//
// The batch contract, in the spirit of wireguard-go's conn package:
//
//   - The caller owns every buffer. A Conn never keeps a Message, its Buf,
//     or any slice passed to it after the call returns, so buffers are
//     reused for the next batch at once.
//   - WriteBatch sends msgs in order and tries each at most once. It never
//     blocks: at the first EAGAIN it stops and reports the rest of the batch
//     as WouldBlock. A datagram the kernel refuses for another reason is
//     counted in Failed and skipped; the ones after it are still sent.
//     Sent + WouldBlock + Failed == len(msgs).
//   - ReadBatch fills msgs[:n] from the datagrams already queued and never
//     waits (n == 0 and a nil error when none is queued). A datagram longer
//     than its Buf is cut and marked Truncated.
//   - Neither allocates: every header, iovec, address and control buffer
//     handed to the kernel is allocated once, when the Conn is made, for at
//     most Conn.BatchSize messages per call.
//   - A Conn is used by one goroutine at a time.
//
// Beside Conn, the package holds the batch seams the server uses on
// sockets it opened itself (gnet's, or its SO_REUSEPORT loops'):
// BatchSender (NewSocketSender: sendmmsg with a bounded wait for
// writability) and BatchReceiver (NewSocketReceiver: recvmmsg), with the
// comparable Addr they speak. Sendmmsg and Recvmmsg are the only wrappers
// of the two system calls; every batch path goes through them.
//
// The Linux implementation is in *_linux.go; elsewhere the constructors
// return ErrUnsupported (NewSocketSender falls back to one write each).
package udp

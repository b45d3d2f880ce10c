package udp

import "errors"

// BatchSender is the seam between a sender (the server's fan-out) and the kernel: it writes many
// datagrams, each to its own address, in as few system calls as the platform
// allows (sendmmsg on Linux, one sendto each elsewhere).
//
// The contract, in the spirit of wireguard-go's conn.Bind:
//
//   - BatchSize is the most datagrams one Send call takes. Callers size their
//     buffers to it once and never pass more.
//   - Send writes bufs[i] to addrs[i] for every i < len(bufs); len(addrs) must
//     equal len(bufs). Every bufs[i] holds exactly one datagram.
//   - The buffers belong to the caller. Send does not keep them, or addrs,
//     after it returns, so the caller reuses them for the next batch at once.
//   - Send tries every datagram exactly once, in order. It never blocks for
//     long: when the socket's send buffer is full (EAGAIN) and wait is true,
//     it waits for writability for at most a short, fixed bound, and gives up
//     on the rest of the batch when that runs out; with wait false it gives
//     up at the first EAGAIN. A snapshot that is late by a tick is worthless:
//     the next one supersedes it, so dropping beats queueing. The fan-out
//     passes wait false for the rest of a tick once one batch has waited in
//     vain, so a stuck socket costs one bound per tick, not one per batch.
//   - A datagram the kernel refuses for any other reason (for example an
//     address the socket's family cannot reach) is counted in Failed and
//     skipped; the datagrams after it are still sent.
//   - Send does not allocate.
//
// A BatchSender is used by one goroutine at a time (each fan-out worker owns
// one, with its own duplicate of the socket).
type BatchSender interface {
	BatchSize() int
	Send(bufs [][]byte, addrs []Addr, wait bool) SendResult
	Close() error
}

// SendResult accounts for every datagram passed to one Send:
// Sent + Failed + Dropped == len(bufs).
type SendResult struct {
	Sent       int   // accepted by the kernel
	Bytes      int   // bytes of the Sent datagrams
	Failed     int   // refused by the kernel (not EAGAIN), skipped
	Dropped    int   // not attempted: the socket stayed unwritable past the bound
	WouldBlock int   // EAGAIN results seen
	Partial    int   // system calls that took only part of what they were given
	Syscalls   int   // send system calls made
	Err        error // the last error behind Failed or Dropped, for the log
}

// errAddrFamily is reported for a destination the socket cannot reach, for
// example an IPv6 client on an AF_INET socket.
var errAddrFamily = errors.New("udp: destination address family does not match the socket")

// BatchReceiver is the receive seam: it reads many datagrams in one system
// call where the platform allows (recvmmsg on Linux). It mirrors
// BatchSender and wireguard-go's conn.ReceiveFunc.
//
// The contract:
//
//   - BatchSize is the most datagrams one Receive call returns. Callers size
//     bufs, sizes and addrs to it once and never pass more.
//   - len(sizes) and len(addrs) must be at least len(bufs). Every bufs[i]
//     should be longer than the longest datagram the caller accepts, so
//     that a datagram too long for its protocol arrives too long, truncated
//     to the buffer at worst, and is dropped as oversized rather than
//     passing for a legal one cut short.
//   - Receive fills bufs[i][:sizes[i]] and addrs[i] for i < n and returns n.
//     sizes[i] <= len(bufs[i]). An addrs[i] with Port 0 is a source that
//     cannot be answered (a non-IP family, or port 0): the caller drops it.
//   - Receive never blocks. n == 0 with a nil error means nothing was
//     queued (EAGAIN). n < len(bufs) means the queue was empty when the call
//     returned, so a caller draining "until EAGAIN" may stop there and save
//     the system call that would only say so.
//   - The buffers, sizes and addresses belong to the caller; Receive keeps
//     none of them after it returns. It does not allocate.
//   - An error other than EAGAIN (and EINTR, which Receive retries) is
//     returned with n == 0; the socket stays usable.
//
// A BatchReceiver is used by one goroutine at a time.
type BatchReceiver interface {
	BatchSize() int
	Receive(bufs [][]byte, sizes []int, addrs []Addr) (n int, err error)
}

// SocketOption changes how a socket sender or receiver enters the kernel.
type SocketOption uint8

// RawSyscalls makes the sender's sendmmsg and the receiver's recvmmsg raw
// system calls (RawSyscall6), which the Go scheduler does not see. Both
// are made with MSG_DONTWAIT and never block, but a batch can take longer
// than sysmon's 20 µs, and on a single P sysmon then hands the P to
// another thread (futex wake-ups both ways) for the microseconds left.
// For callers that run everything on one P (the server's poll layout),
// where no other goroutine could use the P meanwhile anyway. The wait for
// writability after EAGAIN stays an ordinary, scheduled system call.
// Linux only; elsewhere it changes nothing.
const RawSyscalls SocketOption = 1

func hasOption(opts []SocketOption, o SocketOption) bool {
	for _, x := range opts {
		if x == o {
			return true
		}
	}
	return false
}

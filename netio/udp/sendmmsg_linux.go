//go:build linux

package udp

import (
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sendmmsgFunc is the kernel seam: sendmmsg(2) on fd with hdrs, returning
// the number of messages sent or an errno. Tests replace it to play partial
// sends, EAGAIN and per-message errors without a socket.
type sendmmsgFunc func(fd int, hdrs []unix.Mmsghdr, flags int) (int, unix.Errno)

// pollOutFunc waits up to timeout for fd to become writable.
type pollOutFunc func(fd int, fds *[1]unix.PollFd, ts *unix.Timespec) bool

// Sendmmsg is sendmmsg(2): the one wrapper of it (Conn, the socket sender
// and perf/blaster use it). It returns the number of messages sent or an
// errno, and never allocates.
func Sendmmsg(fd int, hdrs []unix.Mmsghdr, flags int) (int, unix.Errno) {
	// Syscall6, not RawSyscall6: the scheduler must know this thread is in
	// the kernel. With MSG_DONTWAIT it does not block, but it may take
	// microseconds for a large batch.
	n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd),
		uintptr(unsafe.Pointer(unsafe.SliceData(hdrs))), uintptr(len(hdrs)), uintptr(flags), 0, 0)
	return int(n), e
}

// rawSendmmsg is Sendmmsg as a raw system call (RawSyscalls).
func rawSendmmsg(fd int, hdrs []unix.Mmsghdr, flags int) (int, unix.Errno) {
	n, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(fd),
		uintptr(unsafe.Pointer(unsafe.SliceData(hdrs))), uintptr(len(hdrs)), uintptr(flags), 0, 0)
	return int(n), e
}

func sysPollOut(fd int, fds *[1]unix.PollFd, ts *unix.Timespec) bool {
	// The PollFd and Timespec live in the sender, so this does not allocate
	// (unix.Poll would allocate its Timespec).
	*fds = [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	n, err := unix.Ppoll(fds[:], ts, nil)
	return err == nil && n > 0 && fds[0].Revents&unix.POLLOUT != 0
}

// mmsgSender is the Linux BatchSender: one sendmmsg(2) per batch, on its
// own duplicate of a socket when several goroutines send on one. Every array it hands the kernel is
// allocated once in newMmsgSender: the headers, the iovecs and the sockaddrs,
// which are written in place for each datagram.
//
// Owner: one goroutine (a fan-out worker).
type mmsgSender struct {
	fd     int
	family int // AF_INET or AF_INET6, from getsockname: how to write sockaddrs

	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6 // large enough for either family
	idx   []int                   // hdrs[i] sends bufs[idx[i]]

	// EAGAIN handling: up to maxPolls waits of pollWait each per Send, and
	// only when the caller allows waiting.
	maxPolls int
	pollTS   unix.Timespec
	pollFds  [1]unix.PollFd

	sendmmsg sendmmsgFunc
	pollOut  pollOutFunc
}

var _ BatchSender = (*mmsgSender)(nil)

// defaultPollWait bounds one wait for writability. A tick is 50 ms and the
// socket drains at line rate, so 1 ms is long enough for the kernel to
// free send buffer and short enough that a stuck socket costs little.
const defaultPollWait = time.Millisecond

func newMmsgSender(fd, family, batch int) (*mmsgSender, error) {
	if family != unix.AF_INET && family != unix.AF_INET6 {
		return nil, fmt.Errorf("udp: sendmmsg sender: socket family %d is not IP", family)
	}
	if batch < 1 {
		return nil, fmt.Errorf("udp: sendmmsg sender: batch size %d", batch)
	}
	s := &mmsgSender{
		fd: fd, family: family,
		hdrs:     make([]unix.Mmsghdr, batch),
		iovs:     make([]unix.Iovec, batch),
		names:    make([]unix.RawSockaddrInet6, batch),
		idx:      make([]int, batch),
		maxPolls: 2,
		pollTS:   unix.NsecToTimespec(int64(defaultPollWait)),
		sendmmsg: Sendmmsg,
		pollOut:  sysPollOut,
	}
	return s, nil
}

// NewSocketSender builds the platform's BatchSender on fd, which it owns
// from then on (Close closes it). It sets Don't Fragment on the socket
// (SetDontFragment).
func NewSocketSender(fd, batch int, opts ...SocketOption) (BatchSender, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, fmt.Errorf("udp: getsockname: %w", err)
	}
	family := unix.AF_INET
	if _, ok := sa.(*unix.SockaddrInet6); ok {
		family = unix.AF_INET6
	}
	if err := setDontFragment(fd, family == unix.AF_INET6); err != nil {
		return nil, err
	}
	s, err := newMmsgSender(fd, family, batch)
	if err == nil && hasOption(opts, RawSyscalls) {
		s.sendmmsg = rawSendmmsg
	}
	return s, err
}

func (s *mmsgSender) BatchSize() int { return len(s.hdrs) }

func (s *mmsgSender) Close() error { return unix.Close(s.fd) }

// putName writes a's sockaddr for s's family into s.names[i] and points hdr
// at it. It reports false when the family cannot express a.
func (s *mmsgSender) putName(i int, a Addr, hdr *unix.Msghdr) bool {
	sa := &s.names[i]
	if s.family == unix.AF_INET {
		if !a.Is4() {
			return false
		}
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		*sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET}
		putPort(&sa4.Port, a.Port)
		copy(sa4.Addr[:], a.IP[12:])
		hdr.Name = (*byte)(unsafe.Pointer(sa4))
		hdr.Namelen = unix.SizeofSockaddrInet4
		return true
	}
	// On an AF_INET6 socket an IPv4 client appears, and is answered, in its
	// IPv4-mapped form, which is how Addr already holds it.
	*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: a.IP}
	putPort(&sa.Port, a.Port)
	hdr.Name = (*byte)(unsafe.Pointer(sa))
	hdr.Namelen = unix.SizeofSockaddrInet6
	return true
}

// putPort stores port in network byte order: the sockaddr field is a
// big-endian in_port_t whatever the host's order.
func putPort(dst *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(dst))
	b[0], b[1] = byte(port>>8), byte(port)
}

// Send implements BatchSender with sendmmsg(2), resuming after partial sends
// from the first datagram the kernel did not take.
func (s *mmsgSender) Send(bufs [][]byte, addrs []Addr, wait bool) SendResult {
	var r SendResult
	if len(bufs) > len(s.hdrs) || len(addrs) != len(bufs) {
		// A caller bug, not a network condition; account for every datagram
		// so the SendResult invariant still holds.
		r.Failed = len(bufs)
		r.Err = fmt.Errorf("udp: Send of %d datagrams to %d addresses, batch size %d", len(bufs), len(addrs), len(s.hdrs))
		return r
	}
	n := 0
	for i, b := range bufs {
		h := &s.hdrs[n]
		*h = unix.Mmsghdr{}
		if !s.putName(n, addrs[i], &h.Hdr) {
			r.Failed++
			r.Err = errAddrFamily
			continue
		}
		iov := &s.iovs[n]
		iov.Base = unsafe.SliceData(b)
		iov.SetLen(len(b))
		h.Hdr.Iov = iov
		h.Hdr.SetIovlen(1)
		s.idx[n] = i
		n++
	}

	polls := 0
	for off := 0; off < n; {
		m, errno := s.sendmmsg(s.fd, s.hdrs[off:n], unix.MSG_DONTWAIT)
		r.Syscalls++
		switch {
		case errno == 0 && m > 0:
			if m < n-off {
				r.Partial++
			}
			for j := off; j < off+m; j++ {
				r.Bytes += len(bufs[s.idx[j]])
			}
			r.Sent += m
			off += m
		case errno == unix.EINTR:
			// Interrupted before anything was sent: just try again.
		case errno == unix.EAGAIN:
			r.WouldBlock++
			if wait && polls < s.maxPolls {
				polls++
				if s.pollOut(s.fd, &s.pollFds, &s.pollTS) {
					continue
				}
			}
			r.Dropped += n - off
			r.Err = errno
			return r
		default:
			// sendmmsg reports an error only when the first message failed
			// (later failures shorten the count instead). Skip that one
			// datagram and carry on; m == 0 without an errno cannot happen,
			// but if it did this also guarantees progress.
			r.Failed++
			if errno != 0 {
				r.Err = errno
			}
			off++
		}
	}
	return r
}

//go:build linux

package netio

import (
	"fmt"
	"net/netip"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const mmsgSupported = true

// recvmmsgFunc is the kernel seam: recvmmsg(2) on fd into hdrs.
type recvmmsgFunc func(fd int, hdrs []mmsghdr, flags int) (int, unix.Errno)

func sysRecvmmsg(fd int, hdrs []mmsghdr, flags int) (int, unix.Errno) {
	// Syscall6 rather than RawSyscall6 for the same reason as sendmmsg:
	// copying a batch out takes microseconds, and the scheduler should know.
	// The timeout argument is NULL: with MSG_DONTWAIT the call never waits.
	n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd),
		uintptr(unsafe.Pointer(unsafe.SliceData(hdrs))), uintptr(len(hdrs)), uintptr(flags), 0, 0)
	return int(n), e
}

// mmsgReceiver is the Linux BatchReceiver: recvmmsg(2) with MSG_DONTWAIT
// into the caller's buffers. The headers, iovecs and sockaddrs it hands the
// kernel are allocated once, in newMmsgReceiver.
//
// Owner: one loop.
type mmsgReceiver struct {
	fd       int
	hdrs     []mmsghdr
	iovs     []unix.Iovec
	names    []unix.RawSockaddrInet6 // large enough for either family
	recvmmsg recvmmsgFunc
}

var _ BatchReceiver = (*mmsgReceiver)(nil)

func newMmsgReceiver(fd, batch int) *mmsgReceiver {
	return &mmsgReceiver{
		fd:       fd,
		hdrs:     make([]mmsghdr, batch),
		iovs:     make([]unix.Iovec, batch),
		names:    make([]unix.RawSockaddrInet6, batch),
		recvmmsg: sysRecvmmsg,
	}
}

func (r *mmsgReceiver) BatchSize() int { return len(r.hdrs) }

// Receive implements BatchReceiver.
func (r *mmsgReceiver) Receive(bufs [][]byte, sizes []int, addrs []Addr) (int, error) {
	m := len(bufs)
	if m > len(r.hdrs) || len(sizes) < m || len(addrs) < m {
		return 0, fmt.Errorf("netio: Receive into %d buffers, %d sizes, %d addresses; batch size %d", m, len(sizes), len(addrs), len(r.hdrs))
	}
	if m == 0 {
		return 0, nil
	}
	for i, b := range bufs {
		iov := &r.iovs[i]
		iov.Base = unsafe.SliceData(b)
		iov.SetLen(len(b))
		// msg_namelen is in-out: reset to the buffer's size every call.
		h := &r.hdrs[i]
		h.hdr = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&r.names[i])), Namelen: unix.SizeofSockaddrInet6, Iov: iov}
		h.hdr.SetIovlen(1)
		h.n = 0
	}
	var n int
	for {
		var errno unix.Errno
		n, errno = r.recvmmsg(r.fd, r.hdrs[:m], unix.MSG_DONTWAIT)
		switch errno {
		case 0:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, nil
		default:
			return 0, errno
		}
		break
	}
	for i := range n {
		h := &r.hdrs[i]
		// Without MSG_TRUNC in the flags msg_len is what was copied, at most
		// the buffer; a longer datagram fills the buffer (> MaxDatagram)
		// and is dropped as oversized.
		sizes[i] = min(int(h.n), len(bufs[i]))
		addrs[i] = addrFromRaw(&r.names[i], h.hdr.Namelen)
	}
	return n, nil
}

// addrFromRaw converts a sockaddr the kernel wrote. Anything but a
// complete AF_INET or AF_INET6 name yields the zero Addr (port 0), which
// the loop drops as a bad source.
func addrFromRaw(sa *unix.RawSockaddrInet6, namelen uint32) Addr {
	var a Addr
	switch {
	case sa.Family == unix.AF_INET && namelen >= unix.SizeofSockaddrInet4:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		a.IP[10], a.IP[11] = 0xff, 0xff
		copy(a.IP[12:], sa4.Addr[:])
		a.Port = getPort(&sa4.Port)
	case sa.Family == unix.AF_INET6 && namelen >= unix.SizeofSockaddrInet6:
		a.IP = sa.Addr
		a.Port = getPort(&sa.Port)
	}
	return a
}

func getPort(p *uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// rxSocket is one mmsg loop's UDP socket plus an eventfd that Shutdown
// writes to wake the loop out of ppoll.
type rxSocket struct {
	fd, evfd int
	fds      [2]unix.PollFd
	ts       unix.Timespec
	one      [8]byte
}

// openRxSocket binds a non-blocking SO_REUSEPORT UDP socket to ap, the
// same way gnet binds its loops' sockets: the kernel then spreads clients
// over the loops' sockets by 4-tuple hash, so each client stays on one loop.
func openRxSocket(ap netip.AddrPort, rcvbuf, sndbuf int) (_ *rxSocket, err error) {
	family := unix.AF_INET
	if ap.Addr().Is6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	defer func() {
		if err != nil {
			_ = unix.Close(fd)
		}
	}()
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
		return nil, fmt.Errorf("SO_REUSEPORT: %w", err)
	}
	if rcvbuf > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf); err != nil {
			return nil, fmt.Errorf("SO_RCVBUF: %w", err)
		}
	}
	if sndbuf > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, sndbuf); err != nil {
			return nil, fmt.Errorf("SO_SNDBUF: %w", err)
		}
	}
	var sa unix.Sockaddr
	if family == unix.AF_INET {
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	} else {
		// An IPv6 listen address serves IPv6 only, as net.ListenUDP("udp6")
		// and gnet's udp6 do.
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			return nil, fmt.Errorf("IPV6_V6ONLY: %w", err)
		}
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return nil, err // EADDRINUSE must stay visible to startErr
	}
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	s := &rxSocket{fd: fd, evfd: evfd}
	s.one[0] = 1 // eventfd takes a host-order uint64; 1 on little endian, 1<<56 on big: both non-zero
	return s, nil
}

func (s *rxSocket) batchers(batch int) (BatchReceiver, BatchSender, error) {
	tx, err := newMmsgSender(s.fd, familyOf(s.fd), batch)
	if err != nil {
		return nil, nil, err
	}
	return newMmsgReceiver(s.fd, batch), tx, nil
}

func familyOf(fd int) int {
	if sa, err := unix.Getsockname(fd); err == nil {
		if _, ok := sa.(*unix.SockaddrInet6); ok {
			return unix.AF_INET6
		}
	}
	return unix.AF_INET
}

// wait blocks in ppoll for up to d until the socket is readable (true) or
// the eventfd was written. ppoll rather than epoll_wait: two descriptors,
// no extra epoll fd, and a nanosecond timeout, which the inline tick clock
// needs to wake on its deadline rather than on the next millisecond.
func (s *rxSocket) wait(d time.Duration) (bool, error) {
	s.fds = [2]unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN}, {Fd: int32(s.evfd), Events: unix.POLLIN}}
	s.ts = unix.NsecToTimespec(int64(max(d, 0)))
	n, err := unix.Ppoll(s.fds[:], &s.ts, nil)
	if err == unix.EINTR {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("ppoll: %w", err)
	}
	return n > 0 && s.fds[0].Revents != 0, nil
}

// wake makes a loop's current or next wait return.
func (s *rxSocket) wake() { _, _ = unix.Write(s.evfd, s.one[:]) }

// dup duplicates the socket for a fan-out worker (close-on-exec).
func (s *rxSocket) dup() (int, error) { return unix.FcntlInt(uintptr(s.fd), unix.F_DUPFD_CLOEXEC, 0) }

func (s *rxSocket) close() error {
	_ = unix.Close(s.evfd)
	return unix.Close(s.fd)
}

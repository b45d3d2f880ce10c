//go:build linux

package udp

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// recvmmsgFunc is the kernel seam: recvmmsg(2) on fd into hdrs.
type recvmmsgFunc func(fd int, hdrs []unix.Mmsghdr, flags int) (int, unix.Errno)

// Recvmmsg is recvmmsg(2): the one wrapper of it (Conn, the socket receiver
// and perf/blaster use it). It returns the number of messages received or
// an errno, and never allocates.
func Recvmmsg(fd int, hdrs []unix.Mmsghdr, flags int) (int, unix.Errno) {
	// Syscall6 rather than RawSyscall6 for the same reason as sendmmsg:
	// copying a batch out takes microseconds, and the scheduler should know.
	// The timeout argument is NULL: with MSG_DONTWAIT the call never waits.
	n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd),
		uintptr(unsafe.Pointer(unsafe.SliceData(hdrs))), uintptr(len(hdrs)), uintptr(flags), 0, 0)
	return int(n), e
}

// rawRecvmmsg is Recvmmsg as a raw system call (RawSyscalls).
func rawRecvmmsg(fd int, hdrs []unix.Mmsghdr, flags int) (int, unix.Errno) {
	n, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(fd),
		uintptr(unsafe.Pointer(unsafe.SliceData(hdrs))), uintptr(len(hdrs)), uintptr(flags), 0, 0)
	return int(n), e
}

// recvQueued takes what is queued: recv (Recvmmsg, or a test's kernel)
// with MSG_DONTWAIT, retrying EINTR. Nothing queued (EAGAIN) is n == 0
// without an errno.
func recvQueued(recv recvmmsgFunc, fd int, hdrs []unix.Mmsghdr) (int, unix.Errno) {
	for {
		n, e := recv(fd, hdrs, unix.MSG_DONTWAIT)
		switch e {
		case 0:
			return n, 0
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, 0
		}
		return 0, e
	}
}

// mmsgReceiver is the Linux BatchReceiver: recvmmsg(2) with MSG_DONTWAIT
// into the caller's buffers. The headers, iovecs and sockaddrs it hands the
// kernel are allocated once, in newMmsgReceiver.
//
// Owner: one goroutine (a server loop).
type mmsgReceiver struct {
	fd       int
	hdrs     []unix.Mmsghdr
	iovs     []unix.Iovec
	names    []unix.RawSockaddrInet6 // large enough for either family
	recvmmsg recvmmsgFunc
}

var _ BatchReceiver = (*mmsgReceiver)(nil)

// NewSocketReceiver builds the platform's BatchReceiver on fd, which stays
// the caller's to close.
func NewSocketReceiver(fd, batch int, opts ...SocketOption) (BatchReceiver, error) {
	if batch < 1 {
		return nil, fmt.Errorf("udp: recvmmsg receiver: batch size %d", batch)
	}
	r := newMmsgReceiver(fd, batch)
	if hasOption(opts, RawSyscalls) {
		r.recvmmsg = rawRecvmmsg
	}
	return r, nil
}

func newMmsgReceiver(fd, batch int) *mmsgReceiver {
	return &mmsgReceiver{
		fd:       fd,
		hdrs:     make([]unix.Mmsghdr, batch),
		iovs:     make([]unix.Iovec, batch),
		names:    make([]unix.RawSockaddrInet6, batch),
		recvmmsg: Recvmmsg,
	}
}

func (r *mmsgReceiver) BatchSize() int { return len(r.hdrs) }

// Receive implements BatchReceiver.
func (r *mmsgReceiver) Receive(bufs [][]byte, sizes []int, addrs []Addr) (int, error) {
	m := len(bufs)
	if m > len(r.hdrs) || len(sizes) < m || len(addrs) < m {
		return 0, fmt.Errorf("udp: Receive into %d buffers, %d sizes, %d addresses; batch size %d", m, len(sizes), len(addrs), len(r.hdrs))
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
		h.Hdr = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&r.names[i])), Namelen: unix.SizeofSockaddrInet6, Iov: iov}
		h.Hdr.SetIovlen(1)
		h.Len = 0
	}
	n, errno := recvQueued(r.recvmmsg, r.fd, r.hdrs[:m])
	if errno != 0 {
		return 0, errno
	}
	for i := range n {
		h := &r.hdrs[i]
		// Without MSG_TRUNC in the flags msg_len is what was copied, at most
		// the buffer; a longer datagram fills the buffer (longer than any
		// datagram the caller accepts), and the caller drops it as oversized.
		sizes[i] = min(int(h.Len), len(bufs[i]))
		addrs[i] = addrFromRaw(&r.names[i], h.Hdr.Namelen)
	}
	return n, nil
}

// addrFromRaw converts a sockaddr the kernel wrote. Anything but a
// complete AF_INET or AF_INET6 name yields the zero Addr (port 0), which
// the caller drops as a bad source.
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

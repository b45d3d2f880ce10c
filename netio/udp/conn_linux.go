//go:build linux

package udp

import (
	"errors"
	"fmt"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ctrlSize is the control buffer per message: room for one IP_PKTINFO
// (CMSG_SPACE(12) = 32) or IPV6_PKTINFO (CMSG_SPACE(20) = 40) message and
// one SCM_TIMESTAMPNS (CMSG_SPACE(16) = 32), the only ones this package
// asks for, with slack for a kernel that adds one.
const ctrlSize = 128

// Conn is a non-blocking UDP socket with batched I/O. See the package
// comment for the contract.
type Conn struct {
	fd     int
	family int // AF_INET or AF_INET6
	local  netip.AddrPort

	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6 // large enough for either family
	ctrl  []byte                  // ctrlSize per message, 8-byte aligned

	sendmmsg sendmmsgFunc // Sendmmsg, or rawSendmmsg (Options.RawSyscalls)
	recvmmsg recvmmsgFunc // Recvmmsg, or rawRecvmmsg
}

// Listen opens a non-blocking UDP socket bound to local (port 0 picks one;
// the unspecified address receives for every local address) with opt.
// Every datagram it sends has Don't Fragment set (SetDontFragment).
func Listen(local netip.AddrPort, opt Options) (*Conn, error) {
	family := unix.AF_INET6
	if local.Addr().Is4() {
		family = unix.AF_INET
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("udp: socket: %w", err)
	}
	c, err := newConn(fd, family, opt)
	if err == nil {
		err = c.bind(local, opt)
	}
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return c, nil
}

func newConn(fd, family int, opt Options) (*Conn, error) {
	batch := opt.Batch
	if batch == 0 {
		batch = DefaultBatch
	}
	if batch < 1 || batch > 1024 { // UIO_MAXIOV bounds one mmsg call
		return nil, fmt.Errorf("udp: batch size %d: want 1..1024", batch)
	}
	ctrl := make([]uint64, batch*ctrlSize/8)
	send, recv := Sendmmsg, Recvmmsg
	if opt.RawSyscalls {
		send, recv = rawSendmmsg, rawRecvmmsg
	}
	return &Conn{
		fd: fd, family: family, sendmmsg: send, recvmmsg: recv,
		hdrs:  make([]unix.Mmsghdr, batch),
		iovs:  make([]unix.Iovec, batch),
		names: make([]unix.RawSockaddrInet6, batch),
		ctrl:  unsafe.Slice((*byte)(unsafe.Pointer(&ctrl[0])), batch*ctrlSize),
	}, nil
}

func (c *Conn) bind(local netip.AddrPort, opt Options) error {
	if opt.PacketInfo {
		level, name := unix.IPPROTO_IP, unix.IP_PKTINFO
		if c.family == unix.AF_INET6 {
			level, name = unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO
		}
		if err := unix.SetsockoptInt(c.fd, level, name, 1); err != nil {
			return fmt.Errorf("udp: enable packet info: %w", err)
		}
	}
	if err := setDontFragment(c.fd, c.family == unix.AF_INET6); err != nil {
		return err
	}
	if opt.Timestamps {
		if err := EnableTimestamps(c.fd); err != nil {
			return err
		}
	}
	if err := setBuffer(c.fd, unix.SO_RCVBUFFORCE, unix.SO_RCVBUF, opt.RecvBuffer); err != nil {
		return fmt.Errorf("udp: receive buffer %d: %w", opt.RecvBuffer, err)
	}
	if err := setBuffer(c.fd, unix.SO_SNDBUFFORCE, unix.SO_SNDBUF, opt.SendBuffer); err != nil {
		return fmt.Errorf("udp: send buffer %d: %w", opt.SendBuffer, err)
	}
	var sa unix.Sockaddr
	if c.family == unix.AF_INET {
		sa = &unix.SockaddrInet4{Port: int(local.Port()), Addr: local.Addr().As4()}
	} else {
		sa = &unix.SockaddrInet6{Port: int(local.Port()), Addr: local.Addr().As16()}
	}
	if err := unix.Bind(c.fd, sa); err != nil {
		return fmt.Errorf("udp: bind %v: %w", local, err)
	}
	got, err := LocalAddrPort(c.fd)
	if err != nil {
		return err
	}
	c.local = got
	return nil
}

// setBuffer asks for size bytes with the privileged option first (it
// ignores net.core.*mem_max), then the ordinary one, which the kernel caps.
func setBuffer(fd, force, plain, size int) error {
	if size <= 0 {
		return nil
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, force, size) == nil {
		return nil
	}
	return unix.SetsockoptInt(fd, unix.SOL_SOCKET, plain, size)
}

// FD is the socket, for epoll registration; it stays owned by the Conn.
func (c *Conn) FD() int { return c.fd }

// LocalAddr is the bound address and port.
func (c *Conn) LocalAddr() netip.AddrPort { return c.local }

// BatchSize is the most messages one call takes.
func (c *Conn) BatchSize() int { return len(c.hdrs) }

// Close closes the socket.
func (c *Conn) Close() error { return unix.Close(c.fd) }

// Buffers reads back the receive and send buffer sizes in effect (Linux
// reports twice the request, socket(7), and caps it silently).
func (c *Conn) Buffers() (rcv, snd int, err error) {
	if rcv, snd, err = SocketBuffers(c.fd); err != nil {
		return 0, 0, fmt.Errorf("udp: socket buffers: %w", err)
	}
	return rcv, snd, nil
}

// Drops is the kernel's count of datagrams this socket dropped on receive
// (receive buffer full, mostly), from SO_MEMINFO.
func (c *Conn) Drops() (uint64, error) {
	var mem [unix.SK_MEMINFO_VARS]uint32
	size := uint32(unsafe.Sizeof(mem))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(c.fd), unix.SOL_SOCKET, unix.SO_MEMINFO,
		uintptr(unsafe.Pointer(&mem[0])), uintptr(unsafe.Pointer(&size)), 0)
	if e != 0 {
		return 0, fmt.Errorf("udp: SO_MEMINFO: %w", e)
	}
	return uint64(mem[unix.SK_MEMINFO_DROPS]), nil
}

// errFamily refuses an IPv6 address on an IPv4 socket.
var errFamily = errors.New("udp: IPv6 address on an IPv4 socket")

// WriteBatch sends msgs; see the package comment for the contract.
func (c *Conn) WriteBatch(msgs []Message) WriteResult {
	var res WriteResult
	if len(msgs) > len(c.hdrs) {
		res.Failed, res.Err = len(msgs), errBatch
		return res
	}
	m := 0 // headers filled; a message the socket cannot express gets none
	for i := range msgs {
		if c.fillSend(m, &msgs[i]) {
			m++
		} else {
			res.Failed++
			res.Err = errFamily
		}
	}
	for i := 0; i < m; {
		n, e := c.sendmmsg(c.fd, c.hdrs[i:m], unix.MSG_DONTWAIT)
		res.Syscalls++
		switch {
		case e == 0 && n > 0:
			res.Sent += n
			i += n
		case e == unix.EINTR:
		case e == unix.EAGAIN || e == 0:
			res.WouldBlock += m - i
			return res
		default: // the kernel refused this message; the rest may still go
			res.Failed++
			res.Err = e
			i++
		}
	}
	return res
}

// fillSend points hdrs[i] at m's buffer, destination and source address. It
// reports false, filling nothing, for an IPv6 address on an IPv4 socket
// (the kernel would ignore an IPv6 source there and send from another).
func (c *Conn) fillSend(i int, m *Message) bool {
	if c.family == unix.AF_INET && (m.Addr.IsValid() && !m.Addr.Addr().Unmap().Is4() ||
		m.Local.IsValid() && !m.Local.Unmap().Is4()) {
		return false
	}
	iov := &c.iovs[i]
	iov.Base = unsafe.SliceData(m.Buf)
	iov.SetLen(len(m.Buf))
	h := &c.hdrs[i].Hdr
	*h = unix.Msghdr{Iov: iov}
	h.SetIovlen(1)
	if m.Addr.IsValid() {
		h.Name = (*byte)(unsafe.Pointer(&c.names[i]))
		h.Namelen = c.putName(&c.names[i], m.Addr)
	}
	if m.Local.IsValid() {
		ctrl := c.ctrl[i*ctrlSize : (i+1)*ctrlSize]
		h.Control = &ctrl[0]
		h.SetControllen(c.putPktinfo(ctrl, m.Local))
	}
	return true
}

// putName writes ap as a sockaddr of the socket's family (IPv4 in its
// mapped form on an IPv6 socket).
func (c *Conn) putName(raw *unix.RawSockaddrInet6, ap netip.AddrPort) uint32 {
	port := ap.Port()
	if c.family == unix.AF_INET {
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(raw))
		*sa = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: ap.Addr().Unmap().As4()}
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		p[0], p[1] = byte(port>>8), byte(port)
		return unix.SizeofSockaddrInet4
	}
	*raw = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: ap.Addr().As16()}
	p := (*[2]byte)(unsafe.Pointer(&raw.Port))
	p[0], p[1] = byte(port>>8), byte(port)
	return unix.SizeofSockaddrInet6
}

// putPktinfo writes the control message that makes a datagram leave from
// local and returns its length.
func (c *Conn) putPktinfo(ctrl []byte, local netip.Addr) int {
	clear(ctrl)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&ctrl[0]))
	data := unsafe.Pointer(&ctrl[unix.CmsgLen(0)])
	if c.family == unix.AF_INET {
		h.Level, h.Type = unix.IPPROTO_IP, unix.IP_PKTINFO
		h.SetLen(unix.CmsgLen(unix.SizeofInet4Pktinfo))
		(*unix.Inet4Pktinfo)(data).Spec_dst = local.Unmap().As4()
		return unix.CmsgSpace(unix.SizeofInet4Pktinfo)
	}
	h.Level, h.Type = unix.IPPROTO_IPV6, unix.IPV6_PKTINFO
	h.SetLen(unix.CmsgLen(unix.SizeofInet6Pktinfo))
	(*unix.Inet6Pktinfo)(data).Addr = local.As16()
	return unix.CmsgSpace(unix.SizeofInet6Pktinfo)
}

// ReadBatch receives into msgs; see the package comment for the contract.
func (c *Conn) ReadBatch(msgs []Message) (int, error) {
	m := min(len(msgs), len(c.hdrs))
	if m == 0 {
		return 0, nil
	}
	for i := range m {
		iov := &c.iovs[i]
		iov.Base = unsafe.SliceData(msgs[i].Buf)
		iov.SetLen(len(msgs[i].Buf))
		// msg_namelen and msg_controllen are in-out: reset every call.
		h := &c.hdrs[i]
		h.Hdr = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&c.names[i])), Namelen: unix.SizeofSockaddrInet6,
			Iov: iov, Control: &c.ctrl[i*ctrlSize]}
		h.Hdr.SetIovlen(1)
		h.Hdr.SetControllen(ctrlSize)
		h.Len = 0
	}
	n, e := recvQueued(c.recvmmsg, c.fd, c.hdrs[:m])
	if e != 0 {
		return 0, fmt.Errorf("udp: recvmmsg: %w", e)
	}
	for i := range n {
		c.parseRecv(i, &msgs[i])
	}
	return n, nil
}

// parseRecv fills m from hdrs[i] after recvmmsg.
func (c *Conn) parseRecv(i int, m *Message) {
	h := &c.hdrs[i]
	m.N = int(h.Len)
	m.Truncated = h.Hdr.Flags&unix.MSG_TRUNC != 0
	m.Addr = parseName(&c.names[i])
	m.Local, m.Stamp = ParseControl(c.ctrl[i*ctrlSize : i*ctrlSize+min(int(h.Hdr.Controllen), ctrlSize)])
}

// ParseControl reads what a received datagram's control messages say: the
// address it was sent to (IP_PKTINFO, IPV6_PKTINFO; invalid without) and
// when the kernel received it (SO_TIMESTAMPNS, Unix nanoseconds; 0
// without). ctrl is the control buffer cut to the length recvmmsg
// returned. It is the one parser of them: Conn and treasure-bench's
// socket-per-player receive both use it.
func ParseControl(ctrl []byte) (local netip.Addr, stamp int64) {
	for len(ctrl) >= unix.SizeofCmsghdr {
		cm := (*unix.Cmsghdr)(unsafe.Pointer(&ctrl[0]))
		l := int(cm.Len)
		if l < unix.SizeofCmsghdr || l > len(ctrl) {
			break
		}
		data := unsafe.Pointer(&ctrl[unix.CmsgLen(0)])
		switch {
		case cm.Level == unix.IPPROTO_IP && cm.Type == unix.IP_PKTINFO && l >= unix.CmsgLen(unix.SizeofInet4Pktinfo):
			local = netip.AddrFrom4((*unix.Inet4Pktinfo)(data).Addr)
		case cm.Level == unix.IPPROTO_IPV6 && cm.Type == unix.IPV6_PKTINFO && l >= unix.CmsgLen(unix.SizeofInet6Pktinfo):
			local = netip.AddrFrom16((*unix.Inet6Pktinfo)(data).Addr)
		case cm.Level == unix.SOL_SOCKET && cm.Type == unix.SCM_TIMESTAMPNS && l >= unix.CmsgLen(int(unsafe.Sizeof(unix.Timespec{}))):
			stamp = (*unix.Timespec)(data).Nano()
		}
		next := unix.CmsgSpace(l - unix.CmsgLen(0))
		if next >= len(ctrl) {
			break
		}
		ctrl = ctrl[next:]
	}
	return local, stamp
}

func parseName(raw *unix.RawSockaddrInet6) netip.AddrPort {
	p := (*[2]byte)(unsafe.Pointer(&raw.Port))
	port := uint16(p[0])<<8 | uint16(p[1])
	switch raw.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(raw))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), port)
	case unix.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16(raw.Addr).Unmap(), port)
	}
	return netip.AddrPort{}
}

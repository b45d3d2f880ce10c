//go:build linux

package udp

import (
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// SocketBuffers reads back SO_RCVBUF and SO_SNDBUF. Linux reports twice the
// value that took effect (it doubles a request to leave room for its own
// bookkeeping, socket(7)), and clamps a request to net.core.rmem_max /
// wmem_max without an error, so reading back is the only way to see a cap.
func SocketBuffers(fd int) (rcv, snd int, err error) {
	if rcv, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF); err != nil {
		return 0, 0, err
	}
	if snd, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF); err != nil {
		return 0, 0, err
	}
	return rcv / 2, snd / 2, nil
}

const (
	RecvBufferSysctl = "net.core.rmem_max"
	SendBufferSysctl = "net.core.wmem_max"
)

func CloseFD(fd int) error { return unix.Close(fd) }

// SetDontFragment puts the socket in "do" PMTU discovery mode
// (IP_PMTUDISC_DO; for an IPv6 socket IPV6_PMTUDISC_DO and, for its
// IPv4-mapped peers, IP_PMTUDISC_DO too): every IPv4 datagram leaves with
// Don't Fragment and is never fragmented locally. Two reasons. The protocol
// keeps every datagram within 1,200 bytes, which fits the IPv6 minimum MTU,
// so only a broken path would need a fragment, and there a send that fails
// is counted where a fragmented datagram would be lost twice as often. And
// in the default mode ("want") the datagrams carry DF as well, but on an
// unconnected socket the kernel still picks an IP ID for each (a keyed
// hash and an atomic add on a table shared by all CPUs: ~3 % of the
// server's samples at 4,200 players); in "do" mode a DF datagram's ID is 0
// and that work is skipped (ip_select_ident; RFC 6864 allows it).
func SetDontFragment(fd int) error {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return fmt.Errorf("udp: getsockname: %w", err)
	}
	_, v6 := sa.(*unix.SockaddrInet6)
	return setDontFragment(fd, v6)
}

// setDontFragment is SetDontFragment for a caller that knows the family.
func setDontFragment(fd int, v6 bool) error {
	if v6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, unix.IPV6_PMTUDISC_DO); err != nil {
			return fmt.Errorf("udp: IPV6_MTU_DISCOVER: %w", err)
		}
		// IPv4-mapped peers of a dual-stack socket; an IPv6-only socket
		// refuses the option and has no such peers.
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO)
		return nil
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO); err != nil {
		return fmt.Errorf("udp: IP_MTU_DISCOVER: %w", err)
	}
	return nil
}

// EnableTimestamps turns on SO_TIMESTAMPNS: the kernel then reports when it
// received each datagram (ParseControl). It stamps every datagram of the
// host once any socket asks, a clock read each. The kernel switches that on
// asynchronously: for a moment after the first socket asks, a datagram is
// stamped when it is read instead.
func EnableTimestamps(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		return fmt.Errorf("udp: SO_TIMESTAMPNS: %w", err)
	}
	return nil
}

// LocalAddrPort is the address and port fd is bound to.
func LocalAddrPort(fd int) (netip.AddrPort, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("udp: getsockname: %w", err)
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)), nil
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port)), nil
	}
	return netip.AddrPort{}, fmt.Errorf("udp: getsockname: not an IP socket (%T)", sa)
}

package udp

import (
	"net"
	"net/netip"
)

// Addr is a UDP endpoint in a fixed-size, pointer-free form.
//
// netip.AddrPort would do for comparisons, but it holds its zone as a
// unique.Handle, which is a pointer: an array of sessions holding one would
// be scanned by the GC, and the rings to the engine carry addresses too. Addr
// is plain bytes, so == compares it without allocating and arrays of it are
// invisible to the GC.
//
// An IPv4 address is kept in its IPv4-mapped IPv6 form (::ffff:a.b.c.d), so
// the same client seen through an AF_INET socket or through a dual-stack
// AF_INET6 socket gets the same key. IPv6 zones (link-local scope ids) are
// not kept: the server is meant to listen on routable or loopback addresses,
// and a reply to a link-local client without its scope would not route.
type Addr struct {
	IP   [16]byte
	Port uint16
}

// AddrFromAddrPort converts ap; the zone, if any, is dropped (see Addr).
func AddrFromAddrPort(ap netip.AddrPort) Addr {
	return Addr{IP: ap.Addr().As16(), Port: ap.Port()}
}

// AddrFromNet converts the net.Addr gnet hands to OnTraffic. gnet gives a
// *net.UDPAddr for UDP; anything else yields ok == false and the datagram is
// dropped, since we could not answer it anyway.
func AddrFromNet(a net.Addr) (Addr, bool) {
	u, ok := a.(*net.UDPAddr)
	if !ok || u == nil {
		return Addr{}, false
	}
	var k Addr
	switch len(u.IP) {
	case net.IPv4len:
		k.IP[10], k.IP[11] = 0xff, 0xff
		copy(k.IP[12:], u.IP)
	case net.IPv6len:
		copy(k.IP[:], u.IP)
	default:
		return Addr{}, false
	}
	if u.Port < 0 || u.Port > 0xffff {
		return Addr{}, false
	}
	k.Port = uint16(u.Port)
	return k, true
}

// Is4 reports whether a is an IPv4 address (IPv4-mapped form).
func (a Addr) Is4() bool {
	for _, b := range a.IP[:10] {
		if b != 0 {
			return false
		}
	}
	return a.IP[10] == 0xff && a.IP[11] == 0xff
}

// AddrPort converts back for logging and tests; IPv4 comes back unmapped.
func (a Addr) AddrPort() netip.AddrPort {
	ip := netip.AddrFrom16(a.IP)
	return netip.AddrPortFrom(ip.Unmap(), a.Port)
}

func (a Addr) String() string { return a.AddrPort().String() }

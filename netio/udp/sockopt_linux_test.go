//go:build linux

package udp

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// rawUDPTap is a raw socket that sees a copy of every IPv4 UDP datagram of
// the host, IP header included. It skips the test without CAP_NET_RAW.
func rawUDPTap(t *testing.T) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if errors.Is(err, unix.EPERM) {
		t.Skip("raw sockets need CAP_NET_RAW: run as root to see the IP header as sent")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 1})
	// Other tests' traffic lands here too; room for it, so ours is not
	// dropped before it is read.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 64<<20)
	return fd
}

// ipHeader reads from tap until a datagram to port arrives and returns its
// IP ID and its flags and fragment offset field.
func ipHeader(t *testing.T, tap int, port uint16) (id, flags uint16) {
	t.Helper()
	buf := make([]byte, 65536)
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); {
		n, _, err := unix.Recvfrom(tap, buf, 0)
		if err != nil {
			continue
		}
		ihl := int(buf[0]&0x0f) * 4
		if n < ihl+8 || binary.BigEndian.Uint16(buf[ihl+2:]) != port {
			continue
		}
		return binary.BigEndian.Uint16(buf[4:6]), binary.BigEndian.Uint16(buf[6:8])
	}
	t.Fatalf("no datagram to port %d seen on the wire", port)
	return 0, 0
}

const ipDF = 0x4000

// Every datagram sent through a Conn or a socket sender leaves with Don't
// Fragment set and IP ID 0: the kernel skipped picking an ID. An ordinary
// socket's datagrams carry DF too (PMTU discovery's default, "want"), but
// the kernel still picks an ID for each, which is the work the option
// saves; the ID tells the two apart, so the check can fail.
func TestDontFragmentOnTheWire(t *testing.T) {
	tap := rawUDPTap(t)
	sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	to := sink.LocalAddr().(*net.UDPAddr).AddrPort()
	port := to.Port()

	plain, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	// One ID in 65,536 is 0 by chance; two in a row are not.
	ids := 0
	for range 2 {
		if _, err := plain.WriteToUDPAddrPort([]byte("plain"), to); err != nil {
			t.Fatal(err)
		}
		id, _ := ipHeader(t, tap, port)
		ids += int(id)
	}
	if ids == 0 {
		t.Fatal("an ordinary socket sent with IP ID 0 twice: the check cannot tell")
	}

	c, err := Listen(netip.MustParseAddrPort("127.0.0.1:0"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if res := c.WriteBatch([]Message{{Buf: []byte("conn"), Addr: to}}); res.Sent != 1 {
		t.Fatalf("conn send: %+v", res)
	}
	if id, f := ipHeader(t, tap, port); f&ipDF == 0 || id != 0 {
		t.Fatalf("Conn sent ID %d, flags %#04x; want ID 0 with DF", id, f)
	}

	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	snd, err := NewSocketSender(fd, 4)
	if err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	defer snd.Close()
	if r := snd.Send([][]byte{[]byte("sender")}, []Addr{AddrFromAddrPort(to)}, true); r.Sent != 1 {
		t.Fatalf("sender send: %+v", r)
	}
	if id, f := ipHeader(t, tap, port); f&ipDF == 0 || id != 0 {
		t.Fatalf("socket sender sent ID %d, flags %#04x; want ID 0 with DF", id, f)
	}
}

// An IPv6 socket gets the IPv6 option (and the IPv4 one for mapped peers).
func TestDontFragmentIPv6(t *testing.T) {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Skip("no IPv6 here:", err)
	}
	defer unix.Close(fd)
	if err := SetDontFragment(fd); err != nil {
		t.Fatal(err)
	}
	if v, err := unix.GetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER); err != nil || v != unix.IPV6_PMTUDISC_DO {
		t.Fatalf("IPV6_MTU_DISCOVER = %d, %v; want %d", v, err, unix.IPV6_PMTUDISC_DO)
	}
}

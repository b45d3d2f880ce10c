//go:build linux

package udp

import (
	"net"
	"net/netip"
	"reflect"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The kernel seam: EINTR is retried, other errors reported with n == 0.
func TestRecvmmsgErrors(t *testing.T) {
	r := newMmsgReceiver(-1, 4)
	calls := 0
	r.recvmmsg = func(fd int, hdrs []unix.Mmsghdr, flags int) (int, unix.Errno) {
		calls++
		if flags&unix.MSG_DONTWAIT == 0 {
			t.Error("recvmmsg without MSG_DONTWAIT")
		}
		switch calls {
		case 1:
			return 0, unix.EINTR
		case 2:
			sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(hdrs[0].Hdr.Name))
			*sa = unix.RawSockaddrInet6{Family: unix.AF_UNIX}
			hdrs[0].Len = 3
			return 1, 0
		}
		return -1, unix.ENOMEM
	}
	bufs := [][]byte{make([]byte, 2048)}
	sizes, addrs := make([]int, 1), make([]Addr, 1)
	if n, err := r.Receive(bufs, sizes, addrs); n != 1 || err != nil || sizes[0] != 3 || addrs[0].Port != 0 {
		t.Fatalf("after EINTR: %d %v %d %v", n, err, sizes[0], addrs[0])
	}
	if n, err := r.Receive(bufs, sizes, addrs); n != 0 || err != unix.ENOMEM {
		t.Fatalf("ENOMEM: %d %v", n, err)
	}
}

// A receiver made with RawSyscalls calls the raw recvmmsg and receives what
// is queued on a real loopback socket, with each datagram's source.
func TestRecvmmsgRawLoopback(t *testing.T) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sa.(*unix.SockaddrInet4).Port}
	rx, err := NewSocketReceiver(fd, 4, RawSyscalls)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := reflect.ValueOf(rx.(*mmsgReceiver).recvmmsg).Pointer(), reflect.ValueOf(rawRecvmmsg).Pointer(); got != want {
		t.Fatal("RawSyscalls: the receiver calls the scheduled recvmmsg")
	}
	c, err := net.DialUDP("udp4", nil, to)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, m := range []string{"one", "two"} {
		if _, err := c.Write([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	bufs := [][]byte{make([]byte, 64), make([]byte, 64), make([]byte, 64), make([]byte, 64)}
	sizes, addrs := make([]int, 4), make([]Addr, 4)
	got := 0
	for deadline := time.Now().Add(10 * time.Second); got < 2 && time.Now().Before(deadline); {
		n, err := rx.Receive(bufs[got:], sizes[got:], addrs[got:])
		if err != nil {
			t.Fatal(err)
		}
		got += n
		if n == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	me := c.LocalAddr().(*net.UDPAddr).AddrPort()
	if got != 2 || string(bufs[0][:sizes[0]]) != "one" || string(bufs[1][:sizes[1]]) != "two" ||
		addrs[0].AddrPort() != netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), me.Port()) {
		t.Fatalf("received %d: %q %q from %v, sent from %v", got, bufs[0][:sizes[0]], bufs[1][:sizes[1]], addrs[0], me)
	}
}

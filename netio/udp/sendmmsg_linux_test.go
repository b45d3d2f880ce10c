//go:build linux

package udp

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"reflect"
	"strconv"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fakeKernel plays sendmmsg: each call takes the next scripted step, records
// the datagrams it "sends" (decoded from the mmsghdrs, as the kernel would
// read them) and returns the step's count or errno.
type fakeKernel struct {
	steps []kstep // consumed front to back; when empty, send everything
	sent  []kdgram
	calls int
	polls int
	ready bool // what pollOut answers
}

type kstep struct {
	n     int // send at most n (0 = all)
	errno unix.Errno
}

type kdgram struct {
	addr Addr
	data []byte
}

func (k *fakeKernel) sendmmsg(fd int, hdrs []unix.Mmsghdr, flags int) (int, unix.Errno) {
	k.calls++
	if k.calls > 1000 {
		panic("sender keeps calling sendmmsg: no progress")
	}
	if flags&unix.MSG_DONTWAIT == 0 {
		panic("sendmmsg without MSG_DONTWAIT")
	}
	st := kstep{}
	if len(k.steps) > 0 {
		st, k.steps = k.steps[0], k.steps[1:]
	}
	if st.errno != 0 {
		return -1, st.errno
	}
	n := len(hdrs)
	if st.n > 0 && st.n < n {
		n = st.n
	}
	for i := range n {
		h := &hdrs[i].Hdr
		iov := unsafe.Slice(h.Iov, h.Iovlen)
		var data []byte
		for _, v := range iov {
			data = append(data, unsafe.Slice(v.Base, v.Len)...)
		}
		k.sent = append(k.sent, kdgram{addr: decodeSockaddr(h.Name, h.Namelen), data: data})
		hdrs[i].Len = uint32(len(data))
	}
	return n, 0
}

func (k *fakeKernel) pollOut(int, *[1]unix.PollFd, *unix.Timespec) bool {
	k.polls++
	return k.ready
}

// decodeSockaddr reads a sockaddr as the kernel would, big-endian port.
func decodeSockaddr(name *byte, n uint32) Addr {
	b := unsafe.Slice(name, n)
	var a Addr
	switch binary.NativeEndian.Uint16(b[0:2]) {
	case unix.AF_INET:
		a.IP[10], a.IP[11] = 0xff, 0xff
		copy(a.IP[12:], b[4:8])
	case unix.AF_INET6:
		copy(a.IP[:], b[8:24])
	default:
		panic("bad family")
	}
	a.Port = binary.BigEndian.Uint16(b[2:4])
	return a
}

func newFakeSender(t *testing.T, family, batch int, k *fakeKernel) *mmsgSender {
	t.Helper()
	s, err := newMmsgSender(-1, family, batch)
	if err != nil {
		t.Fatal(err)
	}
	s.sendmmsg, s.pollOut = k.sendmmsg, k.pollOut
	return s
}

func testBatch(n int) ([][]byte, []Addr) {
	bufs := make([][]byte, n)
	addrs := make([]Addr, n)
	for i := range n {
		bufs[i] = bytes.Repeat([]byte{byte(i)}, 10+i)
		addrs[i] = testAddr("127.0.0.1:" + strconv.Itoa(1000+i))
	}
	return bufs, addrs
}

func checkSent(t *testing.T, k *fakeKernel, bufs [][]byte, addrs []Addr, idx []int) {
	t.Helper()
	if len(k.sent) != len(idx) {
		t.Fatalf("kernel got %d datagrams, want %d", len(k.sent), len(idx))
	}
	for j, i := range idx {
		if k.sent[j].addr != addrs[i] || !bytes.Equal(k.sent[j].data, bufs[i]) {
			t.Fatalf("datagram %d: got %v %x, want %v %x", j, k.sent[j].addr, k.sent[j].data, addrs[i], bufs[i])
		}
	}
}

func seq(lo, hi int) []int {
	var s []int
	for i := lo; i < hi; i++ {
		s = append(s, i)
	}
	return s
}

func TestMmsgSendAll(t *testing.T) {
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		k := &fakeKernel{}
		s := newFakeSender(t, fam, 8, k)
		bufs, addrs := testBatch(8)
		r := s.Send(bufs, addrs, true)
		if r.Sent != 8 || r.Syscalls != 1 || r.Failed+r.Dropped != 0 {
			t.Fatalf("family %d: %+v", fam, r)
		}
		want := 0
		for _, b := range bufs {
			want += len(b)
		}
		if r.Bytes != want {
			t.Fatalf("bytes %d want %d", r.Bytes, want)
		}
		checkSent(t, k, bufs, addrs, seq(0, 8))
	}
}

// A partial send resumes from the first datagram the kernel did not take.
func TestMmsgPartialSend(t *testing.T) {
	k := &fakeKernel{steps: []kstep{{n: 3}, {n: 1}, {n: 0}}}
	s := newFakeSender(t, unix.AF_INET, 8, k)
	bufs, addrs := testBatch(8)
	r := s.Send(bufs, addrs, true)
	if r.Sent != 8 || r.Syscalls != 3 || r.Partial != 2 {
		t.Fatalf("%+v", r)
	}
	checkSent(t, k, bufs, addrs, seq(0, 8))
}

// EAGAIN: wait (bounded) for writability, then resume; if the socket stays
// full, drop the rest and say so; with wait false, do not poll at all.
func TestMmsgEAGAIN(t *testing.T) {
	k := &fakeKernel{steps: []kstep{{n: 2}, {errno: unix.EAGAIN}}, ready: true}
	s := newFakeSender(t, unix.AF_INET, 6, k)
	bufs, addrs := testBatch(6)
	r := s.Send(bufs, addrs, true)
	if r.Sent != 6 || r.WouldBlock != 1 || k.polls != 1 || r.Dropped != 0 {
		t.Fatalf("recoverable EAGAIN: %+v polls %d", r, k.polls)
	}
	checkSent(t, k, bufs, addrs, seq(0, 6))

	k = &fakeKernel{steps: []kstep{{n: 2}, {errno: unix.EAGAIN}, {errno: unix.EAGAIN}, {errno: unix.EAGAIN}, {errno: unix.EAGAIN}}, ready: true}
	s = newFakeSender(t, unix.AF_INET, 6, k)
	r = s.Send(bufs, addrs, true)
	if r.Sent != 2 || r.Dropped != 4 || k.polls != s.maxPolls || r.Sent+r.Failed+r.Dropped != 6 {
		t.Fatalf("stuck socket: %+v polls %d", r, k.polls)
	}

	k = &fakeKernel{steps: []kstep{{errno: unix.EAGAIN}}, ready: true}
	s = newFakeSender(t, unix.AF_INET, 6, k)
	r = s.Send(bufs, addrs, false)
	if r.Sent != 0 || r.Dropped != 6 || k.polls != 0 {
		t.Fatalf("no-wait EAGAIN: %+v polls %d", r, k.polls)
	}

	k = &fakeKernel{steps: []kstep{{errno: unix.EAGAIN}}, ready: false}
	s = newFakeSender(t, unix.AF_INET, 6, k)
	r = s.Send(bufs, addrs, true)
	if r.Dropped != 6 || k.polls != 1 {
		t.Fatalf("poll timed out: %+v polls %d", r, k.polls)
	}
}

// A datagram the kernel refuses is skipped; the rest still go out. EINTR is
// retried.
func TestMmsgPerMessageError(t *testing.T) {
	k := &fakeKernel{steps: []kstep{{n: 2}, {errno: unix.EPERM}, {errno: unix.EINTR}}}
	s := newFakeSender(t, unix.AF_INET6, 5, k)
	bufs, addrs := testBatch(5)
	r := s.Send(bufs, addrs, true)
	if r.Sent != 4 || r.Failed != 1 || r.Err != unix.EPERM {
		t.Fatalf("%+v", r)
	}
	checkSent(t, k, bufs, addrs, []int{0, 1, 3, 4})
}

// An AF_INET socket cannot reach an IPv6 client: that datagram fails
// without a system call, the others are sent.
func TestMmsgFamilyMismatch(t *testing.T) {
	k := &fakeKernel{}
	s := newFakeSender(t, unix.AF_INET, 4, k)
	bufs, addrs := testBatch(4)
	addrs[1] = testAddr("[2001:db8::1]:9")
	r := s.Send(bufs, addrs, true)
	if r.Sent != 3 || r.Failed != 1 || r.Err != errAddrFamily {
		t.Fatalf("%+v", r)
	}
	checkSent(t, k, bufs, addrs, []int{0, 2, 3})

	// On AF_INET6 the same batch goes out whole, IPv4 as mapped addresses.
	k = &fakeKernel{}
	s = newFakeSender(t, unix.AF_INET6, 4, k)
	if r := s.Send(bufs, addrs, true); r.Sent != 4 {
		t.Fatalf("%+v", r)
	}
	checkSent(t, k, bufs, addrs, seq(0, 4))
}

func TestMmsgBadCall(t *testing.T) {
	k := &fakeKernel{}
	s := newFakeSender(t, unix.AF_INET, 2, k)
	bufs, addrs := testBatch(3)
	if r := s.Send(bufs, addrs, true); r.Failed != 3 || k.calls != 0 {
		t.Fatalf("oversized batch: %+v", r)
	}
	if r := s.Send(bufs[:2], addrs[:1], true); r.Failed != 2 || k.calls != 0 {
		t.Fatalf("mismatched lengths: %+v", r)
	}
}

func TestMmsgNoAlloc(t *testing.T) {
	s, _ := newMmsgSender(-1, unix.AF_INET6, 64)
	s.sendmmsg = func(_ int, hdrs []unix.Mmsghdr, _ int) (int, unix.Errno) { return len(hdrs), 0 }
	bufs, addrs := testBatch(64)
	if n := testing.AllocsPerRun(100, func() { s.Send(bufs, addrs, true) }); n != 0 {
		t.Fatalf("Send allocates %v", n)
	}
}

// The real system call on loopback: one sendmmsg delivers every datagram to
// its own address, made as a scheduled or as a raw system call.
func TestMmsgLoopback(t *testing.T) {
	t.Run("scheduled", func(t *testing.T) { testMmsgLoopback(t) })
	t.Run("raw", func(t *testing.T) { testMmsgLoopback(t, RawSyscalls) })
}

func testMmsgLoopback(t *testing.T, opts ...SocketOption) {
	const n = 20
	rx := make([]*net.UDPConn, n)
	addrs := make([]Addr, n)
	bufs := make([][]byte, n)
	for i := range rx {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		rx[i] = c
		addrs[i] = AddrFromAddrPort(c.LocalAddr().(*net.UDPAddr).AddrPort())
		bufs[i] = []byte("datagram " + strconv.Itoa(i))
	}
	tx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	f, err := tx.File() // a dup: the sender owns and closes it
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Dup(int(f.Fd()))
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	snd, err := NewSocketSender(fd, n, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer snd.Close()
	want := reflect.ValueOf(Sendmmsg).Pointer()
	if hasOption(opts, RawSyscalls) {
		want = reflect.ValueOf(rawSendmmsg).Pointer()
	}
	if got := reflect.ValueOf(snd.(*mmsgSender).sendmmsg).Pointer(); got != want {
		t.Fatalf("options %v: the sender calls the wrong sendmmsg wrapper", opts)
	}
	if r := snd.Send(bufs, addrs, true); r.Sent != n || r.Syscalls != 1 {
		t.Fatalf("%+v", r)
	}
	buf := make([]byte, 100)
	for i, c := range rx {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		k, err := c.Read(buf)
		if err != nil || string(buf[:k]) != string(bufs[i]) {
			t.Fatalf("receiver %d: %q %v", i, buf[:k], err)
		}
	}
}

func testAddr(s string) Addr { return AddrFromAddrPort(netip.MustParseAddrPort(s)) }

//go:build linux

package netio

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/treasured/treasured/netio/auth"
	"github.com/treasured/treasured/netio/udp"
	"github.com/treasured/treasured/schema"
)

// sealedLooking is a datagram with a sealed datagram's header (bit 63 of
// the session id) for no session, with or without the urgent mark, of
// auth.Overhead bytes.
func sealedLooking(urgent bool) []byte {
	b := make([]byte, auth.Overhead)
	b[7] = 0x80
	if urgent {
		b[auth.UrgentByte] = 0x80
	}
	return b
}

// The urgent socket's steering: of the datagrams one client sends, those
// sealed and marked urgent reach the urgent socket, everything else the
// loop's own socket, a datagram too short to hold the mark included; over
// IPv4 and IPv6 (the program's offsets count from the UDP payload either
// way). One client's datagrams all hash to the same socket, so without
// the program one of the two sockets would get them all.
func TestUrgentSteering(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		t.Run(addr, func(t *testing.T) { testUrgentSteering(t, netip.MustParseAddrPort(addr)) })
	}
}

func testUrgentSteering(t *testing.T, listen netip.AddrPort) {
	s, err := openPollSocket(listen, 1<<20, 1<<20, true)
	if err != nil {
		if listen.Addr().Is6() {
			t.Skipf("no IPv6 loopback here: %v", err)
		}
		t.Fatal(err)
	}
	defer func() { _ = s.close() }()
	if s.urgent < 0 {
		t.Fatal("no urgent socket")
	}
	ap, err := udp.LocalAddrPort(s.fd)
	if err != nil {
		t.Fatal(err)
	}
	if uap, err := udp.LocalAddrPort(s.urgent); err != nil || uap != ap {
		t.Fatalf("urgent socket at %v (%v), loop socket at %v", uap, err, ap)
	}
	family, dst := unix.AF_INET6, unix.Sockaddr(&unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()})
	if ap.Addr().Is4() {
		family, dst = unix.AF_INET, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	}
	client, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = unix.Close(client) }()

	plainMarked := sealedLooking(true)
	plainMarked[7] = 'R' // a plain datagram's identifier byte, with byte 15 set
	shortMarked := sealedLooking(true)[:10]
	shortMarked[7] = 0x80
	for _, c := range []struct {
		name   string
		b      []byte
		urgent bool
	}{
		{"sealed, marked", sealedLooking(true), true},
		{"sealed, unmarked", sealedLooking(false), false},
		{"plain, byte 15 set", plainMarked, false},
		{"too short for the mark", shortMarked, false},
		{"sealed, marked, again", sealedLooking(true), true},
		{"empty", nil, false},
	} {
		if err := unix.Sendto(client, c.b, 0, dst); err != nil {
			t.Fatal(err)
		}
		want, other := s.fd, s.urgent
		if c.urgent {
			want, other = other, want
		}
		if err := waitReadable(want); err != nil {
			t.Fatalf("%s: nothing at the %s socket: %v", c.name, map[bool]string{true: "urgent", false: "loop"}[c.urgent], err)
		}
		buf := make([]byte, 64)
		if n, _, err := unix.Recvfrom(want, buf, unix.MSG_DONTWAIT); err != nil || n != len(c.b) {
			t.Fatalf("%s: read %d bytes, %v; want %d", c.name, n, err, len(c.b))
		}
		// Loopback delivers within the sender's call: the other socket
		// would hold it already.
		if _, _, err := unix.Recvfrom(other, buf, unix.MSG_DONTWAIT); !errors.Is(err, unix.EAGAIN) {
			t.Fatalf("%s: the other socket has a datagram too (%v)", c.name, err)
		}
	}
}

// newUrgentRig is a pollRig whose loop has an urgent socket: the poll
// backend with authentication on.
func newUrgentRig(t *testing.T) *pollRig {
	t.Helper()
	return newRigWith(t, 8, time.Millisecond, func(c *Config) { c.Backend = BackendPoll })
}

// With an urgent socket, the fan-out's between hook reads only it: a
// marked datagram waiting when the fan-out starts is handled after the
// first send batch, an unmarked one waits in the kernel until the tick's
// catch-up (or the loop goroutine) reads the loop socket. Neither is lost.
func TestPollBetweenReadsUrgentOnly(t *testing.T) {
	pr := newUrgentRig(t)
	r := pr.r
	pl := pr.b.loops[0]
	if pl.urgent == nil || pl.sock.urgent < 0 {
		t.Fatal("the poll backend with authentication and one loop has no urgent socket")
	}
	send := func(b []byte, fd int) {
		t.Helper()
		if res := pr.p.client.Send([][]byte{b}, []Addr{pr.srv}, true); res.Sent != 1 {
			t.Fatalf("client send: %+v", res)
		}
		if err := waitReadable(fd); err != nil {
			t.Fatalf("not queued: %v", err)
		}
	}
	// The rig's loop drops both datagrams (it has no keys): its drop
	// counters count what was handled.
	handled := func() (n uint64) {
		for d := range NumDropReasons {
			n += r.drops(DropReason(d))
		}
		return n
	}
	send(sealedLooking(false), pl.sock.fd)
	send(sealedLooking(true), pl.sock.urgent)

	f, ps := newTestFanout(t, 1000, 64, &memSender{batch: 64})
	f.workers[0].between = pr.b.between()
	f.send(ps, false)
	if got := handled(); got != 1 {
		t.Fatalf("after the fan-out %d datagrams handled, want 1 (the urgent one)", got)
	}
	catchUp := pr.b.catchUp()
	if catchUp == nil {
		t.Fatal("no catch-up with a pace")
	}
	catchUp()
	if got := handled(); got != 2 {
		t.Fatalf("after the catch-up %d datagrams handled, want 2", got)
	}

	// A flood of marked datagrams (a client that marks everything, or
	// one replaying marked garbage) costs the fan-out at most one receive
	// batch per send batch, as any flood did before the urgent socket.
	for range 5 * 8 {
		send(sealedLooking(true), pl.sock.urgent)
	}
	between := pr.b.between()
	between()
	if got := handled(); got != 2+8 {
		t.Fatalf("one between-batches hook handled %d marked datagrams, want one batch (8)", got-2)
	}
}

// End to end, on the poll layout with authentication: a client's Pings
// reach the urgent socket and are answered; its Inputs do not (they take
// the loop socket), and they are applied all the same. With SingleSocket
// there is no urgent socket and the same exchange still works.
func TestUrgentEndToEnd(t *testing.T) {
	for _, single := range []bool{false, true} {
		t.Run(map[bool]string{false: "urgent", true: "single"}[single], func(t *testing.T) {
			testUrgentEndToEnd(t, single)
		})
	}
}

func testUrgentEndToEnd(t *testing.T, single bool) {
	srv := startServer(t, Config{Backend: BackendPoll, Loops: 1, TokenKey: testKey(t, 1), SingleSocket: single},
		newRecordingWorld(newEngine(t, e2eEngineConfig())))
	c := loggedInClient(t, srv, 1, 77)
	st := &srv.LoopStats[0]
	const pings = 5
	deadline := time.Now().Add(20 * time.Second)
	for i := range pings {
		if _, err := c.conn.Write(c.s.Ping(int64(i+1), int64(i+1))); err != nil {
			t.Fatal(err)
		}
		if err := c.send(c.enc.Input(&schema.InputFrame{SessionID: c.w.SessionID, AckTick: 1})); err != nil {
			t.Fatal(err)
		}
		for st.Pongs.Load() < uint64(i+1) || st.Inputs.Load() < uint64(i+1) {
			if time.Now().After(deadline) {
				t.Fatalf("after %d Pings and Inputs: %d Pongs, %d Inputs", i+1, st.Pongs.Load(), st.Inputs.Load())
			}
			time.Sleep(time.Millisecond)
		}
	}
	want := uint64(pings)
	if single {
		want = 0
	}
	if got := st.UrgentIn.Load(); got != want {
		t.Fatalf("%d datagrams read from the urgent socket, want %d (the Pings)", got, want)
	}
	for r := range NumDropReasons {
		if n := st.Drops[r].Load(); n > 0 {
			t.Errorf("dropped %d: %v", n, DropReason(r))
		}
	}
}

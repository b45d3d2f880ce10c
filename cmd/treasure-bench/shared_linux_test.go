//go:build linux

package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/treasured/treasured/netio/udp"
	"github.com/treasured/treasured/schema"
)

// sharedWorker makes a worker whose n players share sockets of perSocket
// players, aimed at a plain socket standing in for the server.
func sharedWorker(t *testing.T, n, perSocket int) (*Worker, *net.UDPConn) {
	t.Helper()
	srv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	cfg, err := ParseArgs([]string{"--addr", srv.LocalAddr().String(), "--players", "100"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	server := srv.LocalAddr().(*net.UDPAddr).AddrPort()
	w, err := newWorker(0, cfg, time.Now(), server, 0, n, perSocket, make([]int64, n), make([]int64, n), 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.close)
	return w, srv
}

// waitRead reads s's socket until want datagrams came (generous bound: the
// box may be loaded) and returns them.
func waitRead(t *testing.T, w *Worker, s *sock, want int) []udp.Message {
	t.Helper()
	var got []udp.Message
	for end := time.Now().Add(10 * time.Second); len(got) < want && time.Now().Before(end); {
		n, err := s.conn.ReadBatch(w.rmsgs)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range w.rmsgs[:n] {
			m.Buf = bytes.Clone(m.Buf[:m.N])
			got = append(got, m)
		}
		if n == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	if len(got) != want {
		t.Fatalf("got %d datagrams, want %d", len(got), want)
	}
	return got
}

// Two players on one socket never see each other's datagrams: what the
// server sends to a player's address reaches that player only.
func TestSharedRouting(t *testing.T) {
	w, srv := sharedWorker(t, 4, 2)
	if len(w.socks) != 2 {
		t.Fatalf("%d sockets for 4 players, 2 each", len(w.socks))
	}
	s := w.socks[1] // players 2 and 3
	for _, g := range []int{3, 2, 3} {
		to := netip.AddrPortFrom(w.cfg.PlayerAddr(g), s.conn.LocalAddr().Port())
		if _, err := srv.WriteToUDPAddrPort([]byte{byte(g)}, to); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range waitRead(t, w, s, 3) {
		p := w.route(s, &m)
		if p == nil || int(p.idx) != int(m.Buf[0]) {
			t.Fatalf("datagram for player %d routed to %v", m.Buf[0], p)
		}
	}
	// Player 0's address on player 2's socket: not a player of this socket.
	m := udp.Message{Addr: w.server, Local: w.cfg.PlayerAddr(0)}
	if p := w.route(s, &m); p != nil || w.res.UnknownDest != 1 {
		t.Fatalf("foreign player's address routed to %v (unknown %d)", p, w.res.UnknownDest)
	}
}

// Bad input on a shared socket is counted, never delivered, never a crash:
// a datagram from another address than the server's, one for an address of
// no player, one too long for the receive buffer, and garbage from the
// server to a real player.
func TestSharedBadInput(t *testing.T) {
	w, srv := sharedWorker(t, 2, 2)
	s := w.socks[0]
	port := s.conn.LocalAddr().Port()
	rogue, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rogue.Close()
	player0 := netip.AddrPortFrom(w.cfg.PlayerAddr(0), port)
	send := func(c *net.UDPConn, b []byte, to netip.AddrPort) {
		if _, err := c.WriteToUDPAddrPort(b, to); err != nil {
			t.Fatal(err)
		}
	}
	send(rogue, []byte("not the server"), player0)
	send(srv, []byte("nobody"), netip.AddrPortFrom(w.cfg.PlayerAddr(50), port))
	send(srv, make([]byte, schema.MaxDatagram+100), player0)
	send(srv, []byte{0xde, 0xad, 0xbe, 0xef}, player0)
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
		w.drainSock(s)
		r := w.res
		if r.WrongSource+r.UnknownDest+r.Truncated+r.BadDatagrams >= 4 {
			break
		}
	}
	r := w.res
	if r.WrongSource != 1 || r.UnknownDest != 1 || r.Truncated != 1 || r.BadDatagrams != 1 {
		t.Fatalf("wrong source %d, unknown %d, truncated %d, bad %d; want 1 each", r.WrongSource, r.UnknownDest, r.Truncated, r.BadDatagrams)
	}
	if st := w.players[1].sess.Stats; st.Snapshots != 0 || st.Unexpected != 0 {
		t.Fatalf("player 1 saw player 0's datagrams: %+v", st)
	}
}

// Every datagram a player sends carries its own source address, as the
// wire shows it: a raw socket sees the IP and UDP headers as sent.
func TestSharedSourceAddress(t *testing.T) {
	raw, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if errors.Is(err, unix.EPERM) {
		t.Skip("raw sockets need CAP_NET_RAW: run as root to check the source addresses on the wire")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(raw)
	unix.SetsockoptTimeval(raw, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 1})
	// The raw socket gets a copy of every UDP datagram of the host: with
	// other load tests running (hundreds of thousands a second) a default
	// buffer overflows before this test reads its five, which are queued
	// first. 64 MB holds a good fraction of a second of that.
	unix.SetsockoptInt(raw, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 64<<20)

	w, srv := sharedWorker(t, 5, 5)
	now := w.clock()
	for _, p := range w.players {
		w.send(p, p.sess.Hello(), now)
	}
	w.flushAll()
	want := map[netip.AddrPort]bool{}
	for g := range 5 {
		want[netip.AddrPortFrom(w.cfg.PlayerAddr(g), w.socks[0].conn.LocalAddr().Port())] = true
	}
	// The raw socket also sees other UDP traffic of the host: keep what went
	// to the server's port.
	seen := map[netip.AddrPort]int{}
	buf := make([]byte, 65536)
	for end := time.Now().Add(10 * time.Second); len(seen) < 5 && time.Now().Before(end); {
		n, _, err := unix.Recvfrom(raw, buf, 0)
		if err != nil {
			continue
		}
		ihl := int(buf[0]&0x0f) * 4
		if n < ihl+8 || binary.BigEndian.Uint16(buf[ihl+2:]) != w.server.Port() {
			continue
		}
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte(buf[12:16])), binary.BigEndian.Uint16(buf[ihl:]))
		seen[src]++
	}
	for a := range want {
		if seen[a] != 1 {
			t.Errorf("%v: %d datagrams on the wire, want 1", a, seen[a])
		}
	}
	for a := range seen {
		if !want[a] {
			t.Errorf("datagram to the server from %v, not a player's address", a)
		}
	}
	// And the server's socket sees the same sources.
	srv.SetReadDeadline(time.Now().Add(10 * time.Second))
	for range 5 {
		_, from, err := srv.ReadFromUDPAddrPort(buf)
		if err != nil || !want[from] {
			t.Fatalf("server got a datagram from %v (%v)", from, err)
		}
	}
}

// A non-loopback server with shared sockets is a usage error (exit 2) that
// says the addresses would need configuring.
func TestSharedNonLoopback(t *testing.T) {
	cfg, err := ParseArgs([]string{"--addr", "192.0.2.1:7777", "--players-per-socket", "8", "--admin", ""}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := runBench(cfg, &out, &errOut); code != exitUsage || !bytes.Contains(errOut.Bytes(), []byte("configured on an interface")) {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
}

// Sends that fall due while the worker handles a burst of datagrams leave
// between two receive batches, not after the whole burst; but not once the
// worker is behind by more than --max-lag: then receiving comes first, so
// that its own sockets do not overflow.
func TestSendsBetweenReceiveBatches(t *testing.T) {
	for _, behind := range []bool{false, true} {
		w, srv := sharedWorker(t, 2, 2)
		w.cfg.SendQuantum, w.cfg.PingRate, w.cfg.MaxLag = 0, 0, time.Hour
		start := int64(0)
		if behind {
			w.cfg.MaxLag = time.Millisecond
			start = w.clock() - int64(time.Second)
		}
		w.startRun(&Plan{Start: start, MeasureStart: start, MeasureEnd: 1 << 62, DrainEnd: 1 << 62})
		w.frozen = true
		s := w.socks[0]
		to := netip.AddrPortFrom(w.cfg.PlayerAddr(0), s.conn.LocalAddr().Port())
		if _, err := srv.WriteToUDPAddrPort([]byte{0xde, 0xad, 0xbe, 0xef}, to); err != nil {
			t.Fatal(err)
		}
		for end := time.Now().Add(10 * time.Second); w.res.BadDatagrams == 0 && time.Now().Before(end); time.Sleep(time.Millisecond) {
			w.drainSock(s)
		}
		if w.res.BadDatagrams != 1 {
			t.Fatalf("behind %v: the datagram did not arrive (bad %d)", behind, w.res.BadDatagrams)
		}
		// Both players' first inputs were due (phase 0): the pass ran and,
		// as neither is connected, skipped them; or, behind, did not run.
		want := uint64(2)
		if behind {
			want = 0
		}
		if uint64(w.inputs.Sent()) != want || w.res.SkippedNotConnected != want {
			t.Fatalf("behind %v: inputs popped %d, skipped %d; want %d each", behind, w.inputs.Sent(), w.res.SkippedNotConnected, want)
		}
	}
}

// A worker holds its players in input-phase order, each with its own
// phases, address and socket place, and a datagram to a player's address
// still reaches that player.
func TestPhaseOrder(t *testing.T) {
	srv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cfg, err := ParseArgs([]string{"--addr", srv.LocalAddr().String(), "--players", "100"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	inPh, pingPh := []int64{30, 10, 20, 0}, []int64{3, 1, 2, 0}
	w, err := newWorker(0, cfg, time.Now(), srv.LocalAddr().(*net.UDPAddr).AddrPort(), 4, 4, 2, inPh, pingPh, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	for i, g := range []int32{7, 5, 6, 4} { // players 4..7, phases 30, 10, 20, 0
		p := w.players[i]
		if p.idx != g || w.inputPh[i] != inPh[g-4] || w.pingPh[i] != pingPh[g-4] || p.s != w.socks[i/2] || p.addr != cfg.PlayerAddr(int(g)) {
			t.Fatalf("players[%d]: player %d, phases %d/%d, address %v; want player %d", i, p.idx, w.inputPh[i], w.pingPh[i], p.addr, g)
		}
		m := udp.Message{Addr: w.server, Local: p.addr}
		if got := w.route(p.s, &m); got != p {
			t.Fatalf("a datagram for player %d routed to %v", g, got)
		}
		if got := w.route(w.socks[1-i/2], &m); got != nil {
			t.Fatalf("player %d's address on the other socket routed to player %d", g, got.idx)
		}
	}
}

// A datagram's latency ends when the kernel received it, not when the
// worker read it: one left in the socket for 100 ms is handled as of its
// arrival, on a shared socket and on a socket of its own. Only lower
// bounds on real waits are checked, which hold however busy the box is.
// The kernel switches receive stamping on asynchronously when the first
// socket asks (udp.EnableTimestamps), so the check is repeated until the
// stamps are the kernel's, within a generous bound.
func TestLatencyEndsAtKernelReceipt(t *testing.T) {
	const wait = 100 * time.Millisecond
	for _, perSocket := range []int{2, 1} {
		w, srv := sharedWorker(t, 2, perSocket)
		p := w.players[0]
		var to netip.AddrPort
		if perSocket > 1 {
			to = netip.AddrPortFrom(w.cfg.PlayerAddr(int(p.idx)), p.s.conn.LocalAddr().Port())
		} else {
			sa, err := unix.Getsockname(p.fd)
			if err != nil {
				t.Fatal(err)
			}
			a := sa.(*unix.SockaddrInet4)
			to = netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
		}
		var waited int64
		for end := time.Now().Add(10 * time.Second); waited < int64(wait) && time.Now().Before(end); {
			bad := w.res.BadDatagrams
			if _, err := srv.WriteToUDPAddrPort([]byte("not a datagram of the protocol"), to); err != nil {
				t.Fatal(err)
			}
			time.Sleep(wait)
			for w.res.BadDatagrams == bad && time.Now().Before(end) {
				if perSocket > 1 {
					w.drainSock(p.s)
				} else {
					w.drain(p)
				}
				if w.res.BadDatagrams == bad {
					time.Sleep(time.Millisecond)
				}
			}
			if w.res.BadDatagrams == bad {
				t.Fatalf("%d per socket: the datagram was never handled", perSocket)
			}
			waited = w.readAt - w.now
		}
		if waited < int64(wait) {
			t.Fatalf("%d per socket: handled as of %v before the read, want at least the %v it waited", perSocket, time.Duration(waited), wait)
		}
	}
}

//go:build linux

package netio

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/treasured/treasured/netio/udp"
	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// pollRig is a poll backend of one loop around a loopRig's loop, on a
// loopback socket, with a client socket (the mmsgPair's) to talk to it.
// Its loop goroutine is not started: tests drive the backend's hooks or
// start it themselves.
type pollRig struct {
	r   *loopRig
	b   *pollBackend
	p   *mmsgPair // only its client half is used
	srv Addr
}

func newPollRig(t *testing.T, batch int) *pollRig {
	t.Helper()
	r := newRig(t, rigOpts{ring: 1 << 12})
	r.l.p.sessCost, r.l.p.hsCost = 1, 1 // no rate limit in the way
	s := &Server{
		log:  discardLogger(),
		addr: netip.MustParseAddrPort("127.0.0.1:0"),
		cfg:  Config{Loops: 1, BatchSize: batch, RecvBuffer: 1 << 20, SendBuffer: 1 << 20},
		// The rig's sessions were made at its clock (one hour); the
		// backend's clock must not run behind it.
		origin: time.Now().Add(-time.Duration(r.now) - time.Minute),
		loops:  []*loop{r.l},
		params: r.l.p,
	}
	b := newPollBackend(s)
	pl, err := b.openLoop(0)
	if err != nil {
		t.Fatal(err)
	}
	b.loops = append(b.loops, pl)
	t.Cleanup(b.close)
	ap := pl.conn.LocalAddr().(interface{ AddrPort() netip.AddrPort }).AddrPort()
	return &pollRig{r: r, b: b, p: newMmsgPair(t, batch), srv: udp.AddrFromAddrPort(ap)}
}

// readReply waits (bounded) for the next datagram to the client socket.
func (pr *pollRig) readReply(t *testing.T, buf []byte) int {
	t.Helper()
	fds := []unix.PollFd{{Fd: int32(pr.p.cfd), Events: unix.POLLIN}}
	if n, err := unix.Poll(fds, 10_000); n != 1 || err != nil {
		t.Fatalf("no reply within 10 s: %v", err)
	}
	n, err := unix.Read(pr.p.cfd, buf) // Read: Recvfrom would allocate its Sockaddr
	if err != nil || n == 0 {
		t.Fatalf("reply: %d %v", n, err)
	}
	return n
}

// The poll backend's loop goroutine: a batch of Inputs and Pings through
// RawConn.Read, recvmmsg, loop.datagram and the sendmmsg of the Pongs
// allocates nothing, and after stop the goroutine returns (done).
func TestPollNoAlloc(t *testing.T) {
	const batch = 16
	pr := newPollRig(t, batch)
	r := pr.r
	w := r.join(pr.p.caddr, 1)
	r.drain()
	in := r.input(w.SessionID, 3, 1, 2, 3)
	ping := bytes.Clone(r.enc.Ping(&schema.PingFrame{SessionID: w.SessionID, T: 1}))
	bufs, to := make([][]byte, batch), make([]Addr, batch)
	for i := range bufs {
		bufs[i], to[i] = in, pr.srv
		if i%4 == 0 {
			bufs[i] = ping
		}
	}

	startLoops(1, pr.b.run, pr.b.runDone)

	reply := make([]byte, 2048)
	var last int
	drain := func(*ringEntry) {}
	round := func() {
		if res := pr.p.client.Send(bufs, to, true); res.Sent != batch {
			t.Fatalf("client send: %+v", res)
		}
		for range batch / 4 { // the Pongs
			last = pr.readReply(t, reply)
		}
		r.l.ring.Drain(drain)
	}
	round()
	if n := testing.AllocsPerRun(200, round); n != 0 {
		t.Errorf("%v allocations per batch of %d", n, batch)
	}
	if body, _ := r.dec.Decode(reply[:last]); body != wire.BodyPong {
		t.Fatalf("reply is %v", body)
	}

	if err := pr.b.stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-pr.b.done():
	case <-time.After(10 * time.Second):
		t.Fatal("the loop goroutine did not return after stop")
	}
	if pr.b.err() != nil {
		t.Fatalf("stopped with %v", pr.b.err())
	}
	st := &r.stats
	if st.Pongs.Load() != 202*batch/4 || st.SendErrors.Load() != 0 { // AllocsPerRun runs round once more
		t.Fatalf("pongs %d send errors %d", st.Pongs.Load(), st.SendErrors.Load())
	}
}

// In the poll layout on one P the loop goroutine cannot run while the tick
// goroutine fans out, so the fan-out's between hook receives: a Hello
// waiting when the fan-out starts is answered after the first of its 16
// send batches. The hook skips while the loop goroutine holds the batch,
// and once serving has stopped.
func TestPollFanoutInterleavesReceive(t *testing.T) {
	pr := newPollRig(t, 8)
	r := pr.r
	between := pr.b.between()
	if between == nil {
		t.Fatal("no between-batches hook with one loop")
	}
	var answered []uint64 // Hellos answered when each Send began
	snd := &hookSender{memSender: memSender{batch: 64}}
	snd.onSend = func() { answered = append(answered, r.stats.Challenges.Load()) }
	f, ps := newTestFanout(t, 1000, 64, snd)
	f.workers[0].between = between

	sendHello := func() {
		t.Helper()
		if res := pr.p.client.Send([][]byte{r.hello(1)}, []Addr{pr.srv}, true); res.Sent != 1 {
			t.Fatalf("client send: %+v", res)
		}
		// Queued on the server socket before the fan-out starts.
		fds := []unix.PollFd{{Fd: int32(pr.b.loops[0].fd), Events: unix.POLLIN}}
		if n, err := unix.Poll(fds, 10_000); n != 1 || err != nil {
			t.Fatalf("the Hello never arrived: %v", err)
		}
	}
	sendHello()
	f.send(ps, false)
	if len(answered) != 16 || answered[0] != 0 || answered[1] != 1 {
		t.Fatalf("Hellos answered at each of %d sends: %v; want 0 at the first, 1 from the second on", len(answered), answered)
	}
	reply := make([]byte, 2048)
	if body, _ := r.dec.Decode(reply[:pr.readReply(t, reply)]); body != wire.BodyChallenge {
		t.Fatalf("reply %v", body)
	}

	// Receiving between batches allocates nothing.
	snd.onSend = func() {}
	if n := testing.AllocsPerRun(20, func() { f.send(ps, false) }); n != 0 {
		t.Fatalf("fan-out with receives between batches allocates %v", n)
	}

	// The loop goroutine is inside a batch (holds it): the hook leaves the
	// socket alone.
	sendHello()
	pl := pr.b.loops[0]
	pl.mu.Lock()
	f.send(ps, false)
	pl.mu.Unlock()
	if got := r.stats.Challenges.Load(); got != 1 {
		t.Fatalf("%d Hellos answered while the loop held the batch, want still 1", got)
	}
	// Once serving has stopped, the fan-out no longer receives.
	pr.b.stopping.Store(true)
	f.send(ps, false)
	if got := r.stats.Challenges.Load(); got != 1 {
		t.Fatalf("%d Hellos answered after the stop, want still 1", got)
	}
}

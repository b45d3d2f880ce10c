//go:build linux

package netio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

func newPollRig(t *testing.T, batch int) *pollRig { return newPacedRig(t, batch, 0) }

// newPacedRig is a pollRig whose loop paces its reads (Config.RecvPace;
// 0 or less: off).
func newPacedRig(t *testing.T, batch int, pace time.Duration) *pollRig {
	t.Helper()
	return newRigWith(t, batch, pace, nil)
}

// newRigWith is newPacedRig with its server's configuration changed by
// edit (if not nil) before the backend opens its loop.
func newRigWith(t *testing.T, batch int, pace time.Duration, edit func(*Config)) *pollRig {
	t.Helper()
	r := newRig(t, rigOpts{ring: 1 << 12})
	r.l.p.sessCost, r.l.p.hsCost = 1, 1 // no rate limit in the way
	s := &Server{
		log:  discardLogger(),
		addr: netip.MustParseAddrPort("127.0.0.1:0"),
		cfg:  Config{Loops: 1, BatchSize: batch, RecvBuffer: 1 << 20, SendBuffer: 1 << 20, RecvPace: pace},
		// The rig's sessions were made at its clock (one hour); the
		// backend's clock must not run behind it.
		origin: time.Now().Add(-time.Duration(r.now) - time.Minute),
		loops:  []*loop{r.l},
		params: r.l.p,
	}
	if edit != nil {
		edit(&s.cfg)
	}
	b := newPollBackend(s)
	pl, err := b.openLoop(0)
	if err != nil {
		t.Fatal(err)
	}
	b.loops = append(b.loops, pl)
	t.Cleanup(b.close)
	ap, err := udp.LocalAddrPort(pl.sock.fd)
	if err != nil {
		t.Fatal(err)
	}
	return &pollRig{r: r, b: b, p: newMmsgPair(t, batch), srv: udp.AddrFromAddrPort(ap)}
}

// waitReadable waits up to 10 s for fd to be readable. The runtime's
// preemption signals interrupt poll(2): it retries on EINTR.
func waitReadable(fd int) error {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for deadline := time.Now().Add(10 * time.Second); ; {
		left := time.Until(deadline)
		if left <= 0 {
			return errors.New("not readable within 10 s")
		}
		n, err := unix.Poll(fds, int(left.Milliseconds())+1)
		switch {
		case errors.Is(err, unix.EINTR):
		case err != nil:
			return err
		case n == 1:
			return nil
		}
	}
}

// readReply waits (bounded) for the next datagram to the client socket.
func (pr *pollRig) readReply(t *testing.T, buf []byte) int {
	t.Helper()
	if err := waitReadable(pr.p.cfd); err != nil {
		t.Fatalf("no reply: %v", err)
	}
	n, err := unix.Read(pr.p.cfd, buf) // Read: Recvfrom would allocate its Sockaddr
	if err != nil || n == 0 {
		t.Fatalf("reply: %d %v", n, err)
	}
	return n
}

// The poll backend's loop goroutine: a batch of Inputs and Pings through
// the park or the paced sleep, recvmmsg, loop.datagram and the sendmmsg of
// the Pongs allocates nothing, and after stop the goroutine returns (done).
func TestPollNoAlloc(t *testing.T) {
	for _, pace := range []time.Duration{-1, time.Millisecond} {
		t.Run(fmt.Sprintf("pace=%v", pace), func(t *testing.T) { testPollNoAlloc(t, pace) })
	}
}

func testPollNoAlloc(t *testing.T, pace time.Duration) {
	// Rounds of 12 datagrams, 3 of them Pings, to a loop reading up to 16
	// at a time: each round ends in a short batch, after which the loop
	// sleeps its pace (or parks).
	const batch, sent = 16, 12
	pr := newPacedRig(t, batch, pace)
	r := pr.r
	w := r.join(pr.p.caddr, 1)
	r.drain()
	in := r.input(w.SessionID, 3, 1, 2, 3)
	ping := bytes.Clone(r.enc.Ping(&schema.PingFrame{SessionID: w.SessionID, T: 1}))
	bufs, to := make([][]byte, sent), make([]Addr, sent)
	for i := range bufs {
		bufs[i], to[i] = in, pr.srv
		if i%4 == 0 {
			bufs[i] = ping
		}
	}

	pr.start(t)

	reply := make([]byte, 2048)
	var last int
	drain := func(*ringEntry) {}
	round := func() {
		if res := pr.p.client.Send(bufs, to, true); res.Sent != sent {
			t.Fatalf("client send: %+v", res)
		}
		for range sent / 4 { // the Pongs
			last = pr.readReply(t, reply)
		}
		r.l.ring.Drain(drain)
	}
	round()
	if n := testing.AllocsPerRun(200, round); n != 0 {
		t.Errorf("%v allocations per round of %d datagrams", n, sent)
	}
	if body, _ := r.dec.Decode(reply[:last]); body != wire.BodyPong {
		t.Fatalf("reply is %v", body)
	}

	pr.stopRig(t)
	if pr.b.err() != nil {
		t.Fatalf("stopped with %v", pr.b.err())
	}
	st := &r.stats
	if pace > 0 && st.PacedWakeups.Load() == 0 {
		t.Error("the loop never slept its pace")
	}
	if st.Pongs.Load() != 202*sent/4 || st.SendErrors.Load() != 0 { // AllocsPerRun runs round once more
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
		if err := waitReadable(pr.b.loops[0].sock.fd); err != nil {
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

// ping sends one Ping of session from the client socket.
func (pr *pollRig) ping(t *testing.T, session uint64, n uint64) {
	t.Helper()
	b := pr.r.enc.Ping(&schema.PingFrame{SessionID: session, T: n})
	if res := pr.p.client.Send([][]byte{b}, []Addr{pr.srv}, true); res.Sent != 1 {
		t.Fatalf("client send: %+v", res)
	}
}

// waitQueued waits (bounded) until the server socket has a datagram queued.
func (pr *pollRig) waitQueued(t *testing.T) {
	t.Helper()
	if err := waitReadable(pr.b.loops[0].sock.fd); err != nil {
		t.Fatalf("nothing arrived at the server socket: %v", err)
	}
}

// newServingRig is a paced rig with one joined session and its loop
// goroutine started.
func newServingRig(t *testing.T, pace time.Duration) (*pollRig, schema.WelcomeFrame) {
	pr := newPacedRig(t, 64, pace)
	w := pr.r.join(pr.p.caddr, 1)
	pr.r.drain()
	pr.start(t)
	return pr, w
}

// start starts the rig's loop goroutine; it is stopped before the rig's
// sockets close, even when the test fails, so that it cannot read a later
// test's socket that reuses the descriptor.
func (pr *pollRig) start(t *testing.T) {
	startLoops(1, pr.b.run, pr.b.runDone)
	t.Cleanup(func() { pr.stopRig(t) })
}

// stopRig stops the rig's started loop and waits (bounded) for it.
func (pr *pollRig) stopRig(t *testing.T) {
	t.Helper()
	if err := pr.b.stop(context.Background()); err != nil {
		t.Error(err)
	}
	select {
	case <-pr.b.done():
	case <-time.After(10 * time.Second):
		t.Error("the loop goroutine did not return after stop")
	}
}

// A pacing loop is not woken by what arrives while it sleeps: forty Pings
// sent one by one during its (one hour) paced sleep wake nothing; the
// loop reads none of them until the sleep ends. The first Ping woke it
// from its park (or its first read found it).
func TestPollPaceBatchesArrivals(t *testing.T) {
	pr, w := newServingRig(t, time.Hour)
	st := &pr.r.stats

	reply := make([]byte, 2048)
	pr.ping(t, w.SessionID, 1)
	pr.readReply(t, reply) // read after an arrival woke the parked loop
	for i := range 40 {
		pr.ping(t, w.SessionID, uint64(2+i))
		time.Sleep(time.Millisecond)
	}
	pr.waitQueued(t)
	if got := st.Pongs.Load(); got != 1 {
		t.Fatalf("%d Pongs while the loop sleeps its pace, want 1: something woke it", got)
	}
	// The first Ping woke the parked loop, or its first read found it.
	if a, p := st.ArrivalWakeups.Load(), st.PacedWakeups.Load(); a > 1 || p != 0 {
		t.Fatalf("wake-ups: %d by arrival, %d paced; want at most 1 and 0", a, p)
	}
	pr.stopRig(t)
	if pr.b.err() != nil {
		t.Fatalf("stopped with %v", pr.b.err())
	}
}

// The other half of the bargain: a loop that paces parks when a paced read
// finds nothing, and a Ping then wakes it (no lost wake-up between the
// read that found the socket empty and the arming of the park), however
// the Ping falls against the sleep, the read and the park; an idle loop
// makes no wake-ups. The same with pacing off, where every Ping is an
// arrival.
func TestPollParksAndWakes(t *testing.T) {
	for _, pace := range []time.Duration{time.Millisecond, -1} {
		t.Run(fmt.Sprintf("pace=%v", pace), func(t *testing.T) {
			pr, w := newServingRig(t, pace)
			st := &pr.r.stats
			reply := make([]byte, 2048)
			const pings = 200
			for i := range pings {
				pr.ping(t, w.SessionID, uint64(i))
				pr.readReply(t, reply) // bounded: a lost wake-up fails here
				// Vary where the next Ping falls: during the sleep, at
				// the read, after the park.
				time.Sleep(time.Duration(i%7) * 300 * time.Microsecond)
			}
			if got := st.Pongs.Load(); got != pings {
				t.Fatalf("%d Pongs for %d Pings", got, pings)
			}
			arrivals := st.ArrivalWakeups.Load()
			if arrivals == 0 {
				t.Fatal("no wake-up by arrival: the loop never parked")
			}
			// The first Ping may be read before the loop first parks.
			if pace < 0 && arrivals < pings-1 {
				t.Fatalf("%d wake-ups by arrival for %d Pings without pacing", arrivals, pings)
			}
			// Idle: the loop has parked, or parks after one more paced
			// read; a loop that kept sleeping its pace would wake ~200
			// times here.
			before := st.PacedWakeups.Load() + st.ArrivalWakeups.Load()
			time.Sleep(200 * time.Millisecond)
			if woke := st.PacedWakeups.Load() + st.ArrivalWakeups.Load() - before; woke > 1 {
				t.Fatalf("%d wake-ups in 200 ms of silence", woke)
			}
		})
	}
}

// catchUp, the tick's hook with a pace, handles what waits on the socket:
// an Input that arrived during the loop's sleep is in the ring when the
// tick drains it. It leaves a loop alone that holds its batch, and there
// is no hook without a pace.
func TestPollCatchUp(t *testing.T) {
	if newPollRig(t, 8).b.catchUp() != nil {
		t.Fatal("a catch-up hook without a pace")
	}
	pr := newPacedRig(t, 8, time.Hour)
	r := pr.r
	w := r.join(pr.p.caddr, 1)
	r.drain()
	catchUp := pr.b.catchUp()
	if catchUp == nil {
		t.Fatal("no catch-up hook with a pace")
	}
	// 20 Inputs: more than two batches of 8.
	var bufs [][]byte
	var to []Addr
	for i := range 20 {
		bufs = append(bufs, r.input(w.SessionID, 1, uint32(i+1)))
		to = append(to, pr.srv)
	}
	for i := 0; i < len(bufs); i += 8 {
		j := min(i+8, len(bufs))
		if res := pr.p.client.Send(bufs[i:j], to[i:j], true); res.Sent != j-i {
			t.Fatalf("client send: %+v", res)
		}
	}
	pr.waitQueued(t)
	pl := pr.b.loops[0]
	pl.mu.Lock()
	catchUp()
	pl.mu.Unlock()
	if got := len(r.drain()); got != 0 {
		t.Fatalf("%d records while the loop held its batch, want 0", got)
	}
	// The Inputs may still be on their way through loopback: catch up
	// until all 20 are in (bounded).
	var got int
	for deadline := time.Now().Add(10 * time.Second); got < 20 && time.Now().Before(deadline); {
		catchUp()
		got += len(r.drain())
	}
	if got != 20 {
		t.Fatalf("%d of 20 Inputs caught up", got)
	}
}

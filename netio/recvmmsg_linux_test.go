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

// mmsgPair is a bound rxSocket with its receiver and reply sender, and a
// client socket with an mmsgSender of its own, all on loopback.
type mmsgPair struct {
	sock   *rxSocket
	rx     BatchReceiver
	tx     BatchSender
	client BatchSender
	cfd    int
	srv    Addr
	caddr  Addr
}

func newMmsgPair(t testing.TB, batch int) *mmsgPair {
	t.Helper()
	ap := netip.MustParseAddrPort("127.0.0.1:0")
	sock, err := openRxSocket(ap, 1<<20, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sock.close() })
	rx, tx, err := sock.batchers(batch)
	if err != nil {
		t.Fatal(err)
	}
	cfd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(cfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	client, err := udp.NewSocketSender(cfd, batch)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return &mmsgPair{sock: sock, rx: rx, tx: tx, client: client, cfd: cfd,
		srv: sockAddr(t, sock.fd), caddr: sockAddr(t, cfd)}
}

func sockAddr(t testing.TB, fd int) Addr {
	ap, err := udp.LocalAddrPort(fd)
	if err != nil {
		t.Fatal(err)
	}
	return udp.AddrFromAddrPort(ap)
}

func TestRecvmmsgReceive(t *testing.T) {
	p := newMmsgPair(t, 8)
	// 11 datagrams of distinct sizes, one oversized: two batches, the second
	// short (the queue is empty), then EAGAIN.
	var bufs [][]byte
	var to []Addr
	for i := range 11 {
		b := bytes.Repeat([]byte{byte(i)}, 10+i)
		if i == 10 {
			b = make([]byte, readBufferCap+100)
		}
		bufs = append(bufs, b)
		to = append(to, p.srv)
	}
	if r := p.client.Send(bufs[:8], to[:8], true); r.Sent != 8 {
		t.Fatalf("client send: %+v", r)
	}
	if r := p.client.Send(bufs[8:], to[8:], true); r.Sent != 3 {
		t.Fatalf("client send: %+v", r)
	}
	in := make([][]byte, 8)
	for i := range in {
		in[i] = make([]byte, readBufferCap)
	}
	sizes, addrs := make([]int, 8), make([]Addr, 8)
	n, err := p.rx.Receive(in, sizes, addrs)
	if err != nil || n != 8 {
		t.Fatalf("first batch: %d, %v", n, err)
	}
	for i := range n {
		if !bytes.Equal(in[i][:sizes[i]], bufs[i]) || addrs[i] != p.caddr {
			t.Fatalf("datagram %d: %d bytes from %v", i, sizes[i], addrs[i])
		}
	}
	n, err = p.rx.Receive(in, sizes, addrs)
	if err != nil || n != 3 {
		t.Fatalf("second batch: %d, %v", n, err)
	}
	if sizes[2] != readBufferCap || sizes[2] <= schema.MaxDatagram {
		t.Fatalf("oversized datagram reported as %d bytes", sizes[2])
	}
	if n, err = p.rx.Receive(in, sizes, addrs); n != 0 || err != nil {
		t.Fatalf("empty socket: %d, %v", n, err)
	}
	if _, err := p.rx.Receive(make([][]byte, 9), sizes, addrs); err == nil {
		t.Fatal("a batch larger than BatchSize was accepted")
	}
}

// TestRecvmmsgNoAlloc: receiving a batch from a real loopback socket, handling
// every datagram with loop.datagram and sending the replies with sendmmsg
// allocates nothing. The client's sendmmsg, which queues the batch, is
// inside the measured function too, and it allocates nothing either
// (udp.TestMmsgNoAlloc).
func TestRecvmmsgNoAlloc(t *testing.T) {
	const batch = 16
	p := newMmsgPair(t, batch)
	r := newRig(t, rigOpts{ring: 1 << 12})
	r.l.p.sessCost, r.l.p.hsCost = 1, 1 // no rate limit in the way
	w := r.join(p.caddr, 1)
	r.drain()
	now := r.now
	io := newIOLoop(r.l, p.sock, p.rx, p.tx, func() int64 { return now })
	in := r.input(w.SessionID, 3, 1, 2, 3)
	ping := bytes.Clone(r.enc.Ping(&schema.PingFrame{SessionID: w.SessionID, T: 1}))
	bufs, to := make([][]byte, batch), make([]Addr, batch)
	for i := range bufs {
		bufs[i], to[i] = in, p.srv
		if i%4 == 0 {
			bufs[i] = ping
		}
	}
	reply := make([]byte, 2048)
	var last int
	drain := func(*ringEntry) {}
	round := func() {
		if res := p.client.Send(bufs, to, true); res.Sent != batch {
			t.Fatalf("client send: %+v", res)
		}
		io.drain(discardLogger(), nil)
		r.l.ring.Drain(drain)
		for range batch / 4 { // the Pongs
			n, err := unix.Read(p.cfd, reply) // Read: Recvfrom would allocate its Sockaddr
			if err != nil || n == 0 {
				t.Fatalf("pong: %v", err)
			}
			last = n
		}
	}
	round()
	if n := testing.AllocsPerRun(200, round); n != 0 {
		t.Errorf("%v allocations per batch of %d", n, batch)
	}
	st := &r.stats
	if st.Inputs.Load() < 200*batch*3/4 || st.Pongs.Load() != st.DatagramsOut.Load() || st.SendErrors.Load() != 0 {
		t.Fatalf("inputs %d pongs %d out %d send errors %d", st.Inputs.Load(), st.Pongs.Load(), st.DatagramsOut.Load(), st.SendErrors.Load())
	}
	if body, _ := r.dec.Decode(reply[:last]); body != wire.BodyPong {
		t.Fatalf("reply is %v", body)
	}
}

// With InlineIO the tick goroutine both fans out and serves the socket. A
// datagram waiting when the fan-out starts (a Hello here: the loop answers
// it like a Ping) is answered after the first send batch, not after all
// 16 batches of a 1,000-player fan-out.
func TestFanoutInterleavesReceive(t *testing.T) {
	p := newMmsgPair(t, 8)
	r := newRig(t, rigOpts{})
	b := newMmsgBackend(&Server{log: discardLogger()})
	io := newIOLoop(r.l, p.sock, p.rx, p.tx, func() int64 { return r.now })
	var answered []uint64 // Hellos answered when each Send began
	snd := &hookSender{memSender: memSender{batch: 64}}
	snd.onSend = func() { answered = append(answered, r.stats.Challenges.Load()) }
	f, ps := newTestFanout(t, 1000, 64, snd)
	f.workers[0].between = func() { io.interleave(&b.stopping, b.s.log) }

	if res := p.client.Send([][]byte{r.hello(1)}, []Addr{p.srv}, true); res.Sent != 1 {
		t.Fatalf("client send: %+v", res)
	}
	if readable, err := p.sock.wait(10 * time.Second); !readable || err != nil {
		t.Fatalf("the Hello never arrived: %v", err)
	}
	f.send(ps, false)
	if len(answered) != 16 || answered[0] != 0 || answered[1] != 1 {
		t.Fatalf("Hellos answered at each of %d sends: %v; want 0 at the first, 1 from the second on", len(answered), answered)
	}
	reply := make([]byte, 2048)
	n, err := unix.Read(p.cfd, reply)
	if err != nil {
		t.Fatal(err)
	}
	if body, _ := r.dec.Decode(reply[:n]); body != wire.BodyChallenge {
		t.Fatalf("reply %v", body)
	}

	// Receiving between batches allocates nothing (here: nothing queued,
	// a recvmmsg that finds the socket empty).
	snd.onSend = func() {}
	if n := testing.AllocsPerRun(20, func() { f.send(ps, false) }); n != 0 {
		t.Fatalf("fan-out with receives between batches allocates %v", n)
	}

	// Once serving has stopped (Shutdown), the fan-out no longer receives.
	b.stopping.Store(true)
	if res := p.client.Send([][]byte{r.hello(1)}, []Addr{p.srv}, true); res.Sent != 1 {
		t.Fatalf("client send: %+v", res)
	}
	if readable, err := p.sock.wait(10 * time.Second); !readable || err != nil {
		t.Fatalf("the second Hello never arrived: %v", err)
	}
	f.send(ps, false)
	if got := r.stats.Challenges.Load(); got != 1 {
		t.Fatalf("%d Hellos answered after the stop, want still 1", got)
	}
}

// hookSender is a memSender that runs onSend as each Send begins.
type hookSender struct {
	memSender
	onSend func()
}

func (h *hookSender) Send(bufs [][]byte, addrs []Addr, wait bool) SendResult {
	h.onSend()
	return h.memSender.Send(bufs, addrs, wait)
}

// The inline clock: SleepUntil serves the socket until the deadline (a
// Hello queued before and one sent during the wait are both answered) and
// returns no earlier than the deadline; Now and Wall are the wrapped
// clock's, so the ticker's deadlines, jitter and exported epoch are
// unchanged; after ioStop it only sleeps.
func TestInlineClock(t *testing.T) {
	p := newMmsgPair(t, 8)
	r := newRig(t, rigOpts{})
	b := newMmsgBackend(&Server{log: discardLogger()})
	inner := NewMonoClock()
	io := newIOLoop(r.l, p.sock, p.rx, p.tx, func() int64 { return int64(inner.Now()) })
	c := &ioClock{Clock: inner, b: b, io: io}

	if got, want := c.Wall(time.Second), WallTime(inner, time.Second); !got.Equal(want) {
		t.Fatalf("Wall %v, inner %v", got, want)
	}
	hello := r.hello(1)
	send := func() {
		if res := p.client.Send([][]byte{hello}, []Addr{p.srv}, true); res.Sent != 1 {
			t.Errorf("client send: %+v", res)
		}
	}
	send()
	sent := make(chan struct{})
	go func() { time.Sleep(10 * time.Millisecond); send(); close(sent) }()
	// A generous deadline: the sending goroutine must get a CPU within it
	// on a loaded machine (40 ms failed once in 20 runs at load 7 on 2 CPUs).
	deadline := inner.Now() + 2*time.Second
	c.SleepUntil(deadline)
	<-sent // the client's sender is used by one goroutine at a time
	if now := c.Now(); now < deadline {
		t.Fatalf("SleepUntil returned %v early", deadline-now)
	}
	if got := r.stats.Challenges.Load(); got != 2 {
		t.Fatalf("%d Hellos answered during the wait, want 2", got)
	}
	reply := make([]byte, 2048)
	for range 2 {
		n, err := unix.Read(p.cfd, reply)
		if err != nil {
			t.Fatal(err)
		}
		if body, _ := r.dec.Decode(reply[:n]); body != wire.BodyChallenge {
			t.Fatalf("reply %v", body)
		}
	}

	b.stopping.Store(true)
	send()
	deadline = inner.Now() + 5*time.Millisecond
	c.SleepUntil(deadline)
	if c.Now() < deadline || r.stats.Challenges.Load() != 2 {
		t.Fatalf("after ioStop: returned at %v of %v, %d challenges", c.Now(), deadline, r.stats.Challenges.Load())
	}
}

package netio

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/treasured/treasured/schema"
)

// sweepEvery is how often a loop ends idle sessions (the gnet backend's
// housekeeper schedules the same period on gnet's task queue).
const sweepEvery = int64(time.Second)

// ioLoop is one mmsg-backend loop: a socket, its receive and reply batches
// and the loop state that handles what arrives. Owner: the loop's goroutine,
// or the tick goroutine with InlineIO. Every buffer is allocated in
// newIOLoop; handling a batch allocates nothing (TestMmsgNoAlloc).
type ioLoop struct {
	l    *loop
	sock *rxSocket
	rx   BatchReceiver
	tx   BatchSender // replies, with sendmmsg on the same socket
	now  func() int64

	bufs  [][]byte // BatchSize x readBufferCap, one backing array
	sizes []int
	addrs []Addr

	out      [][]byte // reply buffers, BatchSize x MaxDatagram
	outAddrs []Addr
	outN     int

	nextSweep int64
	errLogged bool
	// counted, if set, also counts the datagrams received (the poll
	// layout's urgent socket: LoopStats.UrgentIn).
	counted *counter
}

func newIOLoop(l *loop, sock *rxSocket, rx BatchReceiver, tx BatchSender, now func() int64) *ioLoop {
	batch := rx.BatchSize()
	io := &ioLoop{
		l: l, sock: sock, rx: rx, tx: tx, now: now,
		bufs:      make([][]byte, batch),
		sizes:     make([]int, batch),
		addrs:     make([]Addr, batch),
		out:       make([][]byte, min(batch, tx.BatchSize())),
		outAddrs:  make([]Addr, min(batch, tx.BatchSize())),
		nextSweep: now() + sweepEvery,
	}
	in := make([]byte, batch*readBufferCap)
	for i := range io.bufs {
		io.bufs[i] = in[i*readBufferCap : (i+1)*readBufferCap : (i+1)*readBufferCap]
	}
	out := make([]byte, len(io.out)*schema.MaxDatagram)
	for i := range io.out {
		io.out[i] = out[i*schema.MaxDatagram : (i+1)*schema.MaxDatagram : (i+1)*schema.MaxDatagram]
	}
	return io
}

// batch receives one batch and handles it: the same loop.datagram as the
// gnet backend's OnTraffic, then the replies in one sendmmsg. It returns the
// number of datagrams received and whether the socket may hold more.
func (io *ioLoop) batch() (n int, more bool, err error) {
	n, err = io.rx.Receive(io.bufs, io.sizes, io.addrs)
	if n == 0 {
		return 0, false, err
	}
	if io.counted != nil {
		io.counted.add(uint64(n))
	}
	now := io.now()
	l := io.l
	for i := range n {
		src := io.addrs[i]
		if src.Port == 0 {
			l.stats.DatagramsIn.inc()
			l.stats.BytesIn.add(uint64(io.sizes[i]))
			l.drop(DropBadSource)
			continue
		}
		out := l.datagram(io.bufs[i][:io.sizes[i]], src, now)
		if out == nil {
			continue
		}
		if io.outN == len(io.out) {
			io.flush()
		}
		io.out[io.outN] = io.out[io.outN][:copy(io.out[io.outN][:cap(io.out[io.outN])], out)]
		io.outAddrs[io.outN] = src
		io.outN++
	}
	io.flush()
	return n, n == len(io.bufs), nil
}

// flush sends the queued replies. They are answers to what just arrived
// and never larger than it, so a full send buffer drops them (wait false)
// rather than stalling the loop: the client retries, as after any loss.
func (io *ioLoop) flush() {
	if io.outN == 0 {
		return
	}
	r := io.tx.Send(io.out[:io.outN], io.outAddrs[:io.outN], false)
	st := io.l.stats
	st.DatagramsOut.add(uint64(r.Sent))
	st.BytesOut.add(uint64(r.Bytes))
	st.SendErrors.add(uint64(r.Failed + r.Dropped))
	io.outN = 0
}

// receive handles one batch (batch) and logs the first receive error of
// the loop; the loop keeps serving, as after any bad datagram.
func (io *ioLoop) receive(log *slog.Logger) (n int, more bool) {
	n, more, err := io.batch()
	if err != nil && !io.errLogged {
		io.errLogged = true
		log.Warn("recvmmsg failed; still serving (logged once per loop)", "loop", io.l.idx, "err", err)
	}
	return n, more
}

// drain handles batches until the socket is empty or until(), checked
// between batches, says to stop.
func (io *ioLoop) drain(log *slog.Logger, until func() bool) {
	for {
		if _, more := io.receive(log); !more || (until != nil && until()) {
			return
		}
	}
}

// drainUpTo is drain bounded to batches batches.
func (io *ioLoop) drainUpTo(batches int, log *slog.Logger) {
	for range batches {
		if _, more := io.receive(log); !more {
			return
		}
	}
}

// interleave handles at most one batch of what is queued on the socket,
// unless serving has stopped: the fan-out's between-batches hook where the
// tick goroutine shares the CPU with the receive path. One batch, not
// until empty, so a flood delays the fan-out by at most one batch per send
// batch, as the fan-out delays a Ping by at most one send batch.
func (io *ioLoop) interleave(stopping *atomic.Bool, log *slog.Logger) {
	if !stopping.Load() {
		io.receive(log)
	}
}

// maybeSweep runs the idle sweep when it is due and returns the server
// clock reading it used.
func (io *ioLoop) maybeSweep() int64 {
	now := io.now()
	if now >= io.nextSweep {
		io.l.sweep(now)
		io.nextSweep = now + sweepEvery
	}
	return now
}

package netio

import (
	"fmt"
	"runtime"
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

// drain handles batches until the socket is empty or until(), checked
// between batches, says to stop.
func (io *ioLoop) drain(s *Server, until func() bool) {
	for {
		_, more, err := io.batch()
		if err != nil && !io.errLogged {
			io.errLogged = true
			s.log.Warn("recvmmsg failed; still serving (logged once per loop)", "loop", io.l.idx, "err", err)
		}
		if !more || (until != nil && until()) {
			return
		}
	}
}

// interleave handles at most one batch of what is queued on the socket:
// the fan-out's between-batches hook with InlineIO. One batch, not until
// empty, so a flood delays the fan-out by at most one batch per send batch,
// as the fan-out delays a Ping by at most one send batch.
func (io *ioLoop) interleave(s *Server) {
	if s.ioStop.Load() {
		return
	}
	if _, _, err := io.batch(); err != nil && !io.errLogged {
		io.errLogged = true
		s.log.Warn("recvmmsg failed; still serving (logged once per loop)", "loop", io.l.idx, "err", err)
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

// startMmsg opens one SO_REUSEPORT socket per loop and the fan-out's
// duplicates, then starts the loop goroutines (or, with InlineIO, hands the
// one socket to the tick goroutine's clock).
func (s *Server) startMmsg() error {
	s.io = make([]*ioLoop, s.cfg.Loops)
	for i := range s.io {
		sock, err := openRxSocket(s.addr, s.cfg.RecvBuffer, s.cfg.SendBuffer)
		if err != nil {
			s.closeIO()
			return s.startErr(err)
		}
		rx, tx, err := sock.batchers(s.cfg.BatchSize)
		if err != nil {
			_ = sock.close()
			s.closeIO()
			return err
		}
		s.io[i] = newIOLoop(s.loops[i], sock, rx, tx, s.now)
	}
	if err := s.bootFanout(s.io[0].sock.dup); err != nil {
		s.closeIO()
		return err
	}
	if s.cfg.InlineIO {
		s.ticker.clock = &ioClock{Clock: s.cfg.Clock, s: s, io: s.io[0]}
		io := s.io[0]
		s.fan.workers[0].between = func() { io.interleave(s) }
		return nil
	}
	for i := range s.io {
		s.ioWG.Add(1)
		go s.runIOLoop(i)
	}
	go func() {
		s.ioWG.Wait()
		close(s.runDone)
	}()
	return nil
}

// runIOLoop is loop i's goroutine: block in ppoll until the socket is
// readable (or the next sweep is due, or Shutdown wakes it), then drain the
// socket with recvmmsg. It never spins: an idle loop sleeps in the kernel.
func (s *Server) runIOLoop(i int) {
	defer s.ioWG.Done()
	if !s.cfg.UnlockedThreads {
		// Locked and never unlocked, like the tick goroutine: the pinned
		// thread dies with the goroutine.
		runtime.LockOSThread()
		s.pinLoop(i)
	}
	io := s.io[i]
	stop := s.ioStop.Load // a flood must not keep a loop from stopping
	for !stop() {
		now := io.maybeSweep()
		readable, err := io.sock.wait(time.Duration(io.nextSweep - now))
		if err != nil {
			// The first loop to fail records why (Err) and stops the rest.
			if s.ioStop.CompareAndSwap(false, true) {
				s.runErr = fmt.Errorf("loop %d: %w", i, err)
				for _, o := range s.io {
					o.sock.wake()
				}
			}
			return
		}
		if readable {
			io.drain(s, stop)
		}
	}
}

// stopIO stops the mmsg loops: they see ioStop at their next wake-up, which
// wake forces now. With InlineIO there is no loop goroutine: the tick
// goroutine stops serving the socket before its next wait.
func (s *Server) stopIO() {
	s.ioStop.Store(true)
	if s.cfg.InlineIO {
		close(s.runDone)
		return
	}
	for _, io := range s.io {
		io.sock.wake()
	}
}

// closeIO closes the receive sockets (the fan-out closes its duplicates).
func (s *Server) closeIO() {
	for _, io := range s.io {
		if io != nil {
			_ = io.sock.close()
		}
	}
}

// ioClock is the tick goroutine's Clock with InlineIO: waiting for the next
// deadline is spent serving the socket (ppoll with the time left as its
// timeout, then recvmmsg until empty), so one thread does everything and
// nothing is handed between threads. The ticker above it is unchanged:
// its deadlines stay absolute and its jitter is measured from them, so a
// batch still being handled at the deadline shows up as jitter, bounded by
// one batch because drain checks the deadline between batches.
type ioClock struct {
	Clock
	s  *Server
	io *ioLoop
}

// Wall keeps the exported tick epoch exact (WallTime looks for it).
func (c *ioClock) Wall(t time.Duration) time.Time { return WallTime(c.Clock, t) }

func (c *ioClock) SleepUntil(t time.Duration) {
	past := func() bool { return c.Clock.Now() >= t }
	for {
		if c.s.ioStop.Load() {
			c.Clock.SleepUntil(t)
			return
		}
		c.io.maybeSweep()
		d := t - c.Clock.Now()
		if d <= 0 {
			return
		}
		readable, err := c.io.sock.wait(d)
		if err != nil {
			c.s.log.Error("inline I/O wait failed; serving stops", "err", err)
			c.s.ioStop.Store(true)
			continue
		}
		if readable {
			c.io.drain(c.s, past)
		}
	}
}

package netio

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"
)

// mmsgBackend is the receive path on our own SO_REUSEPORT sockets: per
// loop, ppoll then recvmmsg until empty (recv.go's ioLoop), on a loop
// goroutine, or with InlineIO on the tick goroutine itself.
type mmsgBackend struct {
	s        *Server
	io       []*ioLoop // one per loop
	stopping atomic.Bool
	runDone  chan struct{} // closed when every loop has returned
	runErr   error         // why the loops stopped on their own, valid once runDone is closed
}

func newMmsgBackend(s *Server) *mmsgBackend {
	return &mmsgBackend{s: s, runDone: make(chan struct{})}
}

// start opens one SO_REUSEPORT socket per loop, then starts the loop
// goroutines (or, with InlineIO, hands the one socket to the tick
// goroutine's clock; between gives it to the fan-out).
func (b *mmsgBackend) start() error {
	s := b.s
	b.io = make([]*ioLoop, s.cfg.Loops)
	for i := range b.io {
		sock, err := openRxSocket(s.addr, s.cfg.RecvBuffer, s.cfg.SendBuffer)
		if err != nil {
			b.close()
			return s.startErr(err)
		}
		if err := s.attachFilter(sock.fd); err != nil {
			_ = sock.close()
			b.close()
			return err
		}
		rx, tx, err := sock.batchers(s.cfg.BatchSize)
		if err != nil {
			_ = sock.close()
			b.close()
			return err
		}
		b.io[i] = newIOLoop(s.loops[i], sock, rx, tx, s.now)
	}
	if s.cfg.InlineIO {
		s.ticker.clock = &ioClock{Clock: s.cfg.Clock, b: b, io: b.io[0]}
		return nil
	}
	startLoops(len(b.io), b.run, b.runDone)
	return nil
}

// dup duplicates the first loop's socket.
func (b *mmsgBackend) dup() (int, error) { return b.io[0].sock.dup() }

// between, with InlineIO, receives one batch on the tick goroutine between
// two send batches; loop goroutines have threads of their own.
func (b *mmsgBackend) between() func() {
	if !b.s.cfg.InlineIO {
		return nil
	}
	io := b.io[0]
	return func() { io.interleave(&b.stopping, b.s.log) }
}

// catchUp is nil: the loops read at each arrival.
func (b *mmsgBackend) catchUp() func() { return nil }

// sweep does nothing: each loop sweeps between its waits (ioLoop.maybeSweep).
func (b *mmsgBackend) sweep() {}

// run is loop i's goroutine: block in ppoll until the socket is
// readable (or the next sweep is due, or Shutdown wakes it), then drain the
// socket with recvmmsg. It never spins: an idle loop sleeps in the kernel.
func (b *mmsgBackend) run(i int) {
	s := b.s
	if !s.cfg.UnlockedThreads {
		// Locked and never unlocked, like the tick goroutine: the pinned
		// thread dies with the goroutine.
		runtime.LockOSThread()
		s.pinLoop(i)
	}
	io := b.io[i]
	stop := b.stopping.Load // a flood must not keep a loop from stopping
	for !stop() {
		now := io.maybeSweep()
		readable, err := io.sock.wait(time.Duration(io.nextSweep - now))
		if err != nil {
			// The first loop to fail records why (Err) and stops the rest.
			if b.stopping.CompareAndSwap(false, true) {
				b.runErr = fmt.Errorf("loop %d: %w", i, err)
				for _, o := range b.io {
					o.sock.wake()
				}
			}
			return
		}
		if readable {
			io.drain(s.log, stop)
		}
	}
}

// stop stops the mmsg loops: they see stopping at their next wake-up,
// which wake forces now. With InlineIO there is no loop goroutine: the tick
// goroutine stops serving the socket before its next wait.
func (b *mmsgBackend) stop(context.Context) error {
	b.stopping.Store(true)
	if b.s.cfg.InlineIO {
		close(b.runDone)
		return nil
	}
	for _, io := range b.io {
		io.sock.wake()
	}
	return nil
}

func (b *mmsgBackend) done() <-chan struct{} { return b.runDone }
func (b *mmsgBackend) err() error            { return b.runErr }

// close closes the receive sockets (the fan-out closes its duplicates).
func (b *mmsgBackend) close() {
	for _, io := range b.io {
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
	b  *mmsgBackend
	io *ioLoop
}

// Wall keeps the exported tick epoch exact (WallTime looks for it).
func (c *ioClock) Wall(t time.Duration) time.Time { return WallTime(c.Clock, t) }

func (c *ioClock) SleepUntil(t time.Duration) {
	past := func() bool { return c.Clock.Now() >= t }
	for {
		if c.b.stopping.Load() {
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
			c.b.s.log.Error("inline I/O wait failed; serving stops", "err", err)
			c.b.stopping.Store(true)
			continue
		}
		if readable {
			c.io.drain(c.b.s.log, past)
		}
	}
}

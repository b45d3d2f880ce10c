package netio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/treasured/treasured/netio/udp"
)

// pollBackend is the single-CPU layout (layout.go): per loop, one ordinary,
// unlocked goroutine that receives with recvmmsg and, when the socket is
// empty, either sleeps for the receive pace or parks in Go's netpoller
// (pollSocket). The tick goroutine and the fan-out are unlocked too, so with
// one P the switch between receiving and ticking is a goroutine switch in
// the scheduler, where the locked layouts hand the P between OS threads
// with a futex each time. Replies leave by sendmmsg on the same socket, as
// in the mmsg backend; the loop state and the batch handling are the mmsg
// backend's (recv.go).
//
// The batch calls are raw system calls (udp.RawSyscalls, set by the
// layout): a scheduled sendmmsg of a 64-datagram batch outlasts sysmon's
// 20 µs, and on one P sysmon then hands the P to another thread and back
// (futex wake-ups) for the rest of the call. Raw, they cost 6 to 7 points
// less CPU at 1,000 players. A first trial stalled at 4,200 players; that
// was the loop not yielding between batches (run yields after every batch now), not the
// raw calls (BENCHMARKS.md, "Raw batch calls, again").
type pollBackend struct {
	s        *Server
	loops    []*pollLoop
	stopping atomic.Bool
	quit     chan struct{} // closed by wakeAll: ends the paced sleeps
	quitOnce sync.Once
	runDone  chan struct{} // closed when every loop has returned
	runErr   error         // why the loops stopped on their own, valid once runDone is closed
}

// pollLoop is one loop of the poll backend.
type pollLoop struct {
	sock *pollSocket // its descriptor serves the receiver, the replies and dup
	// mu guards io and urgent: the loop goroutine holds it for each batch
	// and sweep; the tick goroutine's hooks take it only when it is free.
	mu sync.Mutex
	io *ioLoop
	// urgent serves the urgent socket (Config.SingleSocket), nil when
	// there is none: the same loop state as io, another socket.
	urgent *ioLoop
	// pace times the paced sleeps: a reused timer allocates nothing, and
	// unlike time.Sleep a stop ends the sleep at once.
	pace *time.Timer
}

func newPollBackend(s *Server) *pollBackend {
	return &pollBackend{s: s, quit: make(chan struct{}), runDone: make(chan struct{})}
}

// start binds one SO_REUSEPORT socket per loop and starts a goroutine per
// loop.
func (b *pollBackend) start() error {
	s := b.s
	b.loops = make([]*pollLoop, 0, s.cfg.Loops)
	for i := range s.cfg.Loops {
		pl, err := b.openLoop(i)
		if err != nil {
			b.close()
			return err
		}
		b.loops = append(b.loops, pl)
	}
	startLoops(len(b.loops), b.run, b.runDone)
	return nil
}

// openLoop binds loop i's socket and builds its receive state.
func (b *pollBackend) openLoop(i int) (*pollLoop, error) {
	s := b.s
	sock, err := openPollSocket(s.addr, s.cfg.RecvBuffer, s.cfg.SendBuffer, s.urgentSocket())
	if err != nil {
		return nil, s.startErr(err)
	}
	pl := &pollLoop{sock: sock, pace: time.NewTimer(time.Hour)}
	pl.pace.Stop()
	if pl.io, err = b.serve(pl.sock.fd, s.loops[i]); err != nil {
		_ = sock.close()
		return nil, err
	}
	if pl.sock.urgent >= 0 {
		if pl.urgent, err = b.serve(pl.sock.urgent, s.loops[i]); err != nil {
			_ = sock.close()
			return nil, err
		}
		pl.urgent.counted = &s.loops[i].stats.UrgentIn
	}
	return pl, nil
}

// serve attaches the kernel filter to socket fd and builds the batch
// handling that feeds l from it, replies leaving by the same socket (the
// loop's sockets share one address, so the source a client sees is the
// same either way).
func (b *pollBackend) serve(fd int, l *loop) (*ioLoop, error) {
	s := b.s
	if err := s.attachFilter(fd); err != nil {
		return nil, err
	}
	tx, err := udp.NewSocketSender(fd, s.cfg.BatchSize, s.cfg.sockOpts...)
	if err != nil {
		return nil, err
	}
	rx, err := udp.NewSocketReceiver(fd, s.cfg.BatchSize, s.cfg.sockOpts...)
	if err != nil {
		return nil, err
	}
	return newIOLoop(l, nil, rx, tx, s.now), nil
}

// receive handles one batch (ioLoop.batch) of each socket, the urgent one
// first, under the loop's lock; more if either may hold more.
func (pl *pollLoop) receive(log *slog.Logger) (n int, more bool) {
	pl.mu.Lock()
	if pl.urgent != nil {
		n, more = pl.urgent.receive(log)
	}
	m, mm := pl.io.receive(log)
	pl.mu.Unlock()
	return n + m, more || mm
}

// run is loop i's goroutine. After a full batch it yields and reads again.
// After a batch that emptied the socket it sleeps for the receive pace
// (Config.RecvPace) and reads what came meanwhile in one batch: a wake-up
// per pace, where waking at each arrival costs one per datagram or burst
// (at 1,000 players tens of thousands a second when clients send
// independently). When a read finds nothing, or the pace is off, it parks
// in the netpoller until a datagram arrives or the read deadline (the next
// idle sweep, or stop) passes, so an idle loop wakes for nothing else.
// Pings wait up to one pace longer; Inputs do not wait, because the tick
// reads the socket before it drains the rings (catchUp).
//
// The yield after a full batch matters: under a stream, without it the
// tick goroutine, whose timer has fired, waits for sysmon's 10 ms
// preemption (measured: tick jitter 130-685 ms at 4,200 players). On one P,
// Gosched runs the expired timers and then the tick, ahead of this
// goroutine.
func (b *pollBackend) run(i int) {
	pl := b.loops[i]
	io := pl.io
	pace := b.s.cfg.RecvPace
	if !b.armSweep(pl) {
		return
	}
	for {
		n, more := pl.receive(b.s.log)
		if b.stopping.Load() {
			return
		}
		if io.now() >= io.nextSweep {
			pl.mu.Lock()
			io.maybeSweep()
			pl.mu.Unlock()
			if !b.armSweep(pl) {
				return
			}
		}
		switch {
		case more:
			runtime.Gosched()
		case n > 0 && pace > 0:
			pl.pace.Reset(pace)
			select {
			case <-pl.pace.C:
				io.l.stats.PacedWakeups.inc()
			case <-b.quit:
				return
			}
		default:
			err := pl.sock.wait()
			if b.stopping.Load() {
				return
			}
			switch {
			case err == nil:
				io.l.stats.ArrivalWakeups.inc()
			case !errors.Is(err, os.ErrDeadlineExceeded):
				b.fail(i, err)
				return
			}
		}
	}
}

// armSweep sets the read deadline to the loop's next sweep, so an idle loop
// wakes for it. It reports false when the backend is stopping: stop sets a
// past deadline after setting stopping, so checking stopping after our own
// deadline is set cannot miss the stop.
func (b *pollBackend) armSweep(pl *pollLoop) bool {
	pl.sock.setDeadline(time.Now().Add(time.Duration(pl.io.nextSweep - pl.io.now())))
	return !b.stopping.Load()
}

// fail records why loop i stopped serving (the first loop to fail) and
// stops the others.
func (b *pollBackend) fail(i int, err error) {
	if b.stopping.CompareAndSwap(false, true) {
		b.runErr = fmt.Errorf("loop %d: %w", i, err)
		b.wakeAll()
	}
}

// wakeAll makes every loop's wait return at once (a deadline in the past)
// and ends its paced sleep.
func (b *pollBackend) wakeAll() {
	b.quitOnce.Do(func() { close(b.quit) })
	for _, pl := range b.loops {
		pl.sock.setDeadline(time.Unix(1, 0))
	}
}

// stop stops the loops: they see stopping when their wait returns, which
// the past deadline forces now, or when their paced sleep ends.
func (b *pollBackend) stop(context.Context) error {
	b.stopping.Store(true)
	b.wakeAll()
	return nil
}

func (b *pollBackend) done() <-chan struct{} { return b.runDone }
func (b *pollBackend) err() error            { return b.runErr }

// dup duplicates the first loop's socket.
func (b *pollBackend) dup() (int, error) { return dupFD(b.loops[0].sock.fd) }

// between, with one loop, lets the tick goroutine receive one batch between
// two send batches of its fan-out: on one P the loop goroutine cannot run
// until the tick yields, and the netpoller is not even asked while the
// tick goroutine is runnable. With an urgent socket it reads only that
// one, so a Ping waits at most one send batch while the Inputs wait for
// the end of the fan-out (Config.SingleSocket). If the loop goroutine
// holds the batch (it was preempted inside one), the hook skips: that
// batch is being handled. With several loops there are several Ps to run
// them: nil.
func (b *pollBackend) between() func() {
	if len(b.loops) != 1 {
		return nil
	}
	pl := b.loops[0]
	return func() { b.tryReceive(pl, 1, pl.urgent == nil) }
}

// tryReceive has the tick goroutine handle up to batches batches of what
// waits on pl's urgent socket and, when bulk, on its own socket, stopping
// early at a batch that empties a socket. It leaves the sockets alone
// while the loop goroutine holds a batch (that batch is being handled)
// and once serving has stopped.
func (b *pollBackend) tryReceive(pl *pollLoop, batches int, bulk bool) {
	if b.stopping.Load() || !pl.mu.TryLock() {
		return
	}
	if pl.urgent != nil {
		pl.urgent.drainUpTo(batches, b.s.log)
	}
	if bulk {
		pl.io.drainUpTo(batches, b.s.log)
	}
	pl.mu.Unlock()
}

// catchUpBatches bounds catchUp per loop: 16 batches of 64 hold a pace of
// 1 ms at 50,000 players' Inputs, and a flood delays the tick by at most
// that much.
const catchUpBatches = 16

// catchUp, with a receive pace, has the tick goroutine read what waits on
// each loop's socket before the tick drains the rings, so an Input that
// reached the server before the tick began is in that tick, as when the
// loops wake at each arrival. A loop in the middle of a batch is skipped:
// its goroutine is handling it. Without a pace: nil.
func (b *pollBackend) catchUp() func() {
	if b.s.cfg.RecvPace <= 0 {
		return nil
	}
	return func() {
		for _, pl := range b.loops {
			b.tryReceive(pl, catchUpBatches, true)
		}
	}
}

// sweep does nothing: each loop sweeps on its own read deadline.
func (b *pollBackend) sweep() {}

// close closes the loops' sockets (the fan-out closes its duplicates).
func (b *pollBackend) close() {
	for _, pl := range b.loops {
		_ = pl.sock.close()
	}
}

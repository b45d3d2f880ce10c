package netio

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/treasured/treasured/netio/udp"
)

// pollBackend is the single-CPU layout (layout.go): per loop, one ordinary,
// unlocked goroutine that receives with recvmmsg inside a syscall.RawConn
// Read callback until the socket is empty (EAGAIN), and then lets Go's
// netpoller park it until the socket is readable again. The tick goroutine
// and the fan-out are unlocked too, so with one P the switch between
// receiving and ticking is a goroutine switch in the scheduler, where the
// locked layouts hand the P between OS threads with a futex each time.
// Replies leave by sendmmsg on the same socket, as in the mmsg backend; the
// loop state and the batch handling are the mmsg backend's (recv.go).
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
	runDone  chan struct{} // closed when every loop has returned
	runErr   error         // why the loops stopped on their own, valid once runDone is closed
}

// pollLoop is one loop of the poll backend.
type pollLoop struct {
	conn *net.UDPConn
	raw  syscall.RawConn
	fd   int // conn's descriptor, for the receiver, the replies and dup
	// mu guards io: the loop goroutine holds it for each batch and sweep;
	// the tick goroutine's between hook takes it only when it is free.
	mu sync.Mutex
	io *ioLoop
	// recv is the Read callback, built once so that a Read allocates
	// nothing.
	recv func(fd uintptr) bool
}

func newPollBackend(s *Server) *pollBackend {
	return &pollBackend{s: s, runDone: make(chan struct{})}
}

// start binds one SO_REUSEPORT socket per loop through the netpoller and
// starts a goroutine per loop.
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
	conn, err := openPollSocket(s.addr, s.cfg.RecvBuffer, s.cfg.SendBuffer)
	if err != nil {
		return nil, s.startErr(err)
	}
	pl := &pollLoop{conn: conn, fd: -1}
	if pl.raw, err = conn.SyscallConn(); err == nil {
		err = pl.raw.Control(func(fd uintptr) { pl.fd = int(fd) })
	}
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("netio: poll loop %d: raw socket: %w", i, err)
	}
	if err := s.attachFilter(pl.fd); err != nil {
		_ = conn.Close()
		return nil, err
	}
	// The receiver and the reply sender use the descriptor; conn closes it.
	tx, err := udp.NewSocketSender(pl.fd, s.cfg.BatchSize, s.cfg.sockOpts...)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	rx, err := udp.NewSocketReceiver(pl.fd, s.cfg.BatchSize, s.cfg.sockOpts...)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	pl.io = newIOLoop(s.loops[i], nil, rx, tx, s.now)
	pl.recv = func(uintptr) bool {
		pl.mu.Lock()
		n, _ := pl.io.receive(s.log)
		pl.mu.Unlock()
		// Nothing received: the socket is empty (EAGAIN), so the netpoller
		// may park the goroutine until it is readable again.
		return n > 0
	}
	return pl, nil
}

// run is loop i's goroutine: RawConn.Read calls recv, which handles one
// batch; an empty socket parks the goroutine in the netpoller until a
// datagram arrives or the read deadline (the next idle sweep, or stop)
// passes. After each batch it yields, so that a tick whose timer fired
// runs before the next batch rather than when sysmon preempts a stream.
func (b *pollBackend) run(i int) {
	pl := b.loops[i]
	io := pl.io
	if !b.armSweep(pl) {
		return
	}
	for {
		err := pl.raw.Read(pl.recv)
		if b.stopping.Load() {
			return
		}
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			b.fail(i, err)
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
		// Yield after every batch, full or not. Under a steady stream
		// each recvmmsg finds a few datagrams, so the Read callback never
		// sees the socket empty and the goroutine never parks; without
		// this the tick goroutine, whose timer has fired, waits for
		// sysmon's 10 ms preemption or for a system call long enough to
		// lose the P (measured with raw system calls, where nothing lost
		// it: tick jitter 130-685 ms at 4,200 players). On one P, Gosched
		// runs the expired timers and then the tick, ahead of this
		// goroutine.
		runtime.Gosched()
	}
}

// armSweep sets the read deadline to the loop's next sweep, so an idle loop
// wakes for it. It reports false when the backend is stopping: stop sets a
// past deadline after setting stopping, so checking stopping after our own
// deadline is set cannot miss the stop.
func (b *pollBackend) armSweep(pl *pollLoop) bool {
	_ = pl.conn.SetReadDeadline(time.Now().Add(time.Duration(pl.io.nextSweep - pl.io.now())))
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

// wakeAll makes every loop's Read return at once (a deadline in the past).
func (b *pollBackend) wakeAll() {
	for _, pl := range b.loops {
		_ = pl.conn.SetReadDeadline(time.Unix(1, 0))
	}
}

// stop stops the loops: they see stopping when their Read returns, which
// the past deadline forces now.
func (b *pollBackend) stop(context.Context) error {
	b.stopping.Store(true)
	b.wakeAll()
	return nil
}

func (b *pollBackend) done() <-chan struct{} { return b.runDone }
func (b *pollBackend) err() error            { return b.runErr }

// dup duplicates the first loop's socket.
func (b *pollBackend) dup() (int, error) { return dupFD(b.loops[0].fd) }

// between, with one loop, lets the tick goroutine receive one batch between
// two send batches of its fan-out: on one P the loop goroutine cannot run
// until the tick yields, and the netpoller is not even asked while the
// tick goroutine is runnable. If the loop goroutine holds the batch (it
// was preempted inside one), the hook skips: that batch is being handled.
// With several loops there are several Ps to run them: nil.
func (b *pollBackend) between() func() {
	if len(b.loops) != 1 {
		return nil
	}
	pl := b.loops[0]
	return func() {
		if b.stopping.Load() || !pl.mu.TryLock() {
			return
		}
		pl.io.receive(b.s.log)
		pl.mu.Unlock()
	}
}

// sweep does nothing: each loop sweeps on its own read deadline.
func (b *pollBackend) sweep() {}

// close closes the loops' sockets (the fan-out closes its duplicates).
func (b *pollBackend) close() {
	for _, pl := range b.loops {
		_ = pl.conn.Close()
	}
}

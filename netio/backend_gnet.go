package netio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"

	"github.com/treasured/treasured/netio/udp"
)

// gnetBackend is the multi-core default: gnet's event loops, one locked
// thread and SO_REUSEPORT socket each, call OnTraffic per datagram.
type gnetBackend struct {
	s       *Server
	eng     gnet.Engine   // set by OnBoot, before booted is closed
	booted  chan struct{} // closed by OnBoot
	runDone chan struct{} // closed when gnet.Run has returned
	runErr  error         // gnet.Run's, valid once runDone is closed

	bound       []loopBinding // which gnet loop serves loops[i]
	strayLogged atomic.Bool   // logged the impossible "unknown socket" once
}

func newGnetBackend(s *Server) *gnetBackend {
	b := &gnetBackend{s: s, booted: make(chan struct{}), runDone: make(chan struct{}),
		bound: make([]loopBinding, len(s.loops))}
	for i := range b.bound {
		b.bound[i].fd.Store(-1)
	}
	return b
}

// start runs gnet's event loops (gnet.Run) and returns once they serve:
// gnet calls OnBoot when its sockets are bound, before any loop runs.
func (b *gnetBackend) start() error {
	s := b.s
	network := "udp4"
	if s.addr.Addr().Is6() {
		network = "udp6"
	}
	opts := []gnet.Option{
		// One SO_REUSEPORT socket per loop: the kernel spreads clients over
		// the sockets by 4-tuple hash, so each client sticks to one loop,
		// which is what lets a loop own its clients' sessions outright.
		gnet.WithMulticore(true),
		gnet.WithNumEventLoop(s.cfg.Loops),
		gnet.WithReusePort(true),
		// Each loop's goroutine keeps its OS thread, so pinning that thread
		// in the loop's first callback pins the loop for good (unless the
		// configuration asks for unlocked threads: see UnlockedThreads).
		gnet.WithLockOSThread(!s.cfg.UnlockedThreads),
		gnet.WithSocketRecvBuffer(s.cfg.RecvBuffer),
		gnet.WithSocketSendBuffer(s.cfg.SendBuffer),
		gnet.WithReadBufferCap(readBufferCap),
		gnet.WithLogger(gnetLogger{s.log}),
	}
	h := &handler{srv: s, be: b}
	go func() {
		b.runErr = gnet.Run(h, network+"://"+s.addr.String(), opts...)
		close(b.runDone)
	}()
	select {
	case <-b.booted:
	case <-b.runDone:
		err := b.runErr
		if err == nil {
			err = errors.New("netio: gnet stopped during start-up")
		}
		return s.startErr(err)
	}
	return nil
}

// stop asks gnet to stop its loops; done is closed once they have.
func (b *gnetBackend) stop(ctx context.Context) error {
	if err := b.eng.Stop(ctx); err != nil {
		return fmt.Errorf("stop event loops: %w", err)
	}
	return nil
}

func (b *gnetBackend) done() <-chan struct{} { return b.runDone }
func (b *gnetBackend) err() error            { return b.runErr }

// dup is gnet's Engine.Dup: a duplicate of the listening socket (with one
// socket per loop, of one of them; any serves for sending, see bootFanout).
func (b *gnetBackend) dup() (int, error) { return b.eng.Dup() }

// between is nil: every gnet loop has a thread of its own, so the fan-out
// never holds up a receive.
func (b *gnetBackend) between() func() { return nil }

// catchUp is nil: gnet's loops read at each arrival.
func (b *gnetBackend) catchUp() func() { return nil }

// sweep runs each loop's idle sweep on the loop itself, through gnet's task
// queue; a loop that has not had its first datagram has nothing to sweep.
func (b *gnetBackend) sweep() {
	for i := range b.bound {
		if h := b.bound[i].el.Load(); h != nil {
			// Fails only when the engine is shutting down.
			_ = h.el.Execute(context.Background(), h.sweep)
		}
	}
}

// close does nothing: gnet closes its own sockets when Run returns.
func (b *gnetBackend) close() {}

// loopBinding ties a loop index to the gnet event loop that serves it. gnet
// (v2.9.7) does not tell a callback which loop it runs on: the loop's index
// is private (eventloop.idx), OnBoot sees only the Engine, a UDP Conn is
// built afresh for every datagram (so Conn.Context cannot carry it), and the
// EventLoop interface has no index or identity beyond its pointer, which
// is no better a key than the fd. But every datagram callback carries the fd
// of the loop's own SO_REUSEPORT socket, so the first callback with a new fd
// claims the next free index. Written once (CAS) by the loop itself; read
// by every loop and by the housekeeper's sweep.
type loopBinding struct {
	fd atomic.Int64 // -1 until claimed
	el atomic.Pointer[loopHandle]
}

type loopHandle struct {
	el    gnet.EventLoop
	sweep gnet.Runnable
}

// handler adapts gnet's callbacks to the loops.
type handler struct {
	gnet.BuiltinEventEngine
	srv *Server
	be  *gnetBackend
}

// OnBoot runs once, when the sockets are bound and before any loop
// starts: from here on Engine.Dup works.
func (h *handler) OnBoot(eng gnet.Engine) gnet.Action {
	h.be.eng = eng
	close(h.be.booted)
	return gnet.None
}

func (h *handler) OnTraffic(c gnet.Conn) gnet.Action {
	s := h.srv
	l := h.be.loopFor(c)
	if l == nil {
		return gnet.None
	}
	// Next(-1) on a UDP conn is the loop's read buffer itself, no copy; it
	// is only valid during this callback, and datagram keeps none of it.
	in, err := c.Next(-1)
	if err != nil {
		return gnet.None
	}
	src, ok := udp.AddrFromNet(c.RemoteAddr())
	if !ok {
		l.stats.DatagramsIn.inc()
		l.drop(DropBadSource)
		return gnet.None
	}
	out := l.datagram(in, src, s.now())
	if out != nil {
		if _, err := c.Write(out); err != nil {
			l.stats.SendErrors.inc()
		} else {
			l.stats.DatagramsOut.inc()
			l.stats.BytesOut.add(uint64(len(out)))
		}
	}
	return gnet.None
}

// loopFor finds (or, on a loop's first datagram, claims) the loop state of
// the gnet loop running this callback. A linear scan of at most a few dozen
// atomic loads: cheaper than a map, and race-free.
func (b *gnetBackend) loopFor(c gnet.Conn) *loop {
	s := b.s
	fd := int64(c.Fd())
	for i := range b.bound {
		if b.bound[i].fd.Load() == fd {
			return s.loops[i]
		}
	}
	for i := range b.bound {
		if b.bound[i].fd.CompareAndSwap(-1, fd) {
			l := s.loops[i]
			s.pinLoop(i)
			// gnet binds its sockets itself and names one only here, at
			// its first datagram (see loopBinding): the filter starts
			// with the second.
			if err := s.attachFilter(int(fd)); err != nil {
				s.log.Error("kernel filter: every datagram of this loop reaches it", "loop", i, "err", err)
			}
			b.bound[i].el.Store(&loopHandle{
				el: c.EventLoop(),
				sweep: gnet.RunnableFunc(func(context.Context) error {
					l.sweep(s.now())
					return nil
				}),
			})
			return l
		}
		if b.bound[i].fd.Load() == fd {
			return s.loops[i] // another claim raced ours for this fd: impossible, but harmless
		}
	}
	if b.strayLogged.CompareAndSwap(false, true) {
		s.log.Error("datagrams on an unknown socket (more sockets than loops); dropping them", "fd", fd)
	}
	return nil
}

// gnetLogger routes gnet's own log lines to slog.
type gnetLogger struct{ l *slog.Logger }

func (g gnetLogger) Debugf(f string, a ...any) { g.l.Debug(fmt.Sprintf(f, a...), "src", "gnet") }
func (g gnetLogger) Infof(f string, a ...any)  { g.l.Debug(fmt.Sprintf(f, a...), "src", "gnet") }
func (g gnetLogger) Warnf(f string, a ...any)  { g.l.Warn(fmt.Sprintf(f, a...), "src", "gnet") }
func (g gnetLogger) Errorf(f string, a ...any) { g.l.Error(fmt.Sprintf(f, a...), "src", "gnet") }
func (g gnetLogger) Fatalf(f string, a ...any) { g.l.Error(fmt.Sprintf(f, a...), "src", "gnet") }

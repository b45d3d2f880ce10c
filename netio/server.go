package netio

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/treasured/treasured/engine"
	"github.com/treasured/treasured/netio/udp"
)

// Server is the treasured UDP server: N event loops (a backend) that answer
// handshakes and pings and queue inputs, a tick goroutine that drains the
// queues into the engine on absolute deadlines, and a fan-out that sends
// every player its snapshot each tick with sendmmsg (docs/ARCHITECTURE.md "Data flow").
//
// Fields are grouped by owner, the goroutine that writes them:
//
//   - the backend's loops (backend.go; gnet's threads, mmsgBackend.run,
//     pollBackend.run, or with InlineIO the tick goroutine): loops[i],
//     its socket, its sessions, its end of rings[i], its LoopStats.
//   - the tick goroutine (OS-locked and pinned to the engine CPU, except
//     in the poll layout): the World, recs, the fan-out's peer table,
//     fan-out worker 0, the journal, TickStats and EngineStats.
//   - fan-out workers 1..W-1: their batch and sender.
//   - the housekeeper: asks the loops to sweep, rotates cookie secrets.
//   - whoever calls Start and Shutdown: the lifecycle.
type Server struct {
	// Fixed at New; read by everyone.
	cfg    Config
	addr   netip.AddrPort // the real port once Start has bound it
	log    *slog.Logger
	params *loopParams
	origin time.Time // server clock 0 for the loops

	// The receive path. be holds the sockets and the loops' goroutines;
	// loops[i] is written only by the goroutine serving it; jar is
	// rotated by the housekeeper (its own lock).
	be    backend
	loops []*loop
	jar   *cookieJar

	// The tick goroutine's alone once started (Shutdown uses them after
	// tickDone): the engine, the drained records, the fan-out, the journal.
	world        World
	ticker       ticker
	recs         []engine.Record
	drainFn      func(*ringEntry)
	catchUp      func() // the backend's, read before the drain (nil: none)
	fan          *fanout
	jrnl         Journal // cfg.Journal until its first error, then nil
	jrnlFailedAt uint32  // tick whose Append failed (0: none)
	jrnlCloseErr error

	// Counters, atomic: written by their owners above, read by /metrics.
	LoopStats   []LoopStats
	FanoutStats []FanoutStats
	TickStats   TickStats
	EngineStats EngineStats // the engine's own counters, published each tick

	// Written by one goroutine, read by all, atomic: the engine tick (for
	// Welcome and Pong; tick goroutine), draining (Shutdown), stopTick
	// (Shutdown, read by the tick goroutine).
	tickNo   atomic.Uint32
	draining atomic.Bool
	stopTick atomic.Bool

	// Lifecycle: Start, Shutdown, the housekeeper.
	started   atomic.Bool
	stopOnce  sync.Once
	tickDone  chan struct{}
	houseStop chan struct{}
	houseDone chan struct{}
}

// New checks cfg and builds a server around w. Nothing is bound or started
// until Start.
func New(cfg Config, w World) (*Server, error) {
	if w == nil {
		return nil, configErr("no world")
	}
	shape, err := shapeOf(w.Config())
	if err != nil {
		return nil, err
	}
	cfg.shape = shape
	ap, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	var secret [32]byte
	if _, err := crand.Read(secret[:]); err != nil {
		return nil, fmt.Errorf("netio: cookie secret: %w", err)
	}
	s := &Server{
		cfg: cfg, addr: ap, log: cfg.Logger, world: w,
		jar:         newCookieJar(secret),
		loops:       make([]*loop, cfg.Loops),
		LoopStats:   make([]LoopStats, cfg.Loops),
		FanoutStats: make([]FanoutStats, cfg.FanoutWorkers),
		origin:      time.Now(),
		recs:        make([]engine.Record, 0, cfg.Loops*cfg.RingSize),
		tickDone:    make(chan struct{}),
		houseStop:   make(chan struct{}),
		houseDone:   make(chan struct{}),
	}
	s.params = cfg.params(s.origin.UnixMilli())
	s.EngineStats = newEngineStats(w, cfg.FanoutWorkers)
	for i := range s.loops {
		var seed [32]byte
		if _, err := crand.Read(seed[:]); err != nil {
			return nil, fmt.Errorf("netio: loop seed: %w", err)
		}
		l, err := newLoop(i, s.params, cfg.shape.maxPlayers, cfg.RingSize, s.jar, seed, &s.tickNo, &s.draining, &s.LoopStats[i])
		if err != nil {
			return nil, err
		}
		l.part.restore(cfg.Restore, int64(cfg.shape.grace))
		s.loops[i] = l
	}
	s.drainFn = s.onEntry
	s.be = newBackend(s)
	s.jrnl = cfg.Journal
	s.ticker = ticker{clock: cfg.Clock, period: cfg.shape.period, fn: s.tick, stats: &s.TickStats, started: s.setEpoch}
	return s, nil
}

// SetTickObserver sets who receives per-tick measurements (the metrics'
// histograms). Call before Start.
func (s *Server) SetTickObserver(o TickObserver) { s.ticker.obs = o }

// Addr is the address the server listens on, with the real port once
// Start has returned.
func (s *Server) Addr() netip.AddrPort { return s.addr }

// Tick is the engine tick after the last completed Step.
func (s *Server) Tick() uint32 { return s.tickNo.Load() }

// Draining reports whether Shutdown has begun.
func (s *Server) Draining() bool { return s.draining.Load() }

// RingDepth reports loop i's queued records (for metrics; a snapshot).
func (s *Server) RingDepth(i int) int { return s.loops[i].ring.Len() }

// RingCap is each loop's ring capacity.
func (s *Server) RingCap() int { return s.cfg.RingSize }

// Sessions is the number of active sessions over all loops.
func (s *Server) Sessions() int64 {
	var n int64
	for i := range s.LoopStats {
		n += s.LoopStats[i].Sessions.Load()
	}
	return n
}

// Done is closed when the event loops have stopped: after Shutdown, or on
// their own if gnet failed, in which case Err says why. Either way the
// caller should still call Shutdown, which sends the final snapshot and Byes.
func (s *Server) Done() <-chan struct{} { return s.be.done() }

// Err is the event loops' exit error, once Done is closed.
func (s *Server) Err() error {
	select {
	case <-s.be.done():
		return s.be.err()
	default:
		return nil
	}
}

// ErrAddrInUse is returned by Start when another socket holds the port.
var ErrAddrInUse = errors.New("netio: listen address in use")

// Start binds the sockets, starts the event loops, the tick goroutine and
// the housekeeper, and returns once the server answers datagrams, or with
// the reason it cannot (ErrAddrInUse, a bad address, the kernel's refusal).
func (s *Server) Start() error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("netio: Start called twice")
	}
	if err := s.resolvePort(); err != nil {
		return err
	}
	if !s.cfg.NoAuth {
		// After resolvePort: the default public address has the real port.
		a, err := newServerAuth(&s.cfg, s.addr)
		if err != nil {
			return err
		}
		s.params.auth = a
	}
	if err := s.openFilter(); err != nil {
		return err
	}
	if err := s.be.start(); err != nil {
		s.closeFilter()
		return err
	}
	if err := s.bootFanout(); err != nil {
		s.abortStart()
		return err
	}

	s.catchUp = s.be.catchUp()
	go s.runTicks()
	go s.housekeeper()
	s.log.Info("treasured listening", "addr", s.addr.String(), "loops", s.cfg.Loops,
		"backend", s.cfg.Backend.String(), "layout", s.cfg.layoutWhy, "inline_io", s.cfg.InlineIO,
		"fanout_workers", s.cfg.FanoutWorkers, "tick", s.cfg.shape.period, "max_players", s.cfg.shape.maxPlayers,
		"locked_threads", !s.cfg.UnlockedThreads, "recv_pace", s.recvPace(), "urgent_socket", s.urgentSocket(), "journal", s.cfg.Journal != nil, "auth", !s.cfg.NoAuth,
		"kernel_filter", s.params.filter != nil)
	if s.cfg.NoAuth {
		s.log.Warn("AUTHENTICATION IS OFF (NoAuth): connects need no token, player keys are taken on trust and datagrams are not authenticated; for measurements and tests only")
	}
	return nil
}

func (s *Server) startErr(err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%w: %s: %v", ErrAddrInUse, s.addr, err)
	}
	return fmt.Errorf("netio: start %s: %w", s.addr, err)
}

// resolvePort checks that the address is free and, for port 0, picks one.
//
// Two reasons to bind a plain socket first. gnet binds each loop's socket
// with SO_REUSEPORT, and Linux lets a second process bind a port that
// another SO_REUSEPORT socket of the same user holds: two servers would
// silently split the traffic. A socket without SO_REUSEPORT fails with
// EADDRINUSE instead. And with port 0, each of gnet's N binds would get its
// own random port; binding once and passing the port gives them all the
// same one. (Another process could take the port between our close and
// gnet's bind; the bind would then fail, or share, exactly as without this.)
func (s *Server) resolvePort() error {
	pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(s.addr))
	if err != nil {
		return s.startErr(err)
	}
	if s.addr.Port() == 0 {
		s.addr = netip.AddrPortFrom(s.addr.Addr(), uint16(pc.LocalAddr().(*net.UDPAddr).Port))
	}
	return pc.Close()
}

// abortStart stops the loops that start started, when the rest of Start
// failed: the caller gets the error and the port is free again.
func (s *Server) abortStart() {
	if err := s.be.stop(context.Background()); err != nil {
		s.log.Warn("stopping the loops after a failed start", "err", err)
	}
	<-s.be.done()
	s.be.close()
	s.closeFilter()
}

// bootFanout builds the fan-out workers, each on its own duplicate of the
// first loop's socket (backend.dup), with the backend's between-batches hook.
func (s *Server) bootFanout() error {
	workers := make([]*fanWorker, s.cfg.FanoutWorkers)
	for i := range workers {
		// A duplicate of the first loop's socket. Sending on it is fine for
		// every client: all the loops' sockets are bound to the same
		// address and port, so replies come from where the client sent
		// to, and the receive-side hash is not affected by sends.
		fd, err := s.be.dup()
		if err != nil {
			for _, w := range workers[:i] {
				_ = w.sender.Close()
			}
			return fmt.Errorf("netio: duplicate socket for the fan-out: %w", err)
		}
		if i == 0 {
			s.checkBuffers(fd)
		}
		snd, err := udp.NewSocketSender(fd, s.cfg.BatchSize, s.cfg.sockOpts...)
		if err != nil {
			_ = udp.CloseFD(fd)
			for _, w := range workers[:i] {
				_ = w.sender.Close()
			}
			return err
		}
		workers[i] = newFanWorker(s.world.NewSnapshotter(), snd, &s.FanoutStats[i])
	}
	workers[0].between = s.be.between()
	fan, err := newFanout(s.cfg.shape.maxPlayers, workers, !s.cfg.UnlockedThreads, s.pinFanout)
	if err != nil {
		for _, w := range workers {
			_ = w.sender.Close()
		}
		return err
	}
	s.fan = fan
	s.EngineStats.bind(fan.workers)
	return nil
}

// checkBuffers warns when the kernel gave less socket buffer than asked.
// Too small a receive buffer is where a loaded server loses datagrams
// silently (RcvbufErrors in /proc/net/snmp), so the warning names the knob.
func (s *Server) checkBuffers(fd int) {
	rcv, snd, err := udp.SocketBuffers(fd)
	if err != nil {
		s.log.Debug("socket buffer sizes unavailable", "err", err)
		return
	}
	if rcv < s.cfg.RecvBuffer {
		s.log.Warn("kernel capped the UDP receive buffer; raise it with sysctl -w "+udp.RecvBufferSysctl+"=N",
			"asked", s.cfg.RecvBuffer, "got", rcv, "sysctl", udp.RecvBufferSysctl)
	}
	if snd < s.cfg.SendBuffer {
		s.log.Warn("kernel capped the UDP send buffer; raise it with sysctl -w "+udp.SendBufferSysctl+"=N",
			"asked", s.cfg.SendBuffer, "got", snd, "sysctl", udp.SendBufferSysctl)
	}
}

// now is the loops' clock: monotonic nanoseconds since New.
func (s *Server) now() int64 { return int64(time.Since(s.origin)) }

// pinLoop pins the calling loop thread (gnet has locked it) to its I/O CPU.
func (s *Server) pinLoop(i int) {
	if s.cfg.PinThread == nil || len(s.cfg.IOCPUs) == 0 || s.cfg.UnlockedThreads {
		return
	}
	cpu := s.cfg.IOCPUs[i%len(s.cfg.IOCPUs)]
	if err := s.cfg.PinThread([]int{cpu}); err != nil {
		s.log.Warn("cannot pin event loop", "loop", i, "cpu", cpu, "err", err)
		return
	}
	s.log.Debug("event loop pinned", "loop", i, "cpu", cpu)
}

func (s *Server) pinFanout(w int) {
	if s.cfg.PinThread == nil || len(s.cfg.FanoutCPUs) == 0 {
		return
	}
	cpu := s.cfg.FanoutCPUs[(w-1)%len(s.cfg.FanoutCPUs)]
	if err := s.cfg.PinThread([]int{cpu}); err != nil {
		s.log.Warn("cannot pin fan-out worker", "worker", w, "cpu", cpu, "err", err)
	}
}

// housekeeper asks the loops for their idle sweeps once a second (backend
// sweep) and rotates the cookie secret.
func (s *Server) housekeeper() {
	defer close(s.houseDone)
	sweep := time.NewTicker(time.Second)
	defer sweep.Stop()
	rotate := time.NewTicker(s.cfg.CookieRotate)
	defer rotate.Stop()
	for {
		select {
		case <-s.houseStop:
			return
		case <-sweep.C:
			s.be.sweep()
		case <-rotate.C:
			var next [32]byte
			if _, err := crand.Read(next[:]); err != nil {
				s.log.Error("cookie secret rotation failed; keeping the current secret", "err", err)
				continue
			}
			s.jar.rotate(next)
		}
	}
}

// Shutdown stops the server gracefully: no new players (a Connect gets
// Reject ShuttingDown), the event loops stop, the tick goroutine finishes
// one last tick (everyone's final snapshot), then every player gets a Bye
// and the sockets close. It returns when all of that is done or ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.started.Load() {
		return errors.New("netio: Shutdown before Start")
	}
	var err error
	s.stopOnce.Do(func() { err = s.shutdown(ctx) })
	return err
}

func (s *Server) shutdown(ctx context.Context) error {
	s.draining.Store(true)
	s.log.Info("shutting down: no new players")

	// Stop the loops first, so nothing is pushed into the rings after the
	// final drain below.
	var errs []error
	select {
	case <-s.be.done(): // the loops already stopped on their own (Err says why)
	default:
		if err := s.be.stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	select {
	case <-s.be.done():
		if err := s.be.err(); err != nil {
			errs = append(errs, fmt.Errorf("event loops: %w", err))
		}
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("event loops: %w", ctx.Err()))
	}

	s.stopTick.Store(true)
	select {
	case <-s.tickDone:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("final tick: %w", ctx.Err()))
		close(s.houseStop)
		return errors.Join(errs...)
	}
	close(s.houseStop)
	<-s.houseDone
	if s.jrnlCloseErr != nil {
		errs = append(errs, fmt.Errorf("journal: %w", s.jrnlCloseErr))
	}

	// The tick goroutine is gone, so this goroutine may now use its state.
	// Joins queued after the final tick's drain still need their Bye.
	for _, l := range s.loops {
		l.ring.Drain(s.fan.apply)
	}
	live := s.fan.players[:0]
	for i := range s.fan.peers {
		if s.fan.peers[i].live {
			live = append(live, int32(i))
		}
	}
	s.fan.send(live, true)
	if err := s.fan.close(); err != nil {
		errs = append(errs, fmt.Errorf("close fan-out sockets: %w", err))
	}
	// The loops (or, inline, the tick goroutine) are done with their sockets.
	s.be.close()
	s.closeFilter()
	s.log.Info("shut down", "final_tick", s.tickNo.Load(), "byes", len(live))
	return errors.Join(errs...)
}

package netio

import (
	"runtime"
	"sync/atomic"
	"time"

	"github.com/treasured/treasured/engine"
)

// The tick goroutine's code: its clock and scheduler (ticker), and the
// Server's runTicks, tick and onEntry below; the journal (journal.go) and
// the fan-out (fanout.go) it drives have files of their own.

// Clock is the tick goroutine's time source. The server uses the monotonic
// clock; tests inject a fake so that jitter, overruns and the no-drift rule
// are checked exactly, without sleeping and without asserting on real time.
type Clock interface {
	// Now is monotonic time since an arbitrary origin.
	Now() time.Duration
	// SleepUntil returns once Now() >= t (at once if it already is).
	SleepUntil(t time.Duration)
}

// monoClock is the real Clock: time.Since reads the monotonic clock, so wall
// clock steps (NTP, an operator) neither stretch nor squeeze ticks.
type monoClock struct{ origin time.Time }

// NewMonoClock returns the real monotonic Clock.
func NewMonoClock() Clock { return monoClock{origin: time.Now()} }

func (c monoClock) Now() time.Duration { return time.Since(c.origin) }

// Wall maps a reading of this clock to wall-clock time. time.Now reads the
// wall and the monotonic clock together, so origin + t is the
// CLOCK_REALTIME time at which the monotonic clock read t, exact up to the
// two clock reads of time.Now (wall-clock steps after the origin aside).
func (c monoClock) Wall(t time.Duration) time.Time { return c.origin.Add(t) }

// WallTime maps a reading of c to wall-clock time: exactly for a clock with
// a Wall method (the real one), else from one paired reading of both
// clocks (fakes in tests).
func WallTime(c Clock, t time.Duration) time.Time {
	if w, ok := c.(interface{ Wall(time.Duration) time.Time }); ok {
		return w.Wall(t)
	}
	return time.Now().Add(t - c.Now())
}

// exactLead is how much of each wait for a tick deadline is slept exactly
// (sleepExact) rather than with a Go timer: the netpoller waits in whole
// milliseconds, so a timer can fire up to 1 ms late when nothing else wakes
// the runtime first.
const exactLead = time.Millisecond

func (c monoClock) SleepUntil(t time.Duration) {
	// A Go timer for all but the last millisecond, then an exact sleep.
	// The timer alone was as good only while datagrams kept waking the
	// netpoller: with the poll layout's paced receive (Config.RecvPace)
	// nothing does, and tick start jitter p99 went to 1.8 ms at 1,000
	// players; with the exact last millisecond it is 0.14-0.23 ms
	// (BENCHMARKS.md, "Receive pacing", part 7). A spin instead would
	// burn the core that the loops and the OS share on small machines.
	if d := t - c.Now() - exactLead; d > 0 {
		time.Sleep(d)
	}
	// The timer fires up to a millisecond late; a signal ends an exact
	// sleep early: loop until the deadline.
	for d := t - c.Now(); d > 0; d = t - c.Now() {
		sleepExact(min(d, exactLead))
	}
}

// TickObserver receives each tick's measurements (the Prometheus histograms
// in the server, a recorder in tests). Calls come from the tick goroutine.
type TickObserver interface {
	ObserveTick(k uint64, jitter, work time.Duration, overrun bool)
}

// ticker runs fn on absolute deadlines start + k*period.
//
// Deadlines are absolute so that nothing drifts: a late tick does not push
// the later ones back, and the long-run rate is exactly 1/period. A tick whose
// work ends after the next deadline is an overrun: it is counted, and the next
// tick starts at once, late, and is measured as such. No tick is ever
// skipped: every k runs, in order, so the engine's tick number and the
// journal never have holes (docs/ARCHITECTURE.md "Overload").
type ticker struct {
	clock  Clock
	period time.Duration
	fn     func(k uint64)
	obs    TickObserver
	stats  *TickStats
	// started, if not nil, is called once, before the first tick, with
	// the clock reading that tick k's deadline start + k*period counts from.
	started func(start time.Duration)
}

// run ticks until stop is set. The tick during which stop is seen is
// completed, and it is the last: Server.Shutdown relies on that final tick
// to send everyone a final snapshot. It returns the number of ticks run.
func (t *ticker) run(stop *atomic.Bool) uint64 {
	start := t.clock.Now()
	if t.started != nil {
		t.started(start)
	}
	var k uint64
	for {
		sched := start + time.Duration(k)*t.period
		t.clock.SleepUntil(sched)
		began := t.clock.Now()
		t.fn(k)
		ended := t.clock.Now()

		jitter, work := began-sched, ended-began
		overrun := ended > sched+t.period
		t.stats.Ticks.inc()
		if overrun {
			t.stats.Overruns.inc()
		}
		t.stats.LastWork.set(int64(work))
		if int64(jitter) > t.stats.MaxLate.Load() {
			t.stats.MaxLate.set(int64(jitter))
		}
		if t.obs != nil {
			t.obs.ObserveTick(k, jitter, work, overrun)
		}
		k++
		if stop.Load() {
			return k
		}
	}
}

// runTicks is the tick goroutine.
func (s *Server) runTicks() {
	defer close(s.tickDone)
	if !s.cfg.UnlockedThreads {
		// Locked and never unlocked: when a goroutine exits still locked,
		// the runtime destroys its thread, so the CPU pin below dies with
		// it instead of leaking to whatever goroutine the thread would run
		// next.
		runtime.LockOSThread()
		if s.cfg.PinThread != nil && len(s.cfg.EngineCPUs) > 0 {
			if err := s.cfg.PinThread(s.cfg.EngineCPUs); err != nil {
				s.log.Warn("cannot pin the engine thread", "cpus", s.cfg.EngineCPUs, "err", err)
			}
		}
	}
	s.ticker.run(&s.stopTick)
	// After the final tick, on the goroutine that appended.
	s.closeJournal()
}

// tick is one engine tick: drain every ring, step, send the snapshots.
func (s *Server) tick(uint64) {
	if s.catchUp != nil {
		s.catchUp()
	}
	s.recs = s.recs[:0]
	for _, l := range s.loops {
		l.ring.Drain(s.drainFn)
	}
	s.TickStats.Records.add(uint64(len(s.recs)))
	s.world.Step(s.recs)
	t := s.world.Tick()
	if s.jrnl != nil {
		s.journalTick(t)
	}
	s.tickNo.Store(t)
	s.TickStats.Tick.set(int64(t))
	s.fan.players = s.world.ActivePlayers(s.fan.players[:0])
	s.fan.send(s.fan.players, false)
	s.EngineStats.publish()
	s.TickStats.LastAt.set(s.now())
}

// onEntry takes one drained ring entry (tick goroutine).
func (s *Server) onEntry(e *ringEntry) {
	if e.move {
		s.fan.apply(e) // netio's own: the engine never sees it
		return
	}
	switch e.rec.Kind {
	case engine.RecJoin:
		s.TickStats.Joins.inc()
		s.fan.apply(e)
	case engine.RecLeave:
		s.TickStats.Leaves.inc()
		s.fan.apply(e)
	}
	s.recs = append(s.recs, e.rec)
}

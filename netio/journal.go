package netio

import (
	"time"

	"github.com/treasured/treasured/engine"
)

// Journal is where the tick goroutine records each tick (docs/ARCHITECTURE.md
// "Journal and checkpoints"). *journal.Writer (engine/journal) satisfies it; netio
// does not import that package, so its tests can use a fake.
//
// Append and Close are called from the tick goroutine only; SyncedTick may
// be called from any goroutine (the metrics scrape).
//
// Order (crash recovery): Append runs right after World.Step and before any
// snapshot of that tick is sent (TestJournalBeforeFanout). journal.Writer
// and journal.Dir hand the frame to the kernel before Append returns, so no
// client can have seen the effect of a tick a restart would not recover.
type Journal interface {
	// Append records tick's ordered records and the state hash after it.
	// Append must not allocate in steady state: it runs inside the tick.
	Append(tick uint32, recs []engine.Record, hash uint64) error
	// SyncedTick is the newest tick known to be on stable storage.
	SyncedTick() uint32
	// Close flushes and closes the journal.
	Close() error
}

// journalTick appends the tick just stepped (tick goroutine). On the first
// error journaling stops for good: a journal with a hole cannot be replayed
// past it, and the server goes on ticking without one rather than stalling
// the game. The error is counted (treasured_journal_errors_total) and logged
// once; the log line is the only allocation, and it happens once.
func (s *Server) journalTick(tick uint32) {
	if err := s.jrnl.Append(tick, s.world.LastOrdered(), s.world.Hash()); err != nil {
		s.jrnl = nil
		s.TickStats.JournalErrors.inc()
		s.jrnlFailedAt = tick
		s.log.Error("journal append failed; journaling stopped (the server keeps running)",
			"tick", tick, "err", err)
	}
}

// closeJournal runs on the tick goroutine after the final tick.
func (s *Server) closeJournal() {
	j := s.cfg.Journal
	if j == nil {
		return
	}
	err := j.Close()
	switch {
	case s.jrnlFailedAt != 0:
		// Already counted and logged; Close repeats the sticky error.
		s.log.Warn("journal ends early", "last_tick", s.jrnlFailedAt-1, "close_err", err)
	case err != nil:
		s.TickStats.JournalErrors.inc()
		s.jrnlCloseErr = err
	default:
		s.log.Info("journal closed", "last_tick", s.tickNo.Load(), "synced_tick", j.SyncedTick())
	}
}

// setEpoch publishes the tick clock's epoch: the wall-clock time at which
// the tick that produces engine tick T is scheduled to start is
// epoch + T*period, for every T this run produces. Ticker iteration k
// (deadline start + k*period) steps the world from t0+k to t0+k+1, so the
// epoch is the wall time of start minus (t0+1) periods.
func (s *Server) setEpoch(start time.Duration) {
	t0 := int64(s.world.Tick())
	wall := WallTime(s.cfg.Clock, start).UnixNano()
	s.TickStats.EpochUnixNs.set(wall - (t0+1)*int64(s.cfg.shape.period))
}

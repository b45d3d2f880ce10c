package netio

import (
	"testing"

	"github.com/treasured/treasured/engine"
	"github.com/treasured/treasured/engine/journal"
)

// orderJournal remembers, at each Append, how many snapshots the fan-out
// had sent so far.
type orderJournal struct {
	s      *Server
	atTick map[uint32]uint64
}

func (o *orderJournal) Append(tick uint32, _ []engine.Record, _ uint64) error {
	o.atTick[tick] = o.s.FanoutStats[0].Snapshots.Load()
	return nil
}
func (o *orderJournal) SyncedTick() uint32 { return 0 }
func (o *orderJournal) Close() error       { return nil }

// TestJournalBeforeFanout: a tick's journal frame is handed to the journal
// (written to the OS, for a journal.Writer or journal.Dir) before any
// snapshot of that tick is sent, so no client can have seen loot the
// recovered world does not know. Checked by counting the snapshots sent
// when Append runs: exactly those of the ticks before.
func TestJournalBeforeFanout(t *testing.T) {
	oj := &orderJournal{atTick: map[uint32]uint64{}}
	r := newTickRig(t, 8, oj)
	oj.s = r.s
	var sentBefore uint64
	for range 10 {
		r.step()
		tick := r.s.Tick()
		at, ok := oj.atTick[tick]
		if !ok || at != sentBefore {
			t.Fatalf("tick %d: journaled after %d snapshots, %d were sent before the tick (journaled: %v)", tick, at, sentBefore, ok)
		}
		sentBefore = r.s.FanoutStats[0].Snapshots.Load()
		if sentBefore <= at {
			t.Fatalf("tick %d sent no snapshot", tick)
		}
	}
}

// The tick path with a data directory as the journal allocates nothing
// between checkpoints.
func TestTickNoAllocWithDataDir(t *testing.T) {
	const players = 200
	ecfg := engine.DefaultConfig()
	ecfg.MaxPlayers = players
	d, _, err := journal.Open(t.TempDir(), ecfg, journal.DirOptions{CheckpointEvery: 1 << 30, Journal: journal.Options{SyncEvery: -1}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r := newTickRig(t, players, d)
	// The rig's world is its own; the directory journals its records.
	for range 20 {
		r.step()
	}
	if n := testing.AllocsPerRun(50, r.step); n != 0 {
		t.Fatalf("a tick with the data directory allocates %v", n)
	}
	if n := r.s.TickStats.JournalErrors.Load(); n != 0 {
		t.Fatalf("journal errors %d", n)
	}
}

package engine

import "testing"

// TestSteadyStateNoAllocs: a steady-state tick with 1,000 players — Step and
// every player's snapshot — allocates nothing (docs/ARCHITECTURE.md
// "Memory": nothing for the GC to do).
func TestSteadyStateNoAllocs(t *testing.T) {
	w, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	d := newMixDriver(w, 1000, 7)
	d.churn = 2 // sessions end and start in the steady state too
	sc := NewScratch()
	tick := func() {
		w.Step(d.inputs())
		for i := range d.n {
			w.Snapshot(i, sc)
		}
		d.ack = w.Tick()
	}
	w.Step(d.joins())
	for range 650 { // past the first chest runs, pickups, expiries and respawns
		tick()
	}
	before := w.Stats()
	if n := testing.AllocsPerRun(200, tick); n != 0 {
		t.Fatalf("steady-state tick allocates %v times", n)
	}
	after := w.Stats()
	// The measured ticks must have exercised the expensive paths, or the
	// zero above would prove little.
	if after.LootGenerated == before.LootGenerated || after.LootPickedUp == before.LootPickedUp ||
		after.ZoneChanges == before.ZoneChanges || after.EventsQueued == before.EventsQueued ||
		after.LootExpired == before.LootExpired || after.ChestsRespawned == before.ChestsRespawned ||
		after.Leaves == before.Leaves || after.GoneQueued == before.GoneQueued {
		t.Fatalf("measured ticks did not exercise the loot paths: before %+v after %+v", before, after)
	}
}

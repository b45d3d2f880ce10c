package client

import (
	"testing"

	"github.com/treasured/treasured/schema"
)

func TestLootShowsEachKeyOnce(t *testing.T) {
	var l Loot
	gen := schema.LootEvent{LootID: 5, Kind: 0, Tick: 10}
	pick := schema.LootEvent{LootID: 5, Kind: 1, Tick: 12}
	shown := 0
	for _, ev := range []schema.LootEvent{gen, gen, pick, gen, pick} {
		if l.Offer(&ev) {
			shown++
		}
	}
	if shown != 2 || l.Stats.Repeats != 3 || l.Stats.Received != 5 || l.Stats.Shown[0] != 1 || l.Stats.Shown[1] != 1 {
		t.Fatalf("shown %d stats %+v", shown, l.Stats)
	}
}

func TestLootOwnExpectation(t *testing.T) {
	var l Loot
	// Expected before shown, shown before expected, and never shown.
	l.Expect(1)
	l.Offer(&schema.LootEvent{LootID: 2, Tick: 3})
	l.Expect(2)
	l.Expect(3)
	l.Expect(3)
	if l.Lost() != 2 {
		t.Fatalf("lost %d before, want 2 (stats %+v)", l.Lost(), l.Stats)
	}
	l.Offer(&schema.LootEvent{LootID: 1, Tick: 4})
	l.Offer(&schema.LootEvent{LootID: 1, Tick: 4})
	// A PickedUp event of loot 3 is not its LootGenerated.
	l.Offer(&schema.LootEvent{LootID: 3, Kind: 1, Tick: 5})
	if l.Lost() != 1 || l.Stats.Expected != 3 || l.Stats.Met != 2 {
		t.Fatalf("lost %d stats %+v", l.Lost(), l.Stats)
	}
}

func TestLootWindowNeverShowsTwice(t *testing.T) {
	l := Loot{Window: 100}
	for tick := uint32(1); tick <= 1000; tick++ {
		l.Offer(&schema.LootEvent{LootID: uint64(tick), Tick: tick})
	}
	if len(l.seen) > 200 {
		t.Fatalf("window 100 keeps %d keys", len(l.seen))
	}
	// An old event, forgotten or not, must not be shown again.
	for id := uint64(1); id <= 1000; id++ {
		if l.Offer(&schema.LootEvent{LootID: id, Tick: uint32(id)}) {
			t.Fatalf("loot %d shown twice", id)
		}
	}
	if l.Stats.Stale == 0 || l.Stats.Repeats == 0 || l.Stats.Stale+l.Stats.Repeats != 1000 {
		t.Fatalf("stats %+v", l.Stats)
	}
	// A genuinely new event inside the window is still shown.
	if !l.Offer(&schema.LootEvent{LootID: 5000, Tick: 990}) {
		t.Fatal("new event inside the window dropped")
	}
}

func TestLootOfferNoAllocSteadyState(t *testing.T) {
	l := Loot{Window: 64}
	tick := uint32(0)
	for range 1000 {
		tick++
		l.Offer(&schema.LootEvent{LootID: uint64(tick), Tick: tick})
	}
	n := testing.AllocsPerRun(1000, func() {
		tick++
		ev := schema.LootEvent{LootID: uint64(tick), Tick: tick}
		l.Offer(&ev)
		l.Offer(&ev)
	})
	// Go maps reuse deleted slots but may occasionally grow or rehash;
	// amortised it must be far below one allocation per event.
	if n > 0.05 {
		t.Fatalf("%v allocs per event", n)
	}
}

// TestHostileServerOwnOpeningsBounded: a hostile or broken server names this
// player as the opener of a fresh loot id on each of 20 chests in every
// snapshot, for 10 minutes of ticks, and never sends a loot event. Every id is
// a new expectation (counted), but the memory of them is bounded by the
// loot window, like the de-dup memory.
func TestHostileServerOwnOpeningsBounded(t *testing.T) {
	const me, chests, ticks, window = 7, 20, 12_000, 1200
	s := NewSession(Config{LootWindow: window}, Handlers{})
	s.state = StateConnected
	s.welcome.PlayerID = me
	enc := schema.NewEncoder()
	f := &schema.SnapshotFrame{You: schema.PlayerState{ID: me}}
	id := uint64(0)
	most := 0
	for tick := uint32(1); tick <= ticks; tick++ {
		f.Tick, f.BaselineTick = tick, tick-1
		f.Chests = f.Chests[:0]
		for c := range uint32(chests) {
			id++
			f.Chests = append(f.Chests, schema.ChestState{ID: c, Status: 1, LootID: id, OpenedBy: me, ChangedTick: tick})
		}
		if _, err := s.Handle(enc.Snapshot(f), int64(tick)); err != nil {
			t.Fatal(err)
		}
		most = max(most, len(s.loot.own))
	}
	if s.loot.Stats.Expected != ticks*chests {
		t.Fatalf("expected %d own loot ids, counted %d", ticks*chests, s.loot.Stats.Expected)
	}
	// The window plus the quarter window between two prunes.
	if bound := (window + window/4 + 1) * chests; most > bound {
		t.Fatalf("own-openings memory reached %d entries, bound %d", most, bound)
	}
	t.Logf("%d own ids expected, at most %d remembered", s.loot.Stats.Expected, most)
}

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

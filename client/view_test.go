package client

import (
	"math/rand/v2"
	"testing"

	"github.com/treasured/treasured/schema"
)

func chest(id uint32, loot uint64, by uint32) schema.ChestState {
	return schema.ChestState{ID: id, LootID: loot, OpenedBy: by, Status: 1}
}

func TestViewDeltaOntoNewerView(t *testing.T) {
	var v View
	v.Apply(&schema.SnapshotFrame{Tick: 10, Chests: []schema.ChestState{chest(1, 0, schema.NoPlayer), chest(2, 0, schema.NoPlayer)},
		Players: []schema.PlayerState{{ID: 7}, {ID: 8}}}, 3, nil)
	v.Apply(&schema.SnapshotFrame{Tick: 11, BaselineTick: 10, Chests: []schema.ChestState{chest(2, 99, 8)}, Gone: []uint32{7}}, 3, nil)
	// Tick 12 is a delta against 10 (the server had not seen our ack of 11
	// yet): it repeats chest 2 and the departure of 7.
	v.Apply(&schema.SnapshotFrame{Tick: 12, BaselineTick: 10, Chests: []schema.ChestState{chest(2, 99, 8)}, Gone: []uint32{7},
		Players: []schema.PlayerState{{ID: 9}}}, 3, nil)
	if v.NumChests() != 2 || v.NumPlayers() != 2 {
		t.Fatalf("chests %d players %d", v.NumChests(), v.NumPlayers())
	}
	if _, ok := v.Player(7); ok {
		t.Fatal("player 7 still in view")
	}
	if c, _ := v.Chest(2); c.LootID != 99 {
		t.Fatalf("chest 2 %+v", c)
	}
	if v.Tick() != 12 || v.Stats.Full != 1 || v.Stats.Delta != 2 {
		t.Fatalf("tick %d stats %+v", v.Tick(), v.Stats)
	}
}

func TestViewReorderedOlderSnapshotDoesNotRegress(t *testing.T) {
	var v View
	v.Apply(&schema.SnapshotFrame{Tick: 10, Players: []schema.PlayerState{{ID: 7, Items: 1}}}, 3, nil)
	v.Apply(&schema.SnapshotFrame{Tick: 12, BaselineTick: 10, Players: []schema.PlayerState{{ID: 7, Items: 5}},
		You: schema.PlayerState{ID: 3, Items: 2}}, 3, nil)
	// Tick 11 arrives late and says 7 left (it came back by 12) and has an
	// older own state.
	v.Apply(&schema.SnapshotFrame{Tick: 11, BaselineTick: 10, Gone: []uint32{7}, You: schema.PlayerState{ID: 3, Items: 1}}, 3, nil)
	p, ok := v.Player(7)
	if !ok || p.Items != 5 {
		t.Fatalf("player 7 = %+v, %v; want Items 5 present", p, ok)
	}
	if v.You().Items != 2 || v.Tick() != 12 || v.Stats.Stale != 1 {
		t.Fatalf("you %+v tick %d stale %d", v.You(), v.Tick(), v.Stats.Stale)
	}
}

func TestViewFullSnapshotPurges(t *testing.T) {
	var v View
	v.Apply(&schema.SnapshotFrame{Tick: 5, Chests: []schema.ChestState{chest(1, 0, 0), chest(2, 0, 0), chest(3, 0, 0)},
		Players: []schema.PlayerState{{ID: 1}, {ID: 2}}}, 9, nil)
	v.Apply(&schema.SnapshotFrame{Tick: 20, Chests: []schema.ChestState{chest(3, 0, 0)}, Players: []schema.PlayerState{{ID: 2}}}, 9, nil)
	if v.NumChests() != 1 || v.NumPlayers() != 1 {
		t.Fatalf("after full: chests %d players %d", v.NumChests(), v.NumPlayers())
	}
	if _, ok := v.Chest(3); !ok {
		t.Fatal("chest 3 purged")
	}
	if v.ChestAt(0).ID != 3 || v.PlayerAt(0).ID != 2 {
		t.Fatalf("dense lists wrong: chest %d player %d", v.ChestAt(0).ID, v.PlayerAt(0).ID)
	}
	v.Reset()
	if v.NumChests() != 0 || v.Tick() != 0 {
		t.Fatal("reset left state")
	}
	if _, ok := v.Chest(3); ok {
		t.Fatal("reset left chest 3")
	}
}

func TestViewOwnLoot(t *testing.T) {
	var v View
	var got []uint64
	f := &schema.SnapshotFrame{Tick: 1, Chests: []schema.ChestState{chest(4, 77, 3), chest(5, 78, 8), chest(1<<31, 79, 3)}}
	v.Apply(f, 3, func(id uint64) { got = append(got, id) })
	f.Tick = 2 // the same chest state again must not count twice
	v.Apply(f, 3, func(id uint64) { got = append(got, id) })
	if len(got) != 2 || got[0] != 77 || got[1] != 79 || v.Stats.OwnOpenings != 2 {
		t.Fatalf("own loot %v, stats %+v", got, v.Stats)
	}
	// The chest respawned and this player opened it again: new loot id.
	f.Tick = 3
	f.Chests = []schema.ChestState{chest(4, 80, 3)}
	v.Apply(f, 3, func(id uint64) { got = append(got, id) })
	if len(got) != 3 || got[2] != 80 {
		t.Fatalf("respawned chest: %v", got)
	}
}

// A server naming ever new ids cannot grow the view past MaxViewEntities,
// and the view keeps following it: the newest snapshot's entities are in.
func TestViewOverflow(t *testing.T) {
	var v View
	f := &schema.SnapshotFrame{Chests: make([]schema.ChestState, 1000)}
	last := uint32(MaxViewEntities/1000 + 2)
	for tick := uint32(1); tick <= last; tick++ {
		f.Tick, f.BaselineTick = tick, 1
		for i := range f.Chests {
			f.Chests[i].ID = tick*1000 + uint32(i)
		}
		v.Apply(f, 0, nil)
	}
	if v.NumChests() != MaxViewEntities || v.Stats.Evicted == 0 {
		t.Fatalf("chests %d evicted %d", v.NumChests(), v.Stats.Evicted)
	}
	for i := range uint32(1000) {
		if _, ok := v.Chest(last*1000 + i); !ok {
			t.Fatalf("chest %d of the newest snapshot not in view", last*1000+i)
		}
	}
}

func TestViewApplyNoAlloc(t *testing.T) {
	var v View
	f := &schema.SnapshotFrame{Tick: 1, Chests: make([]schema.ChestState, 30), Players: make([]schema.PlayerState, 20), Gone: []uint32{3}}
	for i := range f.Chests {
		f.Chests[i].ID = uint32(i)
	}
	for i := range f.Players {
		f.Players[i].ID = uint32(i)
	}
	v.Apply(f, 1, nil)
	var l Loot
	n := testing.AllocsPerRun(100, func() {
		f.Tick++
		v.Apply(f, 1, l.Expect)
	})
	if n != 0 {
		t.Fatalf("Apply allocates %v per call", n)
	}
}

// The view equals a plain map model after any in-order sequence of
// snapshots: random upserts, departures and full snapshots over a small id
// space, so swaps and re-additions in the dense lists are exercised.
func TestViewMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var v View
	chests := map[uint32]schema.ChestState{}
	players := map[uint32]schema.PlayerState{}
	for tick := uint32(1); tick < 3000; tick++ {
		f := &schema.SnapshotFrame{Tick: tick, BaselineTick: tick - 1}
		if rng.IntN(50) == 0 {
			// Full snapshot: the model keeps only what it lists.
			f.BaselineTick = 0
			clear(chests)
			clear(players)
		}
		for range rng.IntN(6) {
			c := schema.ChestState{ID: uint32(rng.IntN(40)), LootID: rng.Uint64(), OpenedBy: schema.NoPlayer}
			f.Chests = append(f.Chests, c)
		}
		for range rng.IntN(4) {
			id := uint32(rng.IntN(30))
			if rng.IntN(2) == 0 {
				f.Gone = append(f.Gone, id)
			} else {
				f.Players = append(f.Players, schema.PlayerState{ID: id, Items: rng.Uint32()})
			}
		}
		for _, id := range f.Gone {
			delete(players, id)
		}
		for _, c := range f.Chests {
			chests[c.ID] = c
		}
		for _, p := range f.Players {
			players[p.ID] = p
		}
		v.Apply(f, 99, nil)
		if v.NumChests() != len(chests) || v.NumPlayers() != len(players) {
			t.Fatalf("tick %d: view %d chests %d players, model %d %d", tick, v.NumChests(), v.NumPlayers(), len(chests), len(players))
		}
		for id, c := range chests {
			if got, ok := v.Chest(id); !ok || got != c {
				t.Fatalf("tick %d: chest %d = %+v %v, want %+v", tick, id, got, ok, c)
			}
		}
		for id, p := range players {
			if got, ok := v.Player(id); !ok || got != p {
				t.Fatalf("tick %d: player %d = %+v %v, want %+v", tick, id, got, ok, p)
			}
		}
		for i := range v.NumChests() {
			if _, ok := chests[v.ChestAt(i).ID]; !ok {
				t.Fatalf("tick %d: stray chest %d", tick, v.ChestAt(i).ID)
			}
		}
	}
}

// A full snapshot with more set lists only a prefix of the interest area.
// The server sends the rest as deltas against whichever of its snapshots it
// has seen acknowledged, possibly an older partial full one, and never
// repeats what that one carried: a view that dropped everything a later
// partial full snapshot did not list lost it for good (issue: chests vanish
// after a partial full snapshot).
func TestViewPartialFullKeepsUnlisted(t *testing.T) {
	var v View
	ids := func(lo, hi uint32) []schema.ChestState {
		var cs []schema.ChestState
		for id := lo; id < hi; id++ {
			cs = append(cs, chest(id, 0, schema.NoPlayer))
		}
		return cs
	}
	v.Apply(&schema.SnapshotFrame{Tick: 1, Chests: ids(0, 3), More: true}, 9, nil)
	// The ack of tick 1 reaches the server after it built tick 2, another
	// full snapshot whose rotation starts past the first one's prefix.
	v.Apply(&schema.SnapshotFrame{Tick: 2, Chests: ids(3, 6), More: true}, 9, nil)
	// Tick 3 is a delta against tick 1: everything above tick 1's
	// watermark, i.e. all but chests 0..2.
	v.Apply(&schema.SnapshotFrame{Tick: 3, BaselineTick: 1, Chests: ids(3, 10)}, 9, nil)
	for id := range uint32(10) {
		if _, ok := v.Chest(id); !ok {
			t.Errorf("chest %d missing from the view", id)
		}
	}
	// A complete full snapshot is the whole interest area.
	v.Apply(&schema.SnapshotFrame{Tick: 4, Chests: ids(5, 7)}, 9, nil)
	if v.NumChests() != 2 {
		t.Fatalf("after a complete full snapshot: %d chests, want 2", v.NumChests())
	}
}

// A Gone removes a player; a snapshot older than the Gone that arrives
// after it must not bring the player back: the server sends the Gone until
// it is acknowledged and then never again (issue: a player that left comes
// back).
func TestViewLateSnapshotDoesNotResurrect(t *testing.T) {
	var v View
	v.Apply(&schema.SnapshotFrame{Tick: 10, Players: []schema.PlayerState{{ID: 7, Items: 1}}}, 3, nil)
	v.Apply(&schema.SnapshotFrame{Tick: 12, BaselineTick: 10, Gone: []uint32{7}}, 3, nil)
	// Tick 11 was held back by the network: 7 moved in it.
	v.Apply(&schema.SnapshotFrame{Tick: 11, BaselineTick: 10, Players: []schema.PlayerState{{ID: 7, Items: 2}},
		Chests: []schema.ChestState{chest(4, 0, schema.NoPlayer)}}, 3, nil)
	if p, ok := v.Player(7); ok {
		t.Fatalf("player 7 came back from a late snapshot: %+v", p)
	}
	if _, ok := v.Chest(4); ok {
		t.Fatal("a late snapshot wrote a chest")
	}
	// A late snapshot still reports an own opening (counted once).
	var got []uint64
	v.Apply(&schema.SnapshotFrame{Tick: 9, Chests: []schema.ChestState{chest(5, 55, 3)}}, 3, func(id uint64) { got = append(got, id) })
	if len(got) != 1 || got[0] != 55 || v.Stats.Stale != 2 {
		t.Fatalf("own openings from late snapshots %v, stale %d", got, v.Stats.Stale)
	}
}

// BenchmarkViewApply: one delta snapshot of a busy view (30 chests, 20
// players, a Gone) applied per op, every 8th arriving late.
//
//	go test -run=^$ -bench=ViewApply -benchmem ./client
func BenchmarkViewApply(b *testing.B) {
	var v View
	f := &schema.SnapshotFrame{Chests: make([]schema.ChestState, 30), Players: make([]schema.PlayerState, 20), Gone: []uint32{0}}
	tick := uint32(1)
	b.ReportAllocs()
	for b.Loop() {
		tick++
		f.Tick, f.BaselineTick = tick, tick-1
		if tick%8 == 0 {
			f.Tick = tick - 3
		}
		for i := range f.Chests {
			f.Chests[i] = schema.ChestState{ID: (tick + uint32(i)) % 64, LootID: uint64(tick), OpenedBy: uint32(i % 4)}
		}
		for i := range f.Players {
			f.Players[i] = schema.PlayerState{ID: (tick*3 + uint32(i)) % 48, Items: tick}
		}
		f.Gone[0] = tick % 48
		v.Apply(f, 1, nil)
	}
}

// BenchmarkViewApplyManyViews: what a load generator does, one snapshot for
// each of 10,000 views in turn, so that every view's state is cold in the
// cache as in a real run. Each view sees the same 8 chests and 6 players in
// the same order every tick, a delta naming 3 of the chests every other
// tick, as a server's interest area does between changes.
//
//	go test -run=^$ -bench=ViewApplyManyViews -benchmem ./client
func BenchmarkViewApplyManyViews(b *testing.B) {
	views := make([]View, 10_000)
	full := &schema.SnapshotFrame{Chests: make([]schema.ChestState, 8), Players: make([]schema.PlayerState, 6)}
	for i := range full.Chests {
		full.Chests[i] = schema.ChestState{ID: uint32(1000 + 7*i), OpenedBy: schema.NoPlayer}
	}
	for i := range full.Players {
		full.Players[i] = schema.PlayerState{ID: uint32(50 + 3*i)}
	}
	delta := &schema.SnapshotFrame{Chests: []schema.ChestState{full.Chests[1], full.Chests[4], full.Chests[6]}}
	for i := range views {
		full.Tick = 1
		views[i].Apply(full, 1, nil)
	}
	tick, k := uint32(1), 0
	b.ReportAllocs()
	for b.Loop() {
		if k == 0 {
			tick++
		}
		f := full
		if tick%2 == 0 {
			f = delta
			f.BaselineTick = tick - 1
		}
		f.Tick = tick
		views[k].Apply(f, 1, nil)
		k = (k + 1) % len(views)
	}
}

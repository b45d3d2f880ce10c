package engine

import (
	"testing"

	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// resumeWorld: one region small enough that every chest is in reach of
// every player, so a test can open and pick up without walking.
func resumeWorld(t *testing.T, grace uint32) *World {
	t.Helper()
	c := DefaultConfig()
	c.Regions, c.ZonesX, c.ZonesY, c.ZoneSize = 1, 2, 2, 1_000
	c.ChestsPerZone, c.MaxPlayers = 1, 8
	c.ReachMM = 3_000
	c.MaxPending = 16
	c.GraceTicks = grace
	w, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func act(player int32, gen, seq uint32, kind wire.ActionKind, target uint64) Record {
	r := Record{Kind: RecInput, Player: player, Gen: gen, N: 1}
	r.Actions[0] = schema.Action{Seq: seq, Kind: uint8(kind), Target: target}
	return r
}

// lootOf opens chest 0 for (player, gen) and picks its loot up, never
// acknowledging a snapshot: the player then holds items and is owed two
// loot events.
func lootOf(t *testing.T, w *World, player int32, gen uint32) {
	t.Helper()
	w.Step([]Record{act(player, gen, 1, wire.ActionKindOpenChest, 0)})
	id := w.chests[0].lootID
	if id == 0 {
		t.Fatal("chest 0 did not open")
	}
	w.Step([]Record{act(player, gen, 2, wire.ActionKindPickupLoot, id)})
	if p, _ := w.Player(player); p.Items == 0 || w.players[player].evQ.n != 2 {
		t.Fatalf("items %d, %d events queued: the pickup failed", p.Items, w.players[player].evQ.n)
	}
}

// TestResumeKeepsPlayer: a session ends (Leave) with items held and two
// loot events unacknowledged; a Join with the same key within the grace
// period, in the same slot or in another one, gets both back, the position
// too, and its next snapshot carries the events. Without a grace period
// (the behaviour before resumption) the same Join starts from nothing.
func TestResumeKeepsPlayer(t *testing.T) {
	for _, tc := range []struct {
		name  string
		grace uint32
		slot  int32
		keep  bool
	}{
		{"in place", 100, 0, true},
		{"other slot", 100, 5, true},
		{"no grace", 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := resumeWorld(t, tc.grace)
			w.Step([]Record{{Kind: RecJoin, Player: 0, Gen: 1, Key: 42}, {Kind: RecJoin, Player: 1, Gen: 1, Key: 43}})
			lootOf(t, w, 0, 1)
			before, _ := w.Player(0)
			w.Step([]Record{{Kind: RecLeave, Player: 0, Gen: 1}})
			if w.Active(0) || (tc.grace > 0) != (w.NumParked() == 1) {
				t.Fatalf("after Leave: active %v, parked %d", w.Active(0), w.NumParked())
			}
			w.Step(nil)
			w.Step([]Record{{Kind: RecJoin, Player: tc.slot, Gen: 2, Key: 42}})
			after, ok := w.Player(tc.slot)
			if !ok {
				t.Fatal("the Join did not activate its slot")
			}
			kept := after.Items == before.Items && after.Pos == before.Pos && w.players[tc.slot].evQ.n == 2
			if kept != tc.keep {
				t.Fatalf("items %d -> %d, pos %v -> %v, %d events queued; want kept=%v",
					before.Items, after.Items, before.Pos, after.Pos, w.players[tc.slot].evQ.n, tc.keep)
			}
			if tc.slot != 0 && w.players[0].parked {
				t.Fatal("the moved player's old slot is still parked")
			}
			if w.NumParked() != 0 {
				t.Fatalf("%d parked after the resume", w.NumParked())
			}
			if !tc.keep {
				return
			}
			sc := NewScratch()
			if n := countLoot(t, w.Snapshot(tc.slot, sc)); n != 2 {
				t.Fatalf("first snapshot after the resume carries %d loot events, want 2", n)
			}
			if w.fullHash() != w.Hash() {
				t.Fatal("incremental hash differs from a full recomputation")
			}
		})
	}
}

func countLoot(t *testing.T, b []byte) int {
	t.Helper()
	var d schema.Decoder
	f := schema.NewSnapshotFrame()
	if _, err := d.Decode(b); err != nil || !d.SnapshotInto(f) {
		t.Fatalf("snapshot does not decode: %v", err)
	}
	return len(f.Events)
}

// TestParkedExpiresAndEvicts: a parked player is freed at the end of its
// grace period (a later Join with its key starts afresh), and at once when
// netio gives its slot to another key.
func TestParkedExpiresAndEvicts(t *testing.T) {
	w := resumeWorld(t, 10)
	w.Step([]Record{{Kind: RecJoin, Player: 0, Gen: 1, Key: 42}})
	lootOf(t, w, 0, 1)
	w.Step([]Record{{Kind: RecLeave, Player: 0, Gen: 1}})
	left := w.Tick()
	for w.Tick() < left+9 {
		w.Step(nil)
	}
	if w.NumParked() != 1 || w.q.nodesUsed != 2 {
		t.Fatalf("tick %d: %d parked, %d nodes: freed before the grace ended", w.Tick(), w.NumParked(), w.q.nodesUsed)
	}
	w.Step(nil)
	if w.NumParked() != 0 || w.q.nodesUsed != 0 || w.Stats().ParkedExpired != 1 {
		t.Fatalf("tick %d: %d parked, %d nodes: not freed at the end of the grace", w.Tick(), w.NumParked(), w.q.nodesUsed)
	}
	w.Step([]Record{{Kind: RecJoin, Player: 0, Gen: 2, Key: 42}})
	if p, _ := w.Player(0); p.Items != 0 {
		t.Fatalf("a Join after the grace kept %d items", p.Items)
	}

	w.Step([]Record{{Kind: RecLeave, Player: 0, Gen: 2}})
	w.Step([]Record{{Kind: RecJoin, Player: 0, Gen: 3, Key: 99}})
	if w.NumParked() != 0 || w.Stats().ParkedEvicted != 1 || w.players[0].key != 99 {
		t.Fatalf("parked %d, evicted %d: another key's Join did not evict", w.NumParked(), w.Stats().ParkedEvicted)
	}
	if w.fullHash() != w.Hash() {
		t.Fatal("incremental hash differs from a full recomputation")
	}
}

// TestResumeKeepsActionWindow: a player's actions 1 and 2 were applied but
// the session broke before the client saw them acknowledged; the client
// reconnects (in place or in another slot) and repeats them. They are
// duplicates, not new actions, and the resumed session's first snapshot
// reports last_action_seq 2, so the client numbers on from there.
func TestResumeKeepsActionWindow(t *testing.T) {
	for _, slot := range []int32{0, 5} {
		w := resumeWorld(t, 100)
		w.Step([]Record{{Kind: RecJoin, Player: 0, Gen: 1, Key: 42}})
		lootOf(t, w, 0, 1)
		w.Step([]Record{{Kind: RecLeave, Player: 0, Gen: 1}})
		w.Step([]Record{{Kind: RecJoin, Player: slot, Gen: 2, Key: 42}})
		applied, dups := w.stats.ActionsApplied, w.stats.ActionsDuplicate
		w.Step([]Record{act(slot, 2, 1, wire.ActionKindOpenChest, 0), act(slot, 2, 2, wire.ActionKindMove, 0)})
		if w.stats.ActionsApplied != applied || w.stats.ActionsDuplicate != dups+2 {
			t.Fatalf("slot %d: repeated seqs 1 and 2 after the resume: %d applied, %d duplicates; want 0 and 2",
				slot, w.stats.ActionsApplied-applied, w.stats.ActionsDuplicate-dups)
		}
		var d schema.Decoder
		f := schema.NewSnapshotFrame()
		if _, err := d.Decode(w.Snapshot(slot, NewScratch())); err != nil || !d.SnapshotInto(f) {
			t.Fatalf("snapshot does not decode: %v", err)
		}
		if f.LastActionSeq != 2 {
			t.Fatalf("slot %d: last_action_seq %d after the resume, want 2", slot, f.LastActionSeq)
		}
	}
}

// TestResumeMovesOpenings: opened_by names the user's slot. A player who
// opened a chest and is resumed in another slot (a reconnect that reached
// another network loop) still reads the chest as its own opening there;
// the chest opened by the new slot's earlier player is forgotten as before.
func TestResumeMovesOpenings(t *testing.T) {
	w := resumeWorld(t, 100)
	w.Step([]Record{{Kind: RecJoin, Player: 0, Gen: 1, Key: 42}, {Kind: RecJoin, Player: 5, Gen: 1, Key: 43}})
	w.Step([]Record{act(0, 1, 1, wire.ActionKindOpenChest, 0), act(5, 1, 1, wire.ActionKindOpenChest, 1)})
	if c0, _ := w.Chest(0); c0.OpenedBy != 0 {
		t.Fatalf("chest 0 opened by %d, want 0", c0.OpenedBy)
	}
	w.Step([]Record{{Kind: RecLeave, Player: 0, Gen: 1}, {Kind: RecLeave, Player: 5, Gen: 1}})
	// Key 43's grace is cut short by its slot going to key 42's resume.
	w.Step([]Record{{Kind: RecJoin, Player: 5, Gen: 2, Key: 42}})
	if c0, _ := w.Chest(0); c0.OpenedBy != 5 || c0.ChangedTick != w.Tick() {
		t.Fatalf("chest 0 after its opener moved to slot 5: %+v (tick %d)", c0, w.Tick())
	}
	if c1, _ := w.Chest(1); c1.OpenedBy != schema.NoPlayer {
		t.Fatalf("chest 1, opened by slot 5's earlier player: %+v", c1)
	}
	if s := w.Stats(); s.OpenersMoved != 1 || s.OpenersForgotten != 1 {
		t.Fatalf("openers moved %d, forgotten %d; want 1 and 1", s.OpenersMoved, s.OpenersForgotten)
	}
	if w.fullHash() != w.Hash() {
		t.Fatal("incremental hash differs from a full recomputation")
	}
}

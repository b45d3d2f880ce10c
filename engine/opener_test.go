package engine

import (
	"bytes"
	"testing"

	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// walkAndOpen moves player i (generation gen) to chest c and opens it,
// stepping the world; it fails the test if the chest is not opened by i.
func walkAndOpen(t *testing.T, w *World, i int32, gen uint32, c int32, seq *uint32) {
	t.Helper()
	for range 1000 {
		*seq++
		r := Record{Kind: RecInput, Player: i, Gen: gen, N: 1}
		r.Actions[0] = schema.Action{Seq: *seq, Kind: uint8(wire.ActionKindMove), Pos: w.chests[c].pos}
		if w.reachable(i, c) {
			r.Actions[0] = schema.Action{Seq: *seq, Kind: uint8(wire.ActionKindOpenChest), Target: uint64(c)}
		}
		w.Step([]Record{r})
		if cs, _ := w.Chest(uint32(c)); cs.Status == uint8(wire.ChestStatusOpened) {
			if cs.OpenedBy != uint32(i) {
				t.Fatalf("chest %d opened by %d, want %d", c, cs.OpenedBy, i)
			}
			return
		}
	}
	t.Fatalf("player %d never opened chest %d", i, c)
}

// opened_by names a player slot, and a slot is reused by the next session
// (last freed, first reused). A chest opened by a slot's earlier player must
// not name the slot once a new player has it, or the new player reads the
// opening as its own: its game shows "you opened this" and its loot
// accounting waits for a LootGenerated that was never its own (issue: a new
// session inherits a stranger's chests).
func TestOpenerForgottenWhenSlotChangesHands(t *testing.T) {
	w, err := New(tinyCheckpointConfig())
	if err != nil {
		t.Fatal(err)
	}
	w.Step([]Record{{Kind: RecJoin, Player: 0, Gen: 1, Key: 1}, {Kind: RecJoin, Player: 1, Gen: 1, Key: 2}})
	var seq0, seq1 uint32
	walkAndOpen(t, w, 0, 1, 0, &seq0)
	walkAndOpen(t, w, 1, 1, 1, &seq1)

	// Slot 0's session ends and a new one takes the slot in the same tick.
	w.Step([]Record{{Kind: RecLeave, Player: 0, Gen: 1}, {Kind: RecJoin, Player: 0, Gen: 2, Key: 3}})
	c0, _ := w.Chest(0)
	if c0.OpenedBy != schema.NoPlayer || c0.Status != uint8(wire.ChestStatusOpened) || c0.ChangedTick != w.Tick() {
		t.Fatalf("chest 0 after its slot changed hands: %+v (tick %d)", c0, w.Tick())
	}
	if c1, _ := w.Chest(1); c1.OpenedBy != 1 {
		t.Fatalf("chest 1 lost its opener, who is still here: %+v", c1)
	}
	// The new session's own openings are its own.
	seq0 = 0
	walkAndOpen(t, w, 0, 2, 2, &seq0)
	// Slot 1's session ends; while nobody has the slot nobody can read
	// the opening as its own, and the next player of the slot does not.
	w.Step([]Record{{Kind: RecLeave, Player: 1, Gen: 1}})
	w.Step(nil)
	w.Step([]Record{{Kind: RecJoin, Player: 1, Gen: 2, Key: 4}})
	if c1, _ := w.Chest(1); c1.OpenedBy != schema.NoPlayer {
		t.Fatalf("chest 1 after its slot changed hands: %+v", c1)
	}
	if c2, _ := w.Chest(2); c2.OpenedBy != 0 {
		t.Fatalf("chest 2 opened by the new session: %+v", c2)
	}
	if w.Stats().OpenersForgotten != 2 {
		t.Fatalf("OpenersForgotten %d, want 2", w.Stats().OpenersForgotten)
	}
	// The state is a valid checkpoint (an opened chest with no opener).
	img := w.AppendCheckpoint(nil)
	if _, err := LoadCheckpoint(bytes.NewReader(img)); err != nil {
		t.Fatalf("checkpoint with forgotten openers: %v", err)
	}
}

// BenchmarkForgetOpeners: the pass a tick with a new occupant adds, over the
// opened chests of the warmed 10,000-player world (no opener left, so
// every entry is read and none written: the pass at its dearest per entry).
//
//	go test -run=^$ -bench=ForgetOpeners -benchmem ./engine
func BenchmarkForgetOpeners(b *testing.B) {
	bw := getBenchWorld(b, 10_000)
	w := bw.w
	b.ReportAllocs()
	for b.Loop() {
		w.forgetOpeners()
	}
	b.ReportMetric(float64(w.respawnQ.n), "opened-chests")
}

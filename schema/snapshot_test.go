package schema

import (
	"testing"

	"github.com/treasured/treasured/schema/wire"
)

func TestSnapshotSizeBound(t *testing.T) {
	e := NewEncoder()
	f := &SnapshotFrame{Tick: 7, StateHash: 1 << 60, More: true}
	for nc := 0; nc <= 28; nc += 3 {
		for np := 0; np <= 20; np += 4 {
			for ng := 0; ng <= 9; ng += 3 {
				for ne := 0; ne <= 10; ne += 5 {
					f.Chests = make([]ChestState, nc)
					f.Players = make([]PlayerState, np)
					f.Gone = make([]uint32, ng)
					f.Events = make([]LootEvent, ne)
					got := len(e.Snapshot(f))
					bound := SnapshotSize(nc, np, ng, ne)
					if got > bound {
						t.Fatalf("chests=%d players=%d gone=%d events=%d: encoded %d > bound %d", nc, np, ng, ne, got, bound)
					}
					if bound-got > 64 {
						t.Fatalf("chests=%d players=%d gone=%d events=%d: bound %d is %d bytes loose", nc, np, ng, ne, bound, bound-got)
					}
				}
			}
		}
	}
}

func TestSnapshotRoundTripBasic(t *testing.T) {
	e := NewEncoder()
	f := &SnapshotFrame{
		Tick: 42, BaselineTick: 40, LastActionSeq: 9, StateHash: 0xdeadbeefcafef00d,
		You:    PlayerState{ID: 3, Pos: Vec2{-5, 6}, Zone: 2, Items: 4, ChangedTick: 41},
		Chests: []ChestState{{ID: 1, Status: 1, Generation: 2, LootID: 77, OpenedBy: 3, Pos: Vec2{1, 2}, ChangedTick: 42}},
		Gone:   []uint32{5, 6},
		Events: []LootEvent{{LootID: 77, Kind: 0, Item: 3, Qty: 2, Chest: 1, Player: 3, Tick: 42, Pos: Vec2{1, 2}}},
	}
	buf := e.Snapshot(f)
	if string(buf[4:8]) != Identifier {
		t.Fatalf("identifier %q", buf[4:8])
	}
	m := wire.GetRootAsMessage(buf, 0)
	if m.BodyType() != wire.BodySnapshot {
		t.Fatalf("body %v", m.BodyType())
	}
	var tab = new(wire.Snapshot)
	var u = tabOf(m)
	tab.Init(u.Bytes, u.Pos)
	if tab.Tick() != 42 || tab.StateHash() != 0xdeadbeefcafef00d || tab.ChestsLength() != 1 || tab.GoneLength() != 2 || tab.Gone(1) != 6 {
		t.Fatalf("bad decode")
	}
	var ev wire.LootEvent
	tab.Events(&ev, 0)
	if ev.LootId() != 77 || ev.Qty() != 2 {
		t.Fatalf("event %d %d", ev.LootId(), ev.Qty())
	}
}

func TestSnapshotEncodeNoAlloc(t *testing.T) {
	e := NewEncoder()
	f := &SnapshotFrame{Chests: make([]ChestState, 20), Players: make([]PlayerState, 5), Events: make([]LootEvent, 3)}
	e.Snapshot(f)
	if n := testing.AllocsPerRun(100, func() { e.Snapshot(f) }); n != 0 {
		t.Fatalf("Snapshot allocates %v per call", n)
	}
}

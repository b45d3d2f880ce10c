package schema

import (
	"bytes"
	"math/rand/v2"
	"testing"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/treasured/treasured/schema/wire"
)

// builderSnapshot is the reference Snapshot encoder: flatbuffers.Builder
// and flatc's generated CreateX for every element, with the table fields
// added in the order Encoder.Snapshot mirrors. Encoder.Snapshot must write
// exactly its bytes.
func builderSnapshot(b *flatbuffers.Builder, f *SnapshotFrame) []byte {
	b.Reset()
	var chests, players, gone, events flatbuffers.UOffsetT
	if n := len(f.Chests); n > 0 {
		wire.SnapshotStartChestsVector(b, n)
		for i := n - 1; i >= 0; i-- {
			c := &f.Chests[i]
			wire.CreateChestState(b, c.ID, wire.ChestStatus(c.Status), c.Generation, c.LootID, c.OpenedBy, c.Pos.X, c.Pos.Y, c.ChangedTick)
		}
		chests = b.EndVector(n)
	}
	if n := len(f.Players); n > 0 {
		wire.SnapshotStartPlayersVector(b, n)
		for i := n - 1; i >= 0; i-- {
			p := &f.Players[i]
			wire.CreatePlayerState(b, p.ID, p.Pos.X, p.Pos.Y, p.Zone, p.Items, p.ChangedTick)
		}
		players = b.EndVector(n)
	}
	if n := len(f.Gone); n > 0 {
		wire.SnapshotStartGoneVector(b, n)
		for i := n - 1; i >= 0; i-- {
			b.PrependUint32(f.Gone[i])
		}
		gone = b.EndVector(n)
	}
	if n := len(f.Events); n > 0 {
		wire.SnapshotStartEventsVector(b, n)
		for i := n - 1; i >= 0; i-- {
			ev := &f.Events[i]
			wire.CreateLootEvent(b, ev.LootID, wire.LootEventKind(ev.Kind), ev.Item, ev.Qty, ev.Chest, ev.Player, ev.Tick, ev.Pos.X, ev.Pos.Y)
		}
		events = b.EndVector(n)
	}
	wire.SnapshotStart(b)
	wire.SnapshotAddStateHash(b, f.StateHash)
	wire.SnapshotAddTick(b, f.Tick)
	wire.SnapshotAddBaselineTick(b, f.BaselineTick)
	wire.SnapshotAddLastActionSeq(b, f.LastActionSeq)
	y := &f.You
	wire.SnapshotAddYou(b, wire.CreatePlayerState(b, y.ID, y.Pos.X, y.Pos.Y, y.Zone, y.Items, y.ChangedTick))
	if chests != 0 {
		wire.SnapshotAddChests(b, chests)
	}
	if players != 0 {
		wire.SnapshotAddPlayers(b, players)
	}
	if gone != 0 {
		wire.SnapshotAddGone(b, gone)
	}
	if events != 0 {
		wire.SnapshotAddEvents(b, events)
	}
	if f.More {
		wire.SnapshotAddMore(b, true)
	}
	body := wire.SnapshotEnd(b)
	wire.MessageStart(b)
	wire.MessageAddBody(b, body)
	wire.MessageAddBodyType(b, wire.BodySnapshot)
	b.FinishWithFileIdentifier(wire.MessageEnd(b), identifierBytes[:])
	return b.FinishedBytes()
}

func randChest(r *rand.Rand) ChestState {
	return ChestState{ID: r.Uint32(), Status: uint8(r.Uint32()), Generation: r.Uint32(), LootID: randU64(r),
		OpenedBy: r.Uint32(), Pos: randVec(r), ChangedTick: r.Uint32()}
}

func randEvent(r *rand.Rand) LootEvent {
	return LootEvent{LootID: randU64(r), Kind: uint8(r.Uint32()), Item: uint16(r.Uint32()), Qty: uint16(r.Uint32()),
		Chest: r.Uint32(), Player: r.Uint32(), Tick: r.Uint32(), Pos: randVec(r)}
}

// TestSnapshotMatchesBuilder: Encoder.Snapshot writes exactly the bytes of
// the builder-based reference, for every combination of small vector
// lengths (all alignments and paddings), of default and non-default scalar
// fields (which change the table and vtable) and More, for random frames,
// and for frames larger than a datagram. One Encoder is reused throughout,
// so no byte may be inherited from an earlier, larger snapshot.
func TestSnapshotMatchesBuilder(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 14))
	e := NewEncoder()
	b := flatbuffers.NewBuilder(0)
	check := func(f *SnapshotFrame) {
		t.Helper()
		want := builderSnapshot(b, f)
		if got := e.Snapshot(f); !bytes.Equal(got, want) {
			t.Fatalf("chests=%d players=%d gone=%d events=%d hash=%#x tick=%d base=%d seq=%d more=%v:\n got % x\nwant % x",
				len(f.Chests), len(f.Players), len(f.Gone), len(f.Events), f.StateHash, f.Tick, f.BaselineTick, f.LastActionSeq, f.More, got, want)
		}
	}
	f := &SnapshotFrame{}
	for nc := range 6 {
		for np := range 6 {
			for ng := range 5 {
				for ne := range 4 {
					f.Chests, f.Players, f.Gone, f.Events = f.Chests[:0], f.Players[:0], f.Gone[:0], f.Events[:0]
					for range nc {
						f.Chests = append(f.Chests, randChest(r))
					}
					for range np {
						f.Players = append(f.Players, randPlayer(r))
					}
					for range ng {
						f.Gone = append(f.Gone, r.Uint32())
					}
					for range ne {
						f.Events = append(f.Events, randEvent(r))
					}
					for mask := range 32 {
						pick := func(bit int, v uint32) uint32 {
							if mask&(1<<bit) == 0 {
								return 0
							}
							return v | 1
						}
						f.Tick, f.BaselineTick, f.LastActionSeq = pick(0, r.Uint32()), pick(1, r.Uint32()), pick(2, r.Uint32())
						f.StateHash = uint64(pick(3, r.Uint32())) << 32
						f.More = mask&16 != 0
						f.You = randPlayer(r)
						check(f)
					}
				}
			}
		}
	}
	for range 3000 {
		check(randFrame(r, wire.BodySnapshot).(*SnapshotFrame))
	}
	check(fullSnapshot())
	// Larger than a datagram: the encoder grows its buffer, the bytes stay
	// the builder's.
	big := &SnapshotFrame{Tick: 9, StateHash: 1}
	for range 100 {
		big.Chests = append(big.Chests, randChest(r))
		big.Players = append(big.Players, randPlayer(r))
		big.Gone = append(big.Gone, r.Uint32())
		big.Events = append(big.Events, randEvent(r))
	}
	check(big)
	check(fullSnapshot())
}

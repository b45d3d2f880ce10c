package schema

import (
	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/treasured/treasured/schema/wire"
)

// snapshotFixed bounds everything of an encoded Snapshot that does not grow
// with its vectors: root offset and identifier (8), Message table and vtable
// with the union (~24), Snapshot vtable (4+2*10), Snapshot table inline fields
// (soffset, 3 uint32, uint64, PlayerState struct, 4 vector offsets, bool) and
// worst-case alignment padding. It is deliberately generous; a test checks that
// the real size never exceeds SnapshotSize and is close to it.
const snapshotFixed = 8 + 24 + 24 + (4 + 12 + 8 + SizePlayerState + 1) + 24

// SnapshotSize is an upper bound on the encoded size of a Snapshot with the
// given vector lengths. The engine packs changes into a snapshot while this
// stays <= MaxDatagram, so a snapshot never has to be cut after encoding.
func SnapshotSize(chests, players, gone, events int) int {
	// Each non-empty vector: a 4-byte length plus up to 7 bytes of alignment
	// padding and its 4-byte offset slot in the table.
	n := snapshotFixed
	for _, l := range [4]int{chests, players, gone, events} {
		if l > 0 {
			n += 4 + 7 + 4
		}
	}
	return n +
		chests*SizeChestState +
		players*SizePlayerState +
		gone*4 +
		events*SizeLootEvent
}

// Snapshot encodes f. The caller keeps SnapshotSize(len(...)) <= MaxDatagram.
func (e *Encoder) Snapshot(f *SnapshotFrame) []byte {
	b := e.b
	b.Reset()

	// Vectors are written back to front: FlatBuffers builds from the end.
	// Elements are placed without per-field Prep (see place.go).
	var chests, players, gone, events flatbuffers.UOffsetT
	if n := len(f.Chests); n > 0 {
		wire.SnapshotStartChestsVector(b, n)
		for i := n - 1; i >= 0; i-- {
			placeChestState(b, &f.Chests[i])
		}
		chests = b.EndVector(n)
	}
	if n := len(f.Players); n > 0 {
		wire.SnapshotStartPlayersVector(b, n)
		for i := n - 1; i >= 0; i-- {
			placePlayerState(b, &f.Players[i])
		}
		players = b.EndVector(n)
	}
	if n := len(f.Gone); n > 0 {
		wire.SnapshotStartGoneVector(b, n)
		for i := n - 1; i >= 0; i-- {
			b.PlaceUint32(f.Gone[i])
		}
		gone = b.EndVector(n)
	}
	if n := len(f.Events); n > 0 {
		wire.SnapshotStartEventsVector(b, n)
		for i := n - 1; i >= 0; i-- {
			placeLootEvent(b, &f.Events[i])
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
	return e.finish(wire.BodySnapshot, wire.SnapshotEnd(b))
}

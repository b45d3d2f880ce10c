package schema

import (
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

// Snapshot encodes f. The caller keeps SnapshotSize(len(...)) <= MaxDatagram
// (a larger frame is still encoded, after growing the buffer once). The
// bytes alias the Encoder's own snapshot buffer, not its builder.
//
// The fan-out encodes one Snapshot per player per tick, so this is the
// encoder's hot path and does not go through flatbuffers.Builder: with the
// builder, every field of every vector element was a Place call (bounds
// check, head update) and every table field a Prep and a Slot, which cost
// more than building the snapshot itself. Instead it writes the bytes the
// builder would write, in the builder's order, into its own buffer with a
// minimal back-to-front writer (back, below): each vector is reserved with
// one alignment step and filled front to back by the put* functions, and the
// two tables are written field by field with the builder's alignment rules.
// The result is byte for byte what the builder-based encoder wrote
// (TestSnapshotMatchesBuilder keeps that encoder as the reference), so the
// verifier and every reader see the same datagrams as before.
func (e *Encoder) Snapshot(f *SnapshotFrame) []byte {
	nc, np, ng, ne := len(f.Chests), len(f.Players), len(f.Gone), len(f.Events)
	if need := SnapshotSize(nc, np, ng, ne) + backSlack; need > len(e.snap) {
		e.snap = make([]byte, need)
	}
	w := back{b: e.snap, h: len(e.snap), minalign: 1}

	// Vectors first, in the builder-based encoder's order (written back
	// to front, so chests end up last in the datagram), each followed by
	// its length. Their positions (offsets from the end) are what the
	// table's slots refer to.
	var chests, players, gone, events int
	if nc > 0 {
		p := w.vector(nc, SizeChestState, 8)
		for i := range f.Chests {
			putChestState(p[i*SizeChestState:], &f.Chests[i])
		}
		chests = w.endVector(nc)
	}
	if np > 0 {
		p := w.vector(np, SizePlayerState, 4)
		for i := range f.Players {
			putPlayerState(p[i*SizePlayerState:], &f.Players[i])
		}
		players = w.endVector(np)
	}
	if ng > 0 {
		p := w.vector(ng, 4, 4)
		for i, id := range f.Gone {
			le.PutUint32(p[i*4:], id)
		}
		gone = w.endVector(ng)
	}
	if ne > 0 {
		p := w.vector(ne, SizeLootEvent, 8)
		for i := range f.Events {
			putLootEvent(p[i*SizeLootEvent:], &f.Events[i])
		}
		events = w.endVector(ne)
	}

	// The Snapshot table: inline fields largest first (the order of the
	// builder-based encoder, which fixes the padding), a field equal to
	// its default omitted, as the builder omits it. slots[i] is the
	// position of field i, 0 when absent: the vtable is made from it.
	var slots [10]int
	end := w.off()
	if f.StateHash != 0 {
		w.prep(8, 0)
		w.u64(f.StateHash)
		slots[3] = w.off()
	}
	if f.Tick != 0 {
		w.prep(4, 0)
		w.u32(f.Tick)
		slots[0] = w.off()
	}
	if f.BaselineTick != 0 {
		w.prep(4, 0)
		w.u32(f.BaselineTick)
		slots[1] = w.off()
	}
	if f.LastActionSeq != 0 {
		w.prep(4, 0)
		w.u32(f.LastActionSeq)
		slots[2] = w.off()
	}
	w.prep(4, SizePlayerState) // a struct field is inline and always present
	putPlayerState(w.take(SizePlayerState), &f.You)
	slots[4] = w.off()
	for i, v := range [4]int{chests, players, gone, events} {
		if v != 0 {
			w.uoffset(v)
			slots[5+i] = w.off()
		}
	}
	if f.More {
		w.prep(1, 0)
		w.u8(1)
		slots[9] = w.off()
	}
	snap := w.endTable(slots[:], end)

	// The Message root: body (offset), then body_type, as finish writes
	// them.
	end = w.off()
	w.uoffset(snap)
	bodySlot := w.off()
	w.prep(1, 0)
	w.u8(uint8(wire.BodySnapshot))
	msg := w.endTable(append(slots[:0], w.off(), bodySlot), end)

	// FinishWithFileIdentifier: identifier, then the root offset, the
	// start aligned to the largest alignment used.
	w.prep(w.minalign, 4+len(identifierBytes))
	w.h -= len(identifierBytes)
	copy(w.b[w.h:], identifierBytes[:])
	w.prep(w.minalign, 4)
	w.uoffset(msg)
	return w.b[w.h:]
}

// back writes a FlatBuffer back to front into b, as flatbuffers.Builder
// does, with the builder's alignment rules but without its bookkeeping
// (nesting checks, growth, vtable sharing: a Snapshot's two tables never
// share a vtable). Positions are offsets from the end of b, like the
// builder's UOffsetT. The caller sizes b; every byte of b[h:] is written,
// padding as zeros.
type back struct {
	b        []byte
	h        int // b[h:] is written
	minalign int // largest alignment asked for (Builder.minalign)
}

// off is the position of the head (Builder.Offset).
func (w *back) off() int { return len(w.b) - w.h }

// backSlack is how many bytes b holds beyond the message, so that prep can
// zero its padding (at most 7 bytes) with one 8-byte store below the head.
const backSlack = 8

// prep zero-pads so that after extra more bytes the head is aligned to
// align, a power of two (Builder.Prep). It zeroes 8 bytes below the head,
// more than the padding: the rest is overwritten by the writes that follow,
// or lies below the message.
func (w *back) prep(align, extra int) {
	w.minalign = max(w.minalign, align)
	le.PutUint64(w.b[w.h-8:], 0)
	w.h -= -(w.off() + extra) & (align - 1)
}

// take reserves the next n bytes below the head and returns them.
func (w *back) take(n int) []byte {
	w.h -= n
	return w.b[w.h : w.h+n]
}

func (w *back) u8(x uint8)   { w.h--; w.b[w.h] = x }
func (w *back) u16(x uint16) { w.h -= 2; le.PutUint16(w.b[w.h:], x) }
func (w *back) u32(x uint32) { w.h -= 4; le.PutUint32(w.b[w.h:], x) }
func (w *back) u64(x uint64) { w.h -= 8; le.PutUint64(w.b[w.h:], x) }

// uoffset writes a reference to position to (Builder.PrependUOffsetT).
func (w *back) uoffset(to int) {
	w.prep(4, 0)
	w.u32(uint32(w.off() + 4 - to))
}

// vector reserves the elements of a vector of n elements of size bytes
// aligned to align, and returns them for the caller to fill front to back
// (Builder.StartVector and the elements' Place calls).
func (w *back) vector(n, size, align int) []byte {
	w.prep(4, n*size)
	w.prep(align, n*size)
	return w.take(n * size)
}

// endVector writes the vector's length and returns its position
// (Builder.EndVector).
func (w *back) endVector(n int) int {
	w.u32(uint32(n))
	return w.off()
}

// endTable writes the table's vtable below its fields and returns the
// table's position (Builder.WriteVtable, always a new vtable). slots[i] is
// the position of field i, 0 when absent; end is the position the table's
// fields started at.
func (w *back) endTable(slots []int, end int) int {
	w.prep(4, 0)
	w.u32(0) // soffset to the vtable, set below
	obj := w.off()
	n := len(slots)
	for n > 0 && slots[n-1] == 0 {
		n-- // trailing absent fields are left out of the vtable
	}
	// The builder preps 2 bytes before each 2-byte entry; that never pads
	// here (the head is 4-aligned after the soffset), so it is left out.
	for i := n - 1; i >= 0; i-- {
		var v uint16
		if slots[i] != 0 {
			v = uint16(obj - slots[i])
		}
		w.u16(v)
	}
	w.u16(uint16(obj - end))   // table size
	w.u16(uint16((n + 2) * 2)) // vtable size
	le.PutUint32(w.b[len(w.b)-obj:], uint32(w.off()-obj))
	return obj
}

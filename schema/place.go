package schema

import (
	"encoding/binary"

	flatbuffers "github.com/google/flatbuffers/go"
)

// placeAction writes an Action (24 bytes): seq@0 kind@4 target@8 pos@16.
//
// It uses Builder.Place*, not the CreateAction flatc generates: the caller's
// StartVector has already reserved room for all elements and aligned the
// end of the vector (Builder.StartVector preps elemSize*numElems bytes at the
// element alignment, and every element size is a multiple of its alignment),
// so the Prep that CreateAction repeats for every field only re-checks what
// holds. The bytes are those CreateAction writes, back to front, padding
// zeroed: adjacent small fields and their padding are placed as one
// little-endian word whose low bytes are the fields.
func placeAction(b *flatbuffers.Builder, a *Action) {
	b.PlaceInt32(a.Pos.Y)
	b.PlaceInt32(a.Pos.X)
	b.PlaceUint64(a.Target)
	b.PlaceUint32(uint32(a.Kind)) // kind, 3 bytes padding
	b.PlaceUint32(a.Seq)
}

// The put* functions write one element of a Snapshot vector into p (exactly
// the struct's size, at its place in the vector): Encoder.Snapshot reserves a
// whole vector at once and fills it front to back with these, one store per
// 4- or 8-byte word, with no builder call per field. Padding bytes are
// written as zeros (the buffer is reused, so nothing may be inherited).
// Pairs of 4-byte fields are stored as one little-endian 8-byte word whose
// low half is the first field. The bytes are those flatc's CreateX writes;
// TestPlaceMatchesCreate compares both byte for byte, padding included.

var le = binary.LittleEndian

// putPlayerState writes a PlayerState (24 bytes): id@0 pos@4 zone@12
// items@16 changed_tick@20.
func putPlayerState(p []byte, s *PlayerState) {
	p = p[:SizePlayerState]
	le.PutUint64(p[0:], uint64(s.ID)|uint64(uint32(s.Pos.X))<<32)
	le.PutUint64(p[8:], uint64(uint32(s.Pos.Y))|uint64(s.Zone)<<32)
	le.PutUint64(p[16:], uint64(s.Items)|uint64(s.ChangedTick)<<32)
}

// putChestState writes a ChestState (40 bytes): id@0 status@4 (3 bytes
// padding) generation@8 (4 bytes padding) loot_id@16 opened_by@24 pos@28
// changed_tick@36.
func putChestState(p []byte, c *ChestState) {
	p = p[:SizeChestState]
	le.PutUint64(p[0:], uint64(c.ID)|uint64(c.Status)<<32)
	le.PutUint64(p[8:], uint64(c.Generation))
	le.PutUint64(p[16:], c.LootID)
	le.PutUint64(p[24:], uint64(c.OpenedBy)|uint64(uint32(c.Pos.X))<<32)
	le.PutUint64(p[32:], uint64(uint32(c.Pos.Y))|uint64(c.ChangedTick)<<32)
}

// putLootEvent writes a LootEvent (40 bytes): loot_id@0 kind@8 (1 byte
// padding) item@10 qty@12 (2 bytes padding) chest@16 player@20 tick@24
// pos@28, 4 bytes of tail padding to the 8-byte struct alignment.
func putLootEvent(p []byte, ev *LootEvent) {
	p = p[:SizeLootEvent]
	le.PutUint64(p[0:], ev.LootID)
	le.PutUint64(p[8:], uint64(ev.Kind)|uint64(ev.Item)<<16|uint64(ev.Qty)<<32)
	le.PutUint64(p[16:], uint64(ev.Chest)|uint64(ev.Player)<<32)
	le.PutUint64(p[24:], uint64(ev.Tick)|uint64(uint32(ev.Pos.X))<<32)
	le.PutUint64(p[32:], uint64(uint32(ev.Pos.Y)))
}

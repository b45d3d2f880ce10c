package schema

import (
	flatbuffers "github.com/google/flatbuffers/go"
)

// Vector elements are written with Builder.Place*, not with the CreateX
// functions flatc generates. StartVector has already reserved room for all
// elements and aligned the end of the vector (Builder.StartVector preps
// elemSize*numElems bytes at the element alignment, and every element size
// is a multiple of its alignment), so the Prep that CreateX repeats for
// every field of every element only re-checks what holds; it was the largest
// cost of encoding a snapshot. The bytes are those CreateX writes, back to
// front, padding zeroed: adjacent small fields and their padding are placed
// as one little-endian word whose low bytes are the fields.
// TestPlaceMatchesCreate compares both byte for byte.

// placeAction writes an Action (24 bytes): seq@0 kind@4 target@8 pos@16.
func placeAction(b *flatbuffers.Builder, a *Action) {
	b.PlaceInt32(a.Pos.Y)
	b.PlaceInt32(a.Pos.X)
	b.PlaceUint64(a.Target)
	b.PlaceUint32(uint32(a.Kind)) // kind, 3 bytes padding
	b.PlaceUint32(a.Seq)
}

// placePlayerState writes a PlayerState (24 bytes): id@0 pos@4 zone@12
// items@16 changed_tick@20.
func placePlayerState(b *flatbuffers.Builder, p *PlayerState) {
	b.PlaceUint32(p.ChangedTick)
	b.PlaceUint32(p.Items)
	b.PlaceUint32(p.Zone)
	b.PlaceInt32(p.Pos.Y)
	b.PlaceInt32(p.Pos.X)
	b.PlaceUint32(p.ID)
}

// placeChestState writes a ChestState (40 bytes): id@0 status@4
// generation@8 loot_id@16 opened_by@24 pos@28 changed_tick@36.
func placeChestState(b *flatbuffers.Builder, c *ChestState) {
	b.PlaceUint32(c.ChangedTick)
	b.PlaceInt32(c.Pos.Y)
	b.PlaceInt32(c.Pos.X)
	b.PlaceUint32(c.OpenedBy)
	b.PlaceUint64(c.LootID)
	b.PlaceUint32(0) // padding before loot_id
	b.PlaceUint32(c.Generation)
	b.PlaceUint32(uint32(c.Status)) // status, 3 bytes padding
	b.PlaceUint32(c.ID)
}

// placeLootEvent writes a LootEvent (40 bytes): loot_id@0 kind@8 item@10
// qty@12 chest@16 player@20 tick@24 pos@28, 4 bytes of tail padding.
func placeLootEvent(b *flatbuffers.Builder, ev *LootEvent) {
	b.PlaceUint32(0) // tail padding to the 8-byte struct alignment
	b.PlaceInt32(ev.Pos.Y)
	b.PlaceInt32(ev.Pos.X)
	b.PlaceUint32(ev.Tick)
	b.PlaceUint32(ev.Player)
	b.PlaceUint32(ev.Chest)
	b.PlaceUint64(uint64(ev.Kind) | uint64(ev.Item)<<16 | uint64(ev.Qty)<<32) // kind, pad, item, qty, pad 2
	b.PlaceUint64(ev.LootID)
}

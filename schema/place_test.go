package schema

import flatbuffers "github.com/google/flatbuffers/go"

// Builder adapters of the put* element writers, so that
// TestPlaceMatchesCreate can set each beside flatc's CreateX: reserve the
// struct's bytes below the builder's head, dirty them (Pad wrote zeros, and
// put* must write every byte itself, padding included), then fill them.

func reserveDirty(b *flatbuffers.Builder, n int) []byte {
	b.Pad(n)
	p := b.Bytes[b.Head():][:n]
	for i := range p {
		p[i] = 0xee
	}
	return p
}

func placePlayerState(b *flatbuffers.Builder, p *PlayerState) {
	putPlayerState(reserveDirty(b, SizePlayerState), p)
}

func placeChestState(b *flatbuffers.Builder, c *ChestState) {
	putChestState(reserveDirty(b, SizeChestState), c)
}

func placeLootEvent(b *flatbuffers.Builder, ev *LootEvent) {
	putLootEvent(reserveDirty(b, SizeLootEvent), ev)
}

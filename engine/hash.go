package engine

// State hash (docs/ARCHITECTURE.md "Determinism"): 64 bits over all simulation state, every
// tick, sent in every snapshot so clients and treasure-replay can detect
// divergence.
//
// It is incremental: World.sum is the wrapping sum of one hash per entity
// (player slot, chest, loot slot), each keyed by kind and index. A mutation
// marks its entity dirty; at the end of Step each dirty entity's term is
// swapped (sum += new - old). A tick costs O(entities changed), not O(world).
// A sum of keyed 64-bit hashes is a multiset hash: order-independent, and two
// different states collide only by accident (~2^-64 per comparison), which is
// what divergence detection needs; it is not meant to resist an adversary.
//
// Covered: tick; every active or parked player's slot generation, key,
// region, position, zone, items, inventory, last change tick, action_seq
// window and (parked) grace deadline;
// every chest's status, generation, loot id, opener, opening and change
// ticks, live loot slot; every loot slot's generation, liveness, id, chest,
// contents and expiry. Not covered: delivery and view state (event queues,
// acks, sent-snapshot rings, zoneEnt), which depend on which snapshots were
// built and acknowledged, not on the ordered inputs the journal replays.
//
// fullHash recomputes the same value from scratch; tests compare the two
// every tick.

const (
	tagPlayer = 1
	tagChest  = 2
	tagLoot   = 3
)

// Hash is the state hash after the last Step.
func (w *World) Hash() uint64 {
	return fmix64(w.sum ^ fmix64(uint64(w.tick)+0x5f3759df))
}

func (w *World) markPlayer(i int32) {
	if p := &w.players[i]; p.dirty != w.tick {
		p.dirty = w.tick
		w.dirtyP = append(w.dirtyP, i)
	}
}

func (w *World) markChest(i int32) {
	if c := &w.chests[i]; c.dirty != w.tick {
		c.dirty = w.tick
		w.dirtyC = append(w.dirtyC, i)
	}
}

func (w *World) markLoot(i int32) {
	if l := &w.loots[i]; l.dirty != w.tick {
		l.dirty = w.tick
		w.dirtyL = append(w.dirtyL, i)
	}
}

// rehash swaps the terms of the entities changed this tick.
func (w *World) rehash() {
	for _, i := range w.dirtyP {
		p := &w.players[i]
		h := w.hashPlayer(i)
		w.sum += h - p.hash
		p.hash = h
	}
	for _, i := range w.dirtyC {
		c := &w.chests[i]
		h := w.hashChest(i)
		w.sum += h - c.hash
		c.hash = h
		w.publishChest(i)
	}
	for _, i := range w.dirtyL {
		l := &w.loots[i]
		h := w.hashLoot(i)
		w.sum += h - l.hash
		l.hash = h
	}
	w.stats.DirtyRehashed += uint64(len(w.dirtyP) + len(w.dirtyC) + len(w.dirtyL))
	w.dirtyP, w.dirtyC, w.dirtyL = w.dirtyP[:0], w.dirtyC[:0], w.dirtyL[:0]
}

func (w *World) hashPlayer(i int32) uint64 {
	p := &w.players[i]
	if !p.active && !p.parked {
		return 0 // a free slot contributes nothing, whatever it held
	}
	h := hstart(tagPlayer, uint64(i))
	h = hstep(h, uint64(p.gen)|uint64(p.region)<<32)
	h = hstep(h, p.key)
	hot := &w.pHot[i]
	h = hstep(h, uint64(uint32(hot.pos.X))|uint64(uint32(hot.pos.Y))<<32)
	h = hstep(h, uint64(uint32(hot.zone))|uint64(hot.changed)<<32)
	h = hstep(h, uint64(hot.items)|uint64(p.win.High())<<32)
	h = hstep(h, p.win.Mask())
	for k := 0; k < itemKinds; k += 2 {
		h = hstep(h, uint64(p.inv[k])|uint64(p.inv[k+1])<<32)
	}
	if p.parked {
		// Only parked slots take this step, so active players hash as
		// they did before resumption existed.
		h = hstep(h, uint64(p.parkedUntil)|1<<32)
	}
	return fmix64(h)
}

func (w *World) hashChest(i int32) uint64 {
	c := &w.chests[i]
	h := hstart(tagChest, uint64(i))
	h = hstep(h, uint64(c.status)|uint64(c.gen)<<32)
	h = hstep(h, c.lootID)
	h = hstep(h, uint64(c.openedBy)|uint64(c.openedTick)<<32)
	h = hstep(h, uint64(c.changed)|uint64(uint32(c.loot))<<32)
	return fmix64(h)
}

func (w *World) hashLoot(i int32) uint64 {
	l := &w.loots[i]
	h := hstart(tagLoot, uint64(i))
	alive := uint64(0)
	if l.alive {
		alive = 1
	}
	h = hstep(h, uint64(l.gen)|alive<<32)
	if l.alive {
		h = hstep(h, l.id)
		h = hstep(h, uint64(uint32(l.chest))|uint64(l.expires)<<32)
		h = hstep(h, uint64(l.item)|uint64(l.qty)<<16)
	}
	return fmix64(h)
}

// fullHash recomputes Hash from every entity, ignoring the incremental terms.
func (w *World) fullHash() uint64 {
	var sum uint64
	for i := range w.players {
		sum += w.hashPlayer(int32(i))
	}
	for i := range w.chests {
		sum += w.hashChest(int32(i))
	}
	for i := range w.loots {
		sum += w.hashLoot(int32(i))
	}
	return fmix64(sum ^ fmix64(uint64(w.tick)+0x5f3759df))
}

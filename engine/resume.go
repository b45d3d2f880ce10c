package engine

// Resumption: a session that ends does not end the player (issue "crash
// recovery": players come back whole). With Config.GraceTicks > 0 a Leave
// parks the player instead of freeing its slot: it leaves every view (others
// get its Gone) but keeps its position, region, items, inventory and its
// queue of undelivered loot events. A Join whose player key matches a parked
// player within the grace period reattaches that state:
//
//   - in place, when the Join is for the parked slot itself (netio reuses
//     the slot and generation of a parked key, so the player's identity,
//     slot + generation, survives a reconnect and a restart);
//   - moved into the Join's slot otherwise (a client that reached another
//     event loop): nothing is lost, but the slot changes.
//
// A Join of another key on a parked slot evicts the parked player (netio
// only hands out a parked slot when no other is free). Parked players are
// freed GraceTicks after their Leave, in the order they left.
//
// All of it happens inside Step from the ordered records, so it is as
// deterministic and as journaled as everything else; the parked state is in
// the hash and in checkpoints. The action_seq window is kept on resume, so
// an action the client repeats from before the break (applied, but its
// acknowledgement lost with the connection) is applied once, not twice. A
// client learns where the player's seqs stand from the first snapshot of
// the new session (last_action_seq) and numbers on from there; see
// docs/PROTOCOL.md "Inputs".

// parkList is the FIFO of parked players, threaded through player.parkPrev
// and parkNext, oldest Leave first. Leaves of one tick are applied in slot
// order, so the list is also sorted by (parkedUntil, slot), which is how a
// checkpoint rebuilds it.
type parkList struct {
	head, tail int32
	n          int32
}

// park turns the just-left player i into a parked one.
func (w *World) park(i int32) {
	p := &w.players[i]
	p.parked = true
	p.parkedUntil = w.tick + w.cfg.GraceTicks
	p.parkNext = -1
	p.parkPrev = w.parked.tail
	if w.parked.tail >= 0 {
		w.players[w.parked.tail].parkNext = i
	} else {
		w.parked.head = i
	}
	w.parked.tail = i
	w.parked.n++
}

// unpark takes i off the parked list (resume, eviction or expiry).
func (w *World) unpark(i int32) {
	p := &w.players[i]
	if p.parkPrev >= 0 {
		w.players[p.parkPrev].parkNext = p.parkNext
	} else {
		w.parked.head = p.parkNext
	}
	if p.parkNext >= 0 {
		w.players[p.parkNext].parkPrev = p.parkPrev
	} else {
		w.parked.tail = p.parkPrev
	}
	w.parked.n--
	p.parked, p.parkedUntil, p.parkPrev, p.parkNext = false, 0, -1, -1
	w.markPlayer(i)
}

// dropParked frees parked player i and what it was owed.
func (w *World) dropParked(i int32) {
	w.unpark(i)
	w.q.clear(&w.players[i].evQ, true)
}

// expireParked frees the players whose grace period is over.
func (w *World) expireParked() {
	for i := w.parked.head; i >= 0 && w.players[i].parkedUntil <= w.tick; i = w.parked.head {
		w.dropParked(i)
		w.stats.ParkedExpired++
	}
}

// findParked is the parked slot of key, or -1. Joins are few per tick and
// the common resume is in place (checked before this), so a walk of the
// parked list beats the memory and the allocation of a key index.
func (w *World) findParked(key uint64) int32 {
	for i := w.parked.head; i >= 0; i = w.players[i].parkNext {
		if w.players[i].key == key {
			return i
		}
	}
	return -1
}

// moveParked moves parked player j's state into the free slot i and frees
// j, for a resume that arrived in another slot.
func (w *World) moveParked(i, j int32) {
	src, dst := &w.players[j], &w.players[i]
	dst.region, dst.key, dst.inv, dst.win = src.region, src.key, src.inv, src.win
	dst.evQ, src.evQ = src.evQ, emptyQueue
	w.pHot[i].pos, w.pHot[i].items = w.pHot[j].pos, w.pHot[j].items
	w.unpark(j)
	// The player's openings move with it: opened_by names the slot the
	// user plays in, and the caller's newOccupant(i) makes this a tick in
	// which forgetOpeners runs.
	w.movedAt[j], w.movedTo[j] = w.tick+1, i
}

// attach makes the unparked state in slot i (resumed in place, or moved
// there) the player of the session of Join r.
func (w *World) attach(i int32, r *Record) {
	p := &w.players[i]
	hot := &w.pHot[i]
	w.setActive(i, true)
	p.gen = r.Gen
	p.ack = 0
	p.moveTick, p.moved = 0, 0
	p.goneQ = emptyQueue
	for c := range p.zoneEnt {
		p.zoneEnt[c] = w.tick
	}
	w.views[i] = view{} // the next snapshot is a full one
	w.restartLiveness(i)
	hot.changed = w.tick
	hot.zNext = -1
	z := w.geo.zoneOf(p.region, hot.pos)
	w.linkZone(i, z)
	w.forBlock(z, i, func(v int32) { w.regainedSight(i, v) })
	w.markPlayer(i)
	w.stats.Resumes++
}

// SlotState is what a server starting on this world must know about a
// player slot: the newest session generation used in it (active, parked or
// free: generations go on across a restart), and whether it holds a parked
// player and with which key (netio keeps the slot for that key).
func (w *World) SlotState(player int32) (gen uint32, key uint64, parked bool) {
	if player < 0 || int(player) >= len(w.players) {
		return 0, 0, false
	}
	p := &w.players[player]
	return p.gen, p.key, p.parked
}

// NumParked is the number of parked players.
func (w *World) NumParked() int { return int(w.parked.n) }

// PlayerGen is the session generation of an active or parked slot.
func (w *World) PlayerGen(player int32) uint32 {
	if player < 0 || int(player) >= len(w.players) {
		return 0
	}
	return w.players[player].gen
}

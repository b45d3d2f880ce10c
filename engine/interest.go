package engine

// Interest management. A player sees the players and chests of its zone and
// the 8 zones around it (same region). Visibility between two players is
// symmetric, so it changes only when one of them changes zone, joins or
// leaves, and each of those updates both directions here, in Step:
//
//   - lost sight: each side gets the other's id queued as Gone;
//   - regained sight: a still-pending Gone of the other is withdrawn, so a
//     stale Gone can never follow the fresh state it would wrongly erase
//     (invariant: Gone(V, X) pending => X not visible to V);
//   - a zone newly in view stamps the viewer's zoneEnt, so its whole content
//     counts as changed for that viewer (snapshot.go).

func (w *World) linkZone(i, z int32) {
	p := &w.players[i]
	w.pHot[i].zone = z
	p.zPrev = -1
	next := w.zoneHead[z]
	w.pHot[i].zNext = next
	if next >= 0 {
		w.players[next].zPrev = i
	}
	w.zoneHead[z] = i
}

func (w *World) unlinkZone(i int32) {
	p := &w.players[i]
	next := w.pHot[i].zNext
	if p.zPrev >= 0 {
		w.pHot[p.zPrev].zNext = next
	} else {
		w.zoneHead[w.pHot[i].zone] = next
	}
	if next >= 0 {
		w.players[next].zPrev = p.zPrev
	}
	w.pHot[i].zNext, p.zPrev = -1, -1
}

// lostSight: i and v no longer see each other.
func (w *World) lostSight(i, v int32) {
	w.queueGone(v, i)
	w.queueGone(i, v)
}

// regainedSight: i and v see each other again (or for the first time).
func (w *World) regainedSight(i, v int32) {
	if pv := &w.players[v]; pv.goneQ.n > 0 && w.q.remove(&pv.goneQ, i) {
		w.stats.GoneWithdrawn++
	}
	if pi := &w.players[i]; pi.goneQ.n > 0 && w.q.remove(&pi.goneQ, v) {
		w.stats.GoneWithdrawn++
	}
}

// queueGone tells viewer that gone left its view. When that cannot be
// queued, the viewer's next snapshot is a full one instead, which removes
// gone just as well (View.Apply purges what a full snapshot omits).
func (w *World) queueGone(viewer, gone int32) {
	if w.q.push(&w.players[viewer].goneQ, gone, false) {
		w.stats.GoneQueued++
	} else {
		w.stats.GoneOverflow++
		w.resync(viewer, ResyncGoneCap)
	}
}

// changeZone moves active player i from its zone to nz (same region).
func (w *World) changeZone(i, nz int32) {
	g := &w.geo
	p := &w.players[i]
	oz := w.pHot[i].zone
	w.unlinkZone(i)
	for cell := range 9 {
		// Zones around the old zone that the new one does not see.
		if z := g.cellZone(oz, cell); z >= 0 && !g.near(z, nz) {
			for v := w.zoneHead[z]; v >= 0; v = w.pHot[v].zNext {
				w.lostSight(i, v)
			}
		}
		// Zones around the new zone that the old one did not see.
		if z := g.cellZone(nz, cell); z >= 0 && !g.near(z, oz) {
			for v := w.zoneHead[z]; v >= 0; v = w.pHot[v].zNext {
				w.regainedSight(i, v)
			}
		}
	}
	// Carry the entry tick of zones seen before and after; stamp the rest.
	var ent [9]uint32
	for cell := range 9 {
		z := g.cellZone(nz, cell)
		ent[cell] = w.tick
		if z >= 0 && g.near(z, oz) {
			for oc := range 9 {
				if g.cellZone(oz, oc) == z {
					ent[cell] = p.zoneEnt[oc]
					break
				}
			}
		}
	}
	p.zoneEnt = ent
	w.linkZone(i, nz)
}

// forBlock calls f for every other player in the 3x3 block around z.
func (w *World) forBlock(z, self int32, f func(v int32)) {
	for cell := range 9 {
		cz := w.geo.cellZone(z, cell)
		if cz < 0 {
			continue
		}
		for v := w.zoneHead[cz]; v >= 0; v = w.pHot[v].zNext {
			if v != self {
				f(v)
			}
		}
	}
}

// AppendInView appends to chests and players the ids of the chests and of
// the other players that player sees: its interest area, the set every
// snapshot to it is about. For tests and tools that check a client's view
// against the world; not used on the tick's hot path.
func (w *World) AppendInView(player int32, chests, players []uint32) ([]uint32, []uint32) {
	if !w.Active(player) {
		return chests, players
	}
	z := w.pHot[player].zone
	for cell := range 9 {
		cz := w.geo.cellZone(z, cell)
		if cz < 0 {
			continue
		}
		for c := cz * w.geo.cpz; c < (cz+1)*w.geo.cpz; c++ {
			chests = append(chests, uint32(c))
		}
	}
	w.forBlock(z, player, func(v int32) { players = append(players, uint32(v)) })
	return chests, players
}

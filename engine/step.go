package engine

import (
	"math/bits"
	"slices"

	"github.com/treasured/treasured/engine/seqwin"
	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// Stats are the engine's counters since New. Every field only grows, except
// the *InUse / LootLive gauges.
type Stats struct {
	Ticks uint64

	// Records.
	BadRecords    uint64 // player out of range, unknown kind, N > MaxActions
	StaleRecords  uint64 // generation mismatch or slot not active
	Joins         uint64
	JoinDup       uint64 // same generation already active: ignored
	JoinReplaced  uint64 // other generation active: implicit leave first
	JoinBadRegion uint64
	Leaves        uint64
	Resumes       uint64 // Joins that reattached a parked player (resume.go)
	ParkedExpired uint64 // parked players freed at the end of their grace
	ParkedEvicted uint64 // parked players freed early: their slot was given away
	AcksFuture    uint64 // AckTick of a tick not yet snapshotted: ignored

	// Actions, per action_seq.
	ActionsApplied   uint64 // admitted by the window (then applied or rejected below)
	ActionsDuplicate uint64 // seq already handled
	ActionsStale     uint64 // seq below the window
	ActionsZeroSeq   uint64

	// Admitted actions that had no effect, by reason.
	RejectKind      uint64 // unknown action kind
	RejectSpeed     uint64 // Move with no budget left this tick
	RejectTarget    uint64 // no such chest / loot id
	RejectRegion    uint64 // target in another region
	RejectReach     uint64 // target farther than ReachMM
	RejectOpened    uint64 // OpenChest on an opened chest (idempotent)
	RejectLootGone  uint64 // PickupLoot of loot taken, expired or never made
	RejectLootFull  uint64 // no free loot slot (MaxLoot)
	Moves           uint64
	ZoneChanges     uint64
	LootGenerated   uint64
	LootPickedUp    uint64
	LootExpired     uint64
	ChestsRespawned uint64

	// Delivery.
	EventsQueued uint64 // (player, event) deliveries queued
	EventsAcked  uint64
	// EventOverflow counts loot events some player in view never gets
	// because a pool was empty. The pools are sized so that this cannot
	// happen (delivery.go, Accounting): any increase is a bug, and the
	// alert-worthy "loot lost" counter.
	EventOverflow uint64
	EventsDropped uint64 // undelivered events dropped by a resync (lost to a non-acknowledging player)
	GoneQueued    uint64
	GoneAcked     uint64
	GoneWithdrawn uint64 // Gone cancelled because the player came back into view
	GoneOverflow  uint64 // Gone not queued; the viewer was resynced instead (nothing lost)
	// Resyncs counts players whose delivery state was dropped for a full
	// snapshot, by ResyncReason.
	Resyncs        [NumResyncReasons]uint64
	NodesInUse     uint64
	EventsInUse    uint64
	LootLive       uint64
	DirtyRehashed  uint64 // entity hashes recomputed (incremental state hash)
	RecordsApplied uint64
	// OpenersForgotten counts opened chests whose opener's slot got a new
	// player (forgetOpeners).
	OpenersForgotten uint64
	// OpenersMoved counts opened chests whose opener was resumed in
	// another slot: the opening moved with it.
	OpenersMoved uint64
}

// Step advances the world by exactly one tick, applying recs (in any order:
// see order.go). recs is not modified or retained.
//
// Phases, in order: order inputs -> apply (join/leave, acks, actions in
// action_seq order) -> respawn chests -> expire loot -> queue events to the
// players who see them -> rehash what changed.
func (w *World) Step(recs []Record) {
	w.tick++
	w.stats.Ticks++
	w.tickEvs = w.tickEvs[:0]
	w.tickLoot = w.tickLoot[:0]

	w.order(recs)
	w.stats.RecordsApplied += uint64(len(w.ordered))
	for i := 0; i < len(w.ordered); {
		j := i + 1
		for j < len(w.ordered) && w.ordered[j].Player == w.ordered[i].Player {
			j++
		}
		w.applyPlayer(w.ordered[i].Player, w.ordered[i:j])
		i = j
	}
	w.expireParked()
	w.checkLiveness()
	if w.lastTaken == w.tick {
		w.forgetOpeners()
	}
	w.respawnChests()
	w.expireLoot()
	w.queueEvents()
	w.rehash()
	w.index()
}

// index rebuilds the zone-ordered player table snapshots scan. Walking the
// zone lists costs one pass over the active players per tick; it saves every
// one of the MaxPlayers snapshots a pointer chase per visible player.
func (w *World) index() {
	n := int32(0)
	for z := range w.geo.zones {
		w.zoneStart[z] = n
		for x := w.zoneHead[z]; x >= 0; x = w.pHot[x].zNext {
			w.zonePlayers[n] = w.playerState(x)
			w.pIdx[x] = n
			n++
		}
	}
	w.zoneStart[w.geo.zones] = n
}

// applyPlayer applies one player's records, in order.go's order: by
// generation, and within one Join, Inputs, Leave.
func (w *World) applyPlayer(i int32, recs []Record) {
	for k := 0; k < len(recs); {
		r := &recs[k]
		switch r.Kind {
		case RecLeave:
			w.applyLeave(i, r)
			k++
		case RecJoin:
			w.applyJoin(i, r)
			k++
		default:
			j := k + 1
			for j < len(recs) && recs[j].Kind == RecInput && recs[j].Gen == r.Gen {
				j++
			}
			w.applyInputs(i, recs[k:j])
			k = j
		}
	}
}

func (w *World) applyLeave(i int32, r *Record) {
	p := &w.players[i]
	if p.active && p.gen == r.Gen {
		w.leave(i)
		w.stats.Leaves++
		return
	}
	w.stats.StaleRecords++
}

func (w *World) applyJoin(i int32, r *Record) {
	p := &w.players[i]
	if int(r.Region) >= w.cfg.Regions {
		w.stats.JoinBadRegion++
		return
	}
	if p.active {
		if p.gen == r.Gen {
			w.stats.JoinDup++
			return
		}
		w.leave(i)
		w.stats.JoinReplaced++
	}
	w.stats.Joins++
	if p.parked && p.key != r.Key {
		w.dropParked(i) // netio gave the slot away: grace ends early
		w.stats.ParkedEvicted++
	}
	if p.parked {
		w.unpark(i)
		w.attach(i, r)
		return
	}
	if j := w.findParked(r.Key); j >= 0 {
		w.moveParked(i, j)
		w.attach(i, r)
		w.newOccupant(i) // slot i's earlier players' openings are not this player's
		return
	}
	w.join(i, r)
}

// applyInputs applies one generation's Inputs: the union of their actions,
// applied once each in action_seq order, whatever the records they came in.
func (w *World) applyInputs(i int32, recs []Record) {
	p := &w.players[i]
	acts := w.acts[:0]
	ack := p.ack
	for k := range recs {
		r := &recs[k]
		if !p.active || p.gen != r.Gen {
			w.stats.StaleRecords++
			continue
		}
		switch {
		case r.AckTick >= w.tick:
			w.stats.AcksFuture++
		case r.AckTick > ack:
			ack = r.AckTick
		}
		acts = append(acts, r.Actions[:r.N]...)
	}
	if len(acts) > 1 {
		if len(acts) <= 32 {
			for a := 1; a < len(acts); a++ {
				for b := a; b > 0 && compareActions(&acts[b-1], &acts[b]) > 0; b-- {
					acts[b-1], acts[b] = acts[b], acts[b-1]
				}
			}
		} else {
			slices.SortFunc(acts, func(a, b schema.Action) int { return compareActions(&a, &b) })
		}
	}
	for a := range acts {
		w.applyAction(i, &acts[a])
	}
	w.acts = acts[:0]

	if ack != p.ack {
		p.ack = ack
		w.stats.EventsAcked += uint64(w.q.dropAcked(&p.evQ, ack, true))
		w.stats.GoneAcked += uint64(w.q.dropAcked(&p.goneQ, ack, false))
	}
}

func (w *World) join(i int32, r *Record) {
	p := &w.players[i]
	g := &w.geo
	h := mix2(w.cfg.Seed^uint64(r.Gen)<<32^uint64(i), r.Key)
	w.pHot[i] = playerHot{
		pos:     schema.Vec2{X: int32(h % uint64(g.w)), Y: int32((h >> 32) % uint64(g.h))},
		changed: w.tick,
		zNext:   -1,
	}
	*p = player{
		region:   r.Region,
		gen:      r.Gen,
		key:      r.Key,
		win:      seqwin.New[uint32](),
		evQ:      emptyQueue,
		goneQ:    emptyQueue,
		liveFrom: w.tick,
		hash:     p.hash, // rehash() swaps the old term for the new one
		dirty:    p.dirty,
	}
	w.setActive(i, true)
	for c := range p.zoneEnt {
		p.zoneEnt[c] = w.tick
	}
	w.views[i] = view{}
	z := g.zoneOf(r.Region, w.pHot[i].pos)
	w.linkZone(i, z)
	w.forBlock(z, i, func(v int32) { w.regainedSight(i, v) })
	w.markPlayer(i)
	w.newOccupant(i)
}

func (w *World) leave(i int32) {
	p := &w.players[i]
	w.forBlock(w.pHot[i].zone, i, func(v int32) { w.queueGone(v, i) })
	w.unlinkZone(i)
	w.q.clear(&p.goneQ, false)
	w.setActive(i, false)
	w.markPlayer(i)
	if w.cfg.GraceTicks > 0 {
		w.park(i) // keeps evQ: what it is owed survives until it resumes
		return
	}
	w.q.clear(&p.evQ, true)
}

// newOccupant records that slot i now belongs to a player other than its
// previous one. opened_by names a player slot, and slots are reused: left in
// place, the previous players' openings would read as the new player's own
// ("you opened this"), and its client would wait for loot that was never its
// own. So every path that gives a slot to a different player calls this, and
// the openings of the slot's earlier players are forgotten this tick
// (forgetOpeners), before the new player's first snapshot is built.
func (w *World) newOccupant(i int32) {
	w.takenAt[i], w.lastTaken = w.tick, w.tick
}

// forgetOpeners clears the opener of every opened chest whose opener's slot
// got a new player this tick (newOccupant), and moves to the new slot the
// openings of a player whose resume moved it there (moveParked): opened_by
// follows the user, never names a stranger. A chest opened this tick was
// opened by the slot's new player: the records of the one before are
// ignored from its leave on. Every opened chest is in respawnQ with its
// opener, so one pass over that dense array per such tick covers every
// opening; a chest is touched only when its opener changes.
func (w *World) forgetOpeners() {
	for k := range w.respawnQ.n {
		o := w.respawnQ.ref(k)
		if o.by == schema.NoPlayer {
			continue
		}
		by := schema.NoPlayer
		switch {
		case w.movedAt[o.by] == w.tick+1:
			by = uint32(w.movedTo[o.by])
			w.stats.OpenersMoved++
		case w.takenAt[o.by] != w.tick || w.chests[o.chest].openedTick == w.tick:
			continue
		default:
			w.stats.OpenersForgotten++
		}
		ch := &w.chests[o.chest]
		o.by, ch.openedBy = by, by
		ch.changed = w.tick
		w.markChest(o.chest)
	}
}

func (w *World) applyAction(i int32, a *schema.Action) {
	p := &w.players[i]
	switch p.win.Admit(a.Seq) {
	case seqwin.Dup:
		w.stats.ActionsDuplicate++
		return
	case seqwin.Stale:
		w.stats.ActionsStale++
		return
	case seqwin.Zero:
		w.stats.ActionsZeroSeq++
		return
	}
	w.stats.ActionsApplied++
	w.markPlayer(i) // the window is hashed state
	switch wire.ActionKind(a.Kind) {
	case wire.ActionKindMove:
		w.move(i, a.Pos)
	case wire.ActionKindOpenChest:
		w.openChest(i, a.Target)
	case wire.ActionKindPickupLoot:
		w.pickup(i, a.Target)
	default:
		w.stats.RejectKind++
	}
}

// move walks player i towards target (clamped to the region) by at most what
// is left of this tick's MaxSpeedMM.
func (w *World) move(i int32, target schema.Vec2) {
	p := &w.players[i]
	hot := &w.pHot[i]
	g := &w.geo
	tx := min(max(target.X, 0), g.w-1)
	ty := min(max(target.Y, 0), g.h-1)
	budget := g.maxSpeed
	if p.moveTick == w.tick {
		budget -= int64(p.moved)
	}
	if budget <= 0 {
		w.stats.RejectSpeed++
		return
	}
	dx, dy := int64(tx-hot.pos.X), int64(ty-hot.pos.Y)
	d2 := dx*dx + dy*dy
	if d2 == 0 {
		return
	}
	used := isqrtCeil(d2)
	if used > budget {
		// Scale the step down to the budget. Dividing by the ceiling of
		// the length keeps the scaled step within budget.
		dx, dy = dx*budget/used, dy*budget/used
		used = budget
		if dx == 0 && dy == 0 {
			return
		}
	}
	if p.moveTick != w.tick {
		p.moveTick, p.moved = w.tick, 0
	}
	p.moved += int32(used)
	hot.pos.X += int32(dx)
	hot.pos.Y += int32(dy)
	hot.changed = w.tick
	w.stats.Moves++
	if nz := g.zoneOf(p.region, hot.pos); nz != hot.zone {
		w.changeZone(i, nz)
		w.stats.ZoneChanges++
	}
}

// isqrtCeil is the smallest r with r*r >= x, for 0 <= x < 2^62.
func isqrtCeil(x int64) int64 {
	// Newton from above, in integers: exact and deterministic. The start,
	// 2^ceil(bits/2), is >= sqrt(x), so the iteration descends to floor.
	if x <= 1 {
		return x
	}
	r := int64(1) << ((bits.Len64(uint64(x)) + 1) / 2)
	y := (r + x/r) / 2
	for y < r {
		r = y
		y = (r + x/r) / 2
	}
	// r is now floor(sqrt(x)).
	if r*r < x {
		r++
	}
	return r
}

func dist2(a, b schema.Vec2) int64 {
	dx, dy := int64(a.X-b.X), int64(a.Y-b.Y)
	return dx*dx + dy*dy
}

// reachable checks region and reach of chest c for player i, counting rejects.
func (w *World) reachable(i, c int32) bool {
	p := &w.players[i]
	ch := &w.chests[c]
	if ch.zone/w.geo.zpr != int32(p.region) {
		w.stats.RejectRegion++
		return false
	}
	if dist2(w.pHot[i].pos, ch.pos) > w.geo.reach2 {
		w.stats.RejectReach++
		return false
	}
	return true
}

// openChest: Closed -> Opened(by, tick, loot_id). Idempotent: an opened chest
// cannot be opened again before it respawns, whoever asks, so no sequence of
// actions, retransmissions or replays generates the loot of (chest,
// generation) twice.
func (w *World) openChest(i int32, target uint64) {
	if target >= uint64(w.geo.nchests) {
		w.stats.RejectTarget++
		return
	}
	c := int32(target)
	if !w.reachable(i, c) {
		return
	}
	ch := &w.chests[c]
	if ch.status != uint8(wire.ChestStatusClosed) {
		w.stats.RejectOpened++
		return
	}
	slot := w.lootFree
	if slot < 0 {
		w.stats.RejectLootFull++
		return
	}
	l := &w.loots[slot]
	w.lootFree = l.nextFree
	w.lootLive++
	item, qty := lootContents(w.cfg.Seed, c, ch.gen)
	l.id = makeLootID(w.lootKey, c, ch.gen)
	l.chest = c
	l.alive = true
	l.item, l.qty = item, qty
	l.expires = w.tick + w.cfg.LootTTLTicks
	l.nextFree = -1
	w.markLoot(slot)

	ch.status = uint8(wire.ChestStatusOpened)
	ch.lootID = l.id
	ch.openedBy = uint32(i)
	ch.openedTick = w.tick
	ch.changed = w.tick
	ch.loot = slot
	w.markChest(c)
	// Both queues hold at most one entry per chest (Validate: TTL <
	// respawn), and their capacity is the chest count: push cannot fail.
	w.respawnQ.push(opening{chest: c, by: uint32(i)})
	w.expireQ.push(lootRef{slot, l.gen})

	w.stats.LootGenerated++
	w.emit(wire.LootEventKindGenerated, l, ch, uint32(i), i)
}

func (w *World) pickup(i int32, id uint64) {
	c, gen, ok := parseLootID(w.lootKey, id, w.geo.nchests)
	if !ok {
		w.stats.RejectTarget++
		return
	}
	ch := &w.chests[c]
	if ch.lootID != id || ch.gen != gen || ch.loot < 0 {
		w.stats.RejectLootGone++
		return
	}
	if !w.reachable(i, c) {
		return
	}
	slot := ch.loot
	l := &w.loots[slot]
	p := &w.players[i]
	p.inv[l.item] += uint32(l.qty)
	w.pHot[i].items += uint32(l.qty)
	w.pHot[i].changed = w.tick
	w.markPlayer(i)
	w.stats.LootPickedUp++
	w.emit(wire.LootEventKindPickedUp, l, ch, uint32(i), i)
	w.freeLoot(slot)
	ch.loot = -1
	w.markChest(c)
}

func (w *World) freeLoot(slot int32) {
	l := &w.loots[slot]
	l.alive = false
	l.gen++
	l.nextFree = w.lootFree
	w.lootFree = slot
	w.lootLive--
	w.markLoot(slot)
}

func (w *World) emit(kind wire.LootEventKind, l *loot, ch *chest, who uint32, actor int32) {
	w.tickEvs = append(w.tickEvs, tickEvent{
		ev: schema.LootEvent{
			LootID: l.id, Kind: uint8(kind), Item: l.item, Qty: l.qty,
			Chest: uint32(l.chest), Player: who, Tick: w.tick, Pos: ch.pos,
		},
		zone:  ch.zone,
		actor: actor,
	})
	w.tickLoot = append(w.tickLoot, w.tickEvs[len(w.tickEvs)-1].ev)
}

// respawnChests closes the chests whose respawn time has come: next
// generation, so the next opening makes a new loot id.
func (w *World) respawnChests() {
	for {
		o, ok := w.respawnQ.peek()
		if !ok {
			return
		}
		c := o.chest
		ch := &w.chests[c]
		if ch.openedTick+w.cfg.RespawnTicks > w.tick {
			return
		}
		w.respawnQ.pop()
		ch.status = uint8(wire.ChestStatusClosed)
		ch.gen++
		ch.lootID = 0
		ch.openedBy = schema.NoPlayer
		ch.openedTick = 0
		ch.changed = w.tick
		w.markChest(c)
		w.stats.ChestsRespawned++
	}
}

func (w *World) expireLoot() {
	for {
		ref, ok := w.expireQ.peek()
		if !ok {
			return
		}
		l := &w.loots[ref.slot]
		if !l.alive || l.gen != ref.gen {
			w.expireQ.pop() // picked up before it expired
			continue
		}
		if l.expires > w.tick {
			return
		}
		w.expireQ.pop()
		ch := &w.chests[l.chest]
		w.stats.LootExpired++
		w.emit(wire.LootEventKindExpired, l, ch, schema.NoPlayer, -1)
		w.freeLoot(ref.slot)
		ch.loot = -1
		w.markChest(l.chest)
	}
}

// queueEvents queues each event of the tick to the players who must be told:
// every active player whose zone, at the end of the tick, sees the event's
// zone, plus its actor (finder, picker) wherever it is. The exactly-once test
// checks the client side against exactly this rule.
func (w *World) queueEvents() {
	for e := range w.tickEvs {
		te := &w.tickEvs[e]
		s := w.q.newEvent(&te.ev)
		if s < 0 {
			w.stats.EventOverflow++
			continue
		}
		for cell := range 9 {
			z := w.geo.cellZone(te.zone, cell)
			if z < 0 {
				continue
			}
			for v := w.zoneHead[z]; v >= 0; v = w.pHot[v].zNext {
				w.deliver(v, s)
			}
		}
		if a := te.actor; a >= 0 && w.players[a].active && !w.geo.near(w.pHot[a].zone, te.zone) {
			w.deliver(a, s)
		}
		if w.q.events[s].refs == 0 {
			// Nobody to tell: free the slot at once.
			w.q.events[s].refs = 1
			w.q.unrefEvent(s)
		} else if !w.q.born.push(evBirth{slot: s, tick: w.tick}) {
			// born holds the whole event pool: cannot fail (delivery.go).
			w.stats.EventOverflow++
		}
	}
}

// deliver queues event slot s to player v. A full queue means v has not
// acknowledged for a long time: it is resynced, which empties the queue, so
// the push after it succeeds.
func (w *World) deliver(v, s int32) {
	l := &w.players[v].evQ
	if l.n >= w.q.maxPending {
		w.resync(v, ResyncEventCap)
	}
	if w.q.push(l, s, true) {
		w.q.events[s].refs++
		w.stats.EventsQueued++
	} else {
		w.stats.EventOverflow++
	}
}

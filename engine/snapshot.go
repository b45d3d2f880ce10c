package engine

import (
	"slices"

	"github.com/treasured/treasured/schema"
)

// Delta snapshots (docs/PROTOCOL.md "Snapshots").
//
// The client follows the view rules written in package client's
// documentation ("The view"): only a snapshot newer than all it applied
// writes state (a late one counts only for its loot events and Gone ids),
// Gone before states; a full snapshot with more removes nothing, a complete
// one removes what it does not list; silence means unchanged. The server's
// duty: every entity in view eventually reaches the client in its current
// state, and nothing is ever lost because it did not fit.
//
// Per-entity change ticks and the "effective" tick. Each chest and player
// records the tick of its last change. For a viewer, an entity's effective
// tick is max(changed, tick its zone entered the viewer's view): an entity
// coming into view is news even if it has not changed for an hour.
//
// The watermark. Order the viewer's entities by (effective tick, rotated
// key). Every snapshot sends a prefix of the candidates in that order and
// records in the player's ring of sent snapshots its watermark: the client
// that received it knows the current state of every entity in view at or
// below the watermark. When all candidates fit, the watermark is (now, max).
// The next snapshot is a delta against the newest acknowledged snapshot still
// in the ring: its candidates are the entities above that one's watermark.
// Since the watermark only ever covers what was really sent (a prefix in
// the order), a change that did not fit stays above every later watermark
// until a snapshot carrying it is acknowledged: the client acking a later,
// partial snapshot cannot make it be skipped (the classic bug of delta
// against "changed since baseline tick"). Oldest effective ticks go first, so
// a backlog drains in order and cannot be starved by entities that change
// every tick.
//
// Rotation. Among entities with the same effective tick (a crowd that moves
// every tick), a fixed key order would send the same lowest keys forever.
// Keys of the newest ticks are rotated by a per-viewer cursor that moves past
// the last key sent, so a crowd is sent round-robin. Only the group at the
// watermark's own tick must keep the rotation it was sent with, so the
// watermark stores it.
//
// A full snapshot (baseline 0) is the same with an empty watermark: when the
// player has acknowledged nothing yet, or a tick that fell out of the ring.
//
// Packing: events first (up to ~40% of the datagram), then Gone ids (up to
// 32), then entities in order while SnapshotSize says they fit, then the
// remaining room for more events and Gone ids. More is set when anything was
// left for later.

// sentRing is how many sent snapshots a player's baseline can refer to:
// 32 ticks = 1.6 s of acknowledgement delay before a full snapshot.
const sentRing = 32

// view is the per-player snapshot state: only Snapshot(player) writes it.
type view struct {
	prev   uint32 // tick of the player's previous snapshot, 0 if none
	cursor uint32 // rotation for the keys of the newest effective ticks
	sent   [sentRing]sentSnap
}

type sentSnap struct {
	tick uint32
	mark watermark
}

// watermark: every entity in view whose effective tick is < tick, or == tick
// with key-off <= key (uint32 arithmetic), is known to the client.
type watermark struct {
	tick, key, off uint32
}

// Scratch is one fan-out worker's reusable space: its encoder, its frame and
// candidate buffer. Owned by one goroutine.
type Scratch struct {
	enc   *schema.Encoder
	frame schema.SnapshotFrame
	cands []uint64

	// Budget is how many bytes a snapshot may fill: 0 (or anything above
	// schema.MaxDatagram) means a whole datagram. Tests shrink it so that
	// a view never fits and every rule about partial snapshots (more) is
	// exercised; events and Gone ids keep their shares (Packing).
	Budget int

	// Stats counts this worker's snapshots.
	Stats SnapshotStats
}

// SnapshotStats are per-Scratch counters. Nothing sums them: netio publishes
// each fan-out worker's after every tick and exports them per worker.
type SnapshotStats struct {
	Snapshots uint64
	Full      uint64 // built without a baseline
	More      uint64 // something was left for the next tick
	Bytes     uint64
	Chests    uint64
	Players   uint64
	Gone      uint64
	Events    uint64
	Skipped   uint64 // player not active, or already built this tick
}

// Largest vector lengths a datagram can hold, and the soft shares of events
// and Gone ids (see Packing above).
var (
	maxSnapChests  = fitting(func(n int) int { return schema.SnapshotSize(n, 0, 0, 0) })
	maxSnapPlayers = fitting(func(n int) int { return schema.SnapshotSize(0, n, 0, 0) })
	maxSnapGone    = fitting(func(n int) int { return schema.SnapshotSize(0, 0, n, 0) })
	maxSnapEvents  = fitting(func(n int) int { return schema.SnapshotSize(0, 0, 0, n) })
	softEvents     = max(1, fittingIn(schema.MaxDatagram*2/5, func(n int) int {
		return schema.SnapshotSize(0, 0, 0, n) - schema.SnapshotSize(0, 0, 0, 0)
	}))
	softGone = min(32, maxSnapGone)
)

func fitting(size func(int) int) int { return fittingIn(schema.MaxDatagram, size) }

func fittingIn(limit int, size func(int) int) int {
	n := 0
	for size(n+1) <= limit {
		n++
	}
	return n
}

// NewScratch returns the space one fan-out worker needs.
func NewScratch() *Scratch {
	return &Scratch{
		enc: schema.NewEncoder(),
		frame: schema.SnapshotFrame{
			Chests:  make([]schema.ChestState, 0, maxSnapChests),
			Players: make([]schema.PlayerState, 0, maxSnapPlayers),
			Gone:    make([]uint32, 0, maxSnapGone),
			Events:  make([]schema.LootEvent, 0, maxSnapEvents),
		},
		cands: make([]uint64, 0, 1024),
	}
}

// Snapshot encodes the Snapshot datagram of the current tick for player and
// returns it (<= schema.MaxDatagram bytes, valid until the next call with s).
// It returns nil when player is not active, or when its snapshot of this tick
// was already built: one snapshot per player per tick, because the delivery
// bookkeeping assumes each acknowledged tick names exactly one datagram.
//
// Safe to call concurrently for distinct players between two Steps, each
// goroutine with its own Scratch. Does not allocate once s is warm.
func (w *World) Snapshot(player int32, s *Scratch) []byte {
	if !w.Active(player) || w.tick == 0 || w.views[player].prev == w.tick {
		s.Stats.Skipped++
		return nil
	}
	p := &w.players[player]
	v := &w.views[player]
	base, baseMark := v.baseline(p.ack)
	rot := v.cursor

	sc := viewScan{baseMark: baseMark, rot: rot, nch: uint32(w.geo.nchests)}
	w.scanView(player, s, &sc)
	s.cands = sc.cands

	pk := s.pack(&sc, int(p.evQ.n), int(p.goneQ.n))
	mark := pk.mark(w.tick, v, &baseMark, rot)
	f := &s.frame
	w.fillEntities(f, &sc, &pk, &baseMark, rot)
	w.fillQueues(f, p, &pk, v.prev)
	f.Tick = w.tick
	f.BaselineTick = base
	f.LastActionSeq = p.win.Contiguous()
	f.StateHash = w.Hash()
	f.You = w.zonePlayers[w.pIdx[player]]
	f.More = pk.partial || pk.events < int(p.evQ.n) || pk.gone < int(p.goneQ.n)

	v.sent[w.tick%sentRing] = sentSnap{tick: w.tick, mark: mark}
	v.prev = w.tick

	out := s.enc.Snapshot(f)
	s.Stats.count(f, base, len(out))
	return out
}

// baseline is the snapshot a delta is built against: the newest acknowledged
// one still in the ring, or (0, empty watermark) for a full snapshot.
func (v *view) baseline(ack uint32) (uint32, watermark) {
	if ack != 0 {
		if e := &v.sent[ack%sentRing]; e.tick == ack {
			return ack, e.mark
		}
	}
	return 0, watermark{}
}

// scanView collects the candidates: entities in view above the watermark,
// as sort keys eff<<32 | (key - rotation). Their states are copied into the
// frame as they are found, while they fit its capacity: in the common case
// (everything fits) that is the whole packing, with no second pass. The
// scan order (cell by cell, chests then players of a zone) matters: the
// partial path of pack selects from the candidates in that order, and the
// bytes sent depend on it.
func (w *World) scanView(player int32, s *Scratch, sc *viewScan) {
	f := &s.frame
	sc.cands = s.cands[:0]
	sc.chs = f.Chests[:cap(f.Chests)]
	sc.pls = f.Players[:cap(f.Players)]
	g := &w.geo
	p := &w.players[player]
	self := w.pIdx[player]
	r, zx0, zy0 := g.zoneXY(w.pHot[player].zone)
	for cell := range 9 {
		zx, zy := zx0+int32(cell%3)-1, zy0+int32(cell/3)-1
		if zx < 0 || zy < 0 || zx >= g.zx || zy >= g.zy {
			continue
		}
		z := r*g.zpr + zy*g.zx + zx
		ent := p.zoneEnt[cell]
		// Every chest of the zone older than the baseline: none can be a
		// candidate (candidate), so their states need not be read.
		if max(w.zoneChanged[z], ent) >= sc.baseMark.tick {
			sc.chests(w.chestPub[z*g.cpz:(z+1)*g.cpz], z*g.cpz, ent)
		}
		j0 := w.zoneStart[z]
		sc.players(w.zonePlayers[j0:w.zoneStart[z+1]], self-j0, ent)
	}
}

// snapPack is what one snapshot carries: a prefix of the candidates in key
// order (all of them unless partial), and prefixes of the event and Gone
// queues.
type snapPack struct {
	cands           []uint64 // the candidates; when partial, the ones considered, sorted if chests are among them
	taken           int      // cands[:taken] are sent
	chests, players int      // of which chests and players
	events, gone    int      // queue items sent
	partial         bool     // candidates were left for a later snapshot
	last            uint64   // greatest candidate key taken, when partial
}

// pack decides what of sc's candidates and of the player's nev events and
// ngone Gone ids fits the datagram (Packing, above).
func (s *Scratch) pack(sc *viewScan, nev, ngone int) snapPack {
	pk := snapPack{
		cands: sc.cands, taken: len(sc.cands), chests: sc.nc, players: sc.np,
		events: min(nev, softEvents), gone: min(ngone, softGone),
	}
	limit := schema.MaxDatagram
	if s.Budget > 0 {
		limit = min(s.Budget, limit)
	}
	if schema.SnapshotSize(pk.chests, pk.players, pk.gone, pk.events) > limit {
		pk.takePrefix(sc, limit)
	}
	for pk.events < nev && schema.SnapshotSize(pk.chests, pk.players, pk.gone, pk.events+1) <= limit {
		pk.events++
	}
	for pk.gone < ngone && schema.SnapshotSize(pk.chests, pk.players, pk.gone+1, pk.events) <= limit {
		pk.gone++
	}
	return pk
}

// takePrefix cuts the candidates, too many for one datagram, to a prefix in
// key order (oldest first). The order is needed only now, and only for the
// first k, where k players (the smallest entity) are what fits at most:
// select those k, and sort them only if chests are among them (then fewer
// fit and the cut point depends on the order).
func (pk *snapPack) takePrefix(sc *viewScan, limit int) {
	cands := pk.cands
	k := min(len(cands), fitPlayers(limit, pk.gone, pk.events))
	selectSmallest(cands, k)
	cands = cands[:k]
	pk.cands, pk.partial = cands, true
	chestsIn := 0
	for _, key := range cands {
		pk.last = max(pk.last, key)
		if keyOf(key, &sc.baseMark, sc.rot) <= sc.nch {
			chestsIn++
		}
	}
	pk.taken, pk.chests, pk.players = k, chestsIn, k-chestsIn
	if chestsIn == 0 {
		return
	}
	slices.Sort(cands)
	pk.taken, pk.chests, pk.players = 0, 0, 0
	for _, key := range cands {
		c, pl := pk.chests, pk.players
		if keyOf(key, &sc.baseMark, sc.rot) <= sc.nch {
			c++
		} else {
			pl++
		}
		if schema.SnapshotSize(c, pl, pk.gone, pk.events) > limit {
			break
		}
		pk.taken, pk.chests, pk.players = pk.taken+1, c, pl
	}
	if pk.taken > 0 {
		pk.last = cands[pk.taken-1]
	}
}

// mark is the watermark of the snapshot of tick now packed as pk
// against baseMark; a partial snapshot also moves the viewer's rotation
// cursor past the last key it sent, so the next round starts there.
func (pk *snapPack) mark(now uint32, v *view, baseMark *watermark, rot uint32) watermark {
	if !pk.partial {
		return watermark{tick: now, key: ^uint32(0)}
	}
	if pk.taken == 0 {
		return *baseMark // no progress: the baseline's still holds
	}
	eff := uint32(pk.last >> 32)
	off := rot
	if eff == baseMark.tick {
		off = baseMark.off
	}
	v.cursor = uint32(pk.last) + off + 1
	return watermark{tick: eff, key: uint32(pk.last), off: off}
}

// fillEntities sets the frame's chests and players. The scan already copied
// them when everything fitted; otherwise the frame gets the prefix taken.
// The frame's slices are set once at the end: appending to its fields
// directly would write a slice header to the heap per item.
func (w *World) fillEntities(f *schema.SnapshotFrame, sc *viewScan, pk *snapPack, baseMark *watermark, rot uint32) {
	chs, pls := sc.chs[:min(sc.nc, len(sc.chs))], sc.pls[:min(sc.np, len(sc.pls))]
	if pk.partial {
		chs, pls = chs[:0], pls[:0]
		for _, k := range pk.cands[:pk.taken] {
			if key := int32(keyOf(k, baseMark, rot)); key <= int32(sc.nch) {
				chs = append(chs, w.chestPub[key-1:key]...)
			} else {
				j := w.pIdx[key-1-int32(sc.nch)]
				pls = append(pls, w.zonePlayers[j:j+1]...)
			}
		}
	}
	f.Chests, f.Players = chs, pls
}

// fillQueues sets the frame's events and Gone ids, the prefixes of p's
// queues that pk carries, and marks their nodes sent by this tick's
// snapshot (prev: the player's previous one).
func (w *World) fillQueues(f *schema.SnapshotFrame, p *player, pk *snapPack, prev uint32) {
	now := w.tick
	gone, evs := f.Gone[:0], f.Events[:0]
	i := p.evQ.head
	for range pk.events {
		nd := &w.q.nodes[i]
		nd.markSent(now, prev)
		evs = append(evs, w.q.events[nd.ref].ev)
		i = nd.next
	}
	i = p.goneQ.head
	for range pk.gone {
		nd := &w.q.nodes[i]
		nd.markSent(now, prev)
		gone = append(gone, uint32(nd.ref))
		i = nd.next
	}
	f.Gone, f.Events = gone, evs
}

// count adds one snapshot of size bytes, built as f against baseline base.
func (st *SnapshotStats) count(f *schema.SnapshotFrame, base uint32, size int) {
	st.Snapshots++
	if base == 0 {
		st.Full++
	}
	if f.More {
		st.More++
	}
	st.Bytes += uint64(size)
	st.Chests += uint64(len(f.Chests))
	st.Players += uint64(len(f.Players))
	st.Gone += uint64(len(f.Gone))
	st.Events += uint64(len(f.Events))
}

// viewScan is the state of one snapshot's candidate scan. The scan is the
// engine's share of the fan-out (~30 players and ~36 chests per view at 10k
// players), so its inner loops are methods of their own: inside one large
// function the compiler kept their variables on the stack; here each loop works
// on locals in registers and stores them back once. The frame's arrays
// (chs, pls) are written by index up to their capacity and cut to length
// by the caller: a direct struct copy, with none of the append bookkeeping
// or the memmove call a one-element append makes.
type viewScan struct {
	cands    []uint64
	chs      []schema.ChestState  // the frame's chests, full capacity
	pls      []schema.PlayerState // the frame's players, full capacity
	nc, np   int                  // candidates found (may exceed len(chs), len(pls))
	baseMark watermark            // the baseline's: what the client already has
	rot      uint32
	nch      uint32
}

// chests scans the chests of one zone, zone[i] being chest first+i, whose
// zone entered the view at tick ent.
func (sc *viewScan) chests(zone []schema.ChestState, first int32, ent uint32) {
	cands, chs, nc := sc.cands, sc.chs, sc.nc
	mark, rot := sc.baseMark, sc.rot
	key := uint32(first) + 1
	for i := range zone {
		cs := &zone[i]
		if k, ok := candidate(max(cs.ChangedTick, ent), key+uint32(i), &mark, rot); ok {
			cands = append(cands, k)
			if nc < len(chs) {
				chs[nc] = *cs
			}
			nc++
		}
	}
	sc.cands, sc.nc = cands, nc
}

// players scans the players of one zone, whose zone entered the view at tick
// ent; zone[self] is the viewer (skipped) when self is in range.
func (sc *viewScan) players(zone []schema.PlayerState, self int32, ent uint32) {
	cands, pls, np := sc.cands, sc.pls, sc.np
	mark, rot, base := sc.baseMark, sc.rot, sc.nch+1
	for i := range zone {
		if int32(i) == self {
			continue
		}
		ps := &zone[i]
		if k, ok := candidate(max(ps.ChangedTick, ent), base+ps.ID, &mark, rot); ok {
			cands = append(cands, k)
			if np < len(pls) {
				pls[np] = *ps
			}
			np++
		}
	}
	sc.cands, sc.np = cands, np
}

// fitPlayers is how many player states fit in limit bytes beside g gone ids
// and e events.
func fitPlayers(limit, g, e int) int {
	n := 0
	for n < maxSnapPlayers && schema.SnapshotSize(0, n+1, g, e) <= limit {
		n++
	}
	return n
}

// candidate returns the sort key of an entity with effective tick eff and key
// key, and whether it is above the watermark (i.e. must be sent).
func candidate(eff, key uint32, mark *watermark, rot uint32) (uint64, bool) {
	switch {
	case eff < mark.tick:
		return 0, false
	case eff == mark.tick:
		rk := key - mark.off
		if rk <= mark.key {
			return 0, false
		}
		return uint64(eff)<<32 | uint64(rk), true
	}
	return uint64(eff)<<32 | uint64(key-rot), true
}

// keyOf undoes the rotation of a candidate sort key.
func keyOf(k uint64, mark *watermark, rot uint32) uint32 {
	if uint32(k>>32) == mark.tick {
		return uint32(k) + mark.off
	}
	return uint32(k) + rot
}

// selectSmallest reorders a so that a[:k] holds its k smallest values, in no
// particular order (Hoare's quickselect, median-of-3 pivot; a holds distinct
// keys). Allocation-free; expected O(len(a)).
func selectSmallest(a []uint64, k int) {
	if k <= 0 || k >= len(a) {
		return
	}
	lo, hi := 0, len(a)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		// Median of three as pivot.
		if a[mid] < a[lo] {
			a[mid], a[lo] = a[lo], a[mid]
		}
		if a[hi] < a[lo] {
			a[hi], a[lo] = a[lo], a[hi]
		}
		if a[hi] < a[mid] {
			a[hi], a[mid] = a[mid], a[hi]
		}
		pivot := a[mid]
		i, j := lo, hi
		for i <= j {
			for a[i] < pivot {
				i++
			}
			for a[j] > pivot {
				j--
			}
			if i <= j {
				a[i], a[j] = a[j], a[i]
				i++
				j--
			}
		}
		// Now a[lo..j] <= pivot <= a[i..hi], and a[j+1..i-1] == pivot.
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return
		}
	}
}

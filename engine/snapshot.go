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
	now := w.tick
	p := &w.players[player]
	v := &w.views[player]
	g := &w.geo
	nch := uint32(g.nchests)

	// Baseline: the newest acknowledged snapshot still in the ring.
	var base uint32
	var wm watermark
	if a := p.ack; a != 0 {
		if e := &v.sent[a%sentRing]; e.tick == a {
			base, wm = a, e.mark
		}
	}
	rot := v.cursor

	nev, ngone := int(p.evQ.n), int(p.goneQ.n)
	e1, g1 := min(nev, softEvents), min(ngone, softGone)

	// Candidates: entities in view above the watermark, as sort keys
	// eff<<32 | (key - rotation). Their states are copied into the frame as
	// they are found, while they fit its capacity: in the common case
	// (everything fits) that is the whole packing, with no second pass.
	// The scan order (cell by cell, chests then players of a zone) matters:
	// the partial path below selects from cands in that order, and the
	// bytes sent depend on it.
	f := &s.frame
	sc := viewScan{
		cands: s.cands[:0],
		chs:   f.Chests[:cap(f.Chests)],
		pls:   f.Players[:cap(f.Players)],
		wm:    wm, rot: rot, nch: nch,
	}
	self := w.pIdx[player]
	r, zx0, zy0 := g.zoneXY(w.pHot[player].zone)
	for cell := range 9 {
		zx, zy := zx0+int32(cell%3)-1, zy0+int32(cell/3)-1
		if zx < 0 || zy < 0 || zx >= g.zx || zy >= g.zy {
			continue
		}
		z := r*g.zpr + zy*g.zx + zx
		ent := p.zoneEnt[cell]
		sc.chests(w.chestPub[z*g.cpz:(z+1)*g.cpz], z*g.cpz, ent)
		j0 := w.zoneStart[z]
		sc.players(w.zonePlayers[j0:w.zoneStart[z+1]], self-j0, ent)
	}
	cands := sc.cands
	s.cands = cands
	nc, np := sc.nc, sc.np
	chs, pls := sc.chs[:min(nc, len(sc.chs))], sc.pls[:min(np, len(sc.pls))]

	// Packing.
	taken, tc, tp := len(cands), nc, np
	partial := false
	var last uint64 // greatest key taken, when not all are
	limit := schema.MaxDatagram
	if s.Budget > 0 {
		limit = min(s.Budget, limit)
	}
	if schema.SnapshotSize(nc, np, g1, e1) > limit {
		// Too much for one datagram: send a prefix in key order (oldest
		// first). The order is needed only now, and only for the first
		// k, where k players (the smallest entity) are what fits at
		// most: select those k, and sort them only if chests are among
		// them (then fewer fit and the cut point depends on the order).
		k := min(len(cands), fitPlayers(limit, g1, e1))
		selectSmallest(cands, k)
		cands = cands[:k]
		partial = true
		chestsIn := 0
		for _, key := range cands {
			last = max(last, key)
			if keyOf(key, &wm, rot) <= nch {
				chestsIn++
			}
		}
		taken, tc, tp = k, chestsIn, k-chestsIn
		if chestsIn > 0 {
			slices.Sort(cands)
			taken, tc, tp = 0, 0, 0
			for _, key := range cands {
				c, pl := tc, tp
				if keyOf(key, &wm, rot) <= nch {
					c++
				} else {
					pl++
				}
				if schema.SnapshotSize(c, pl, g1, e1) > limit {
					break
				}
				taken, tc, tp = taken+1, c, pl
			}
			if taken > 0 {
				last = cands[taken-1]
			}
		}
	}
	for e1 < nev && schema.SnapshotSize(tc, tp, g1, e1+1) <= limit {
		e1++
	}
	for g1 < ngone && schema.SnapshotSize(tc, tp, g1+1, e1) <= limit {
		g1++
	}

	// Watermark of this snapshot.
	mark := watermark{tick: now, key: ^uint32(0)}
	if partial {
		mark = wm // nothing taken: no progress, the baseline's still holds
		if taken > 0 {
			eff := uint32(last >> 32)
			off := rot
			if eff == wm.tick {
				off = wm.off
			}
			mark = watermark{tick: eff, key: uint32(last), off: off}
			v.cursor = uint32(last) + off + 1 // next round starts past it
		}
	}

	if partial {
		// Not everything fitted: the frame gets the prefix taken instead.
		chs, pls = chs[:0], pls[:0]
		for _, k := range cands[:taken] {
			if key := int32(keyOf(k, &wm, rot)); key <= int32(nch) {
				chs = append(chs, w.chestPub[key-1:key]...)
			} else {
				j := w.pIdx[key-1-int32(nch)]
				pls = append(pls, w.zonePlayers[j:j+1]...)
			}
		}
	}
	// The frame's slices are set once at the end: appending to its fields
	// directly would write a slice header to the heap per item.
	gone, evs := f.Gone[:0], f.Events[:0]
	i := p.evQ.head
	for range e1 {
		nd := &w.q.nodes[i]
		nd.markSent(now, v.prev)
		evs = append(evs, w.q.events[nd.ref].ev)
		i = nd.next
	}
	i = p.goneQ.head
	for range g1 {
		nd := &w.q.nodes[i]
		nd.markSent(now, v.prev)
		gone = append(gone, uint32(nd.ref))
		i = nd.next
	}
	f.Chests, f.Players, f.Gone, f.Events = chs, pls, gone, evs
	f.Tick = now
	f.BaselineTick = base
	f.LastActionSeq = p.win.contiguous()
	f.StateHash = w.Hash()
	f.You = w.zonePlayers[w.pIdx[player]]
	f.More = partial || e1 < nev || g1 < ngone

	v.sent[now%sentRing] = sentSnap{tick: now, mark: mark}
	v.prev = now

	out := s.enc.Snapshot(f)
	st := &s.Stats
	st.Snapshots++
	if base == 0 {
		st.Full++
	}
	if f.More {
		st.More++
	}
	st.Bytes += uint64(len(out))
	st.Chests += uint64(len(f.Chests))
	st.Players += uint64(len(f.Players))
	st.Gone += uint64(len(f.Gone))
	st.Events += uint64(len(f.Events))
	return out
}

// viewScan is the state of one snapshot's candidate scan. The scan is the
// engine's share of the fan-out (~30 players and ~36 chests per view at 10k
// players), so its inner loops are methods of their own: in Snapshot's large
// body the compiler kept their variables on the stack; here each loop works
// on locals in registers and stores them back once. The frame's arrays
// (chs, pls) are written by index up to their capacity and cut to length
// by the caller: a direct struct copy, with none of the append bookkeeping
// or the memmove call a one-element append makes.
type viewScan struct {
	cands  []uint64
	chs    []schema.ChestState  // the frame's chests, full capacity
	pls    []schema.PlayerState // the frame's players, full capacity
	nc, np int                  // candidates found (may exceed len(chs), len(pls))
	wm     watermark
	rot    uint32
	nch    uint32
}

// chests scans the chests of one zone, zone[i] being chest first+i, whose
// zone entered the view at tick ent.
func (sc *viewScan) chests(zone []schema.ChestState, first int32, ent uint32) {
	cands, chs, nc := sc.cands, sc.chs, sc.nc
	wm, rot := sc.wm, sc.rot
	key := uint32(first) + 1
	for i := range zone {
		cs := &zone[i]
		if k, ok := candidate(max(cs.ChangedTick, ent), key+uint32(i), &wm, rot); ok {
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
	wm, rot, base := sc.wm, sc.rot, sc.nch+1
	for i := range zone {
		if int32(i) == self {
			continue
		}
		ps := &zone[i]
		if k, ok := candidate(max(ps.ChangedTick, ent), base+ps.ID, &wm, rot); ok {
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
func candidate(eff, key uint32, wm *watermark, rot uint32) (uint64, bool) {
	switch {
	case eff < wm.tick:
		return 0, false
	case eff == wm.tick:
		rk := key - wm.off
		if rk <= wm.key {
			return 0, false
		}
		return uint64(eff)<<32 | uint64(rk), true
	}
	return uint64(eff)<<32 | uint64(key-rot), true
}

// keyOf undoes the rotation of a candidate sort key.
func keyOf(k uint64, wm *watermark, rot uint32) uint32 {
	if uint32(k>>32) == wm.tick {
		return uint32(k) + wm.off
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

package client

import "github.com/treasured/treasured/schema"

// MaxViewEntities bounds how many chests, and separately how many players,
// a View holds. A server puts an interest area in view, and the view
// remembers chests it has left (see the package documentation); a broken
// or hostile one naming ever new ids must not make the client grow without
// bound. A new entity beyond the bound evicts an older one (counted in
// ViewStats.Evicted), so the view keeps following the server.
const MaxViewEntities = 1 << 16

// ViewStats counts what View.Apply saw.
type ViewStats struct {
	Full        uint64 // snapshots with baseline_tick 0
	Delta       uint64 // snapshots with a baseline
	Stale       uint64 // snapshots not newer than the newest applied (reordered): only their Gone ids and own openings are used
	NoBase      uint64 // deltas that arrived before any full snapshot
	Evicted     uint64 // entities dropped to admit new ones past MaxViewEntities
	OwnOpenings uint64 // chest openings by this player seen in chest state
}

// View is the client's picture of the world: the chests and players of its
// interest area, rebuilt from full and delta snapshots by the rules in the
// package documentation ("The view").
//
// Every entry remembers the tick of the snapshot that wrote it, so a Gone in
// a late snapshot cannot remove a player that newer snapshots wrote and a
// complete full snapshot can tell what it did not list.
//
// Steady state allocates nothing. A View is owned by one goroutine.
type View struct {
	tick    uint32 // newest snapshot tick applied
	you     schema.PlayerState
	hadFull bool

	chests  entitySet[schema.ChestState]
	players entitySet[schema.PlayerState]

	Stats ViewStats
}

// Tick is the newest snapshot tick applied to the view.
func (v *View) Tick() uint32 { return v.tick }

// You is this player's own state from the newest snapshot.
func (v *View) You() schema.PlayerState { return v.you }

// NumChests is the number of chests in view.
func (v *View) NumChests() int { return len(v.chests.ents) }

// NumPlayers is the number of other players in view.
func (v *View) NumPlayers() int { return len(v.players.ents) }

// ChestAt returns the i-th chest in view, 0 <= i < NumChests(), in no
// particular order. The pointer is valid until the next Apply.
func (v *View) ChestAt(i int) *schema.ChestState { return &v.chests.ents[i].st }

// PlayerAt returns the i-th player in view, 0 <= i < NumPlayers().
func (v *View) PlayerAt(i int) *schema.PlayerState { return &v.players.ents[i].st }

// Chest returns the chest with id, if it is in view.
func (v *View) Chest(id uint32) (schema.ChestState, bool) { return v.chests.get(id) }

// Player returns the player with id, if it is in view.
func (v *View) Player(id uint32) (schema.PlayerState, bool) { return v.players.get(id) }

// Reset empties the view (a new session), keeping its storage.
func (v *View) Reset() {
	v.chests.reset()
	v.players.reset()
	v.tick, v.hadFull = 0, false
	v.you = schema.PlayerState{}
	v.Stats = ViewStats{}
}

// Apply folds snapshot f into the view by the rules of the package
// documentation ("The view"). me is this player's id; onOwnLoot, when not
// nil, is called with the loot id of every chest state naming me as opener
// with a loot id not seen before on that chest (the input of the
// exactly-once accounting, see Loot.Expect).
func (v *View) Apply(f *schema.SnapshotFrame, me uint32, onOwnLoot func(lootID uint64)) {
	t := f.Tick
	if f.BaselineTick == 0 {
		v.Stats.Full++
	} else {
		v.Stats.Delta++
		if !v.hadFull {
			v.Stats.NoBase++
		}
	}
	// Gone first, from late snapshots too: a departure removes only what
	// an older snapshot wrote, so a player seen again later stays.
	for _, id := range f.Gone {
		if i, ok := v.players.idx[id]; ok && v.players.ents[i].tick <= t {
			v.players.remove(i)
		}
	}
	if t <= v.tick && v.tick != 0 {
		// A late snapshot: every state in it is older than the view's, and
		// the server never counts on it (it deltas against the newest tick
		// acknowledged). Only own openings are taken from it, so the loot
		// accounting does not depend on arrival order.
		v.Stats.Stale++
		v.lateOwnOpenings(f, me, onOwnLoot)
		return
	}
	v.tick = t
	v.you = f.You
	for j := range f.Chests {
		c := &f.Chests[j]
		old, known := v.chests.upsert(c.ID, c, t, &v.Stats.Evicted)
		if isOwnOpening(c, me) && (!known || old.LootID != c.LootID) {
			v.Stats.OwnOpenings++
			if onOwnLoot != nil {
				onOwnLoot(c.LootID)
			}
		}
	}
	for j := range f.Players {
		p := &f.Players[j]
		v.players.upsert(p.ID, p, t, &v.Stats.Evicted)
	}
	if f.BaselineTick != 0 {
		return
	}
	v.hadFull = true
	if f.More {
		// A partial full snapshot: the rest of the interest area follows
		// in deltas, against this snapshot or an older acknowledged one,
		// and what it does not list may be exactly what those deltas
		// count on the view to hold.
		return
	}
	// A complete full snapshot lists the whole interest area: whatever
	// the view holds besides is out of it.
	v.chests.keepOnly(t)
	v.players.keepOnly(t)
}

// lateOwnOpenings reports the own openings of a late snapshot that the view
// does not show: the view has moved on, but the opening happened, and
// Loot.Expect counts each loot id once however often it is told.
func (v *View) lateOwnOpenings(f *schema.SnapshotFrame, me uint32, onOwnLoot func(uint64)) {
	for j := range f.Chests {
		c := &f.Chests[j]
		if !isOwnOpening(c, me) {
			continue
		}
		if cur, ok := v.chests.get(c.ID); ok && cur.LootID == c.LootID {
			continue // the view has it: counted when it was applied
		}
		v.Stats.OwnOpenings++
		if onOwnLoot != nil {
			onOwnLoot(c.LootID)
		}
	}
}

func isOwnOpening(c *schema.ChestState, me uint32) bool {
	return c.OpenedBy == me && me != schema.NoPlayer && c.LootID != 0
}

// entitySet holds one kind of entity of a View: a dense slice with an id ->
// index map (ids are world-wide, a view holds a few dozen of them: per-id
// slices would cost every client memory in proportion to the world).
// Removal swaps the last entry in.
//
// A snapshot tends to list a view's entities in the order it listed them
// before, which is the order they were added to ents: upsert looks at the
// entry after the one it wrote last before it asks the map. On a hit the
// map is not touched at all, which matters to a load generator holding
// thousands of views: each map lookup there is a cache miss or two.
type entitySet[S any] struct {
	ents []entityEntry[S]
	idx  map[uint32]int32
	hand int   // eviction cursor
	next int32 // the entry after the one upsert wrote last: the likely next id
}

type entityEntry[S any] struct {
	st   S
	id   uint32
	tick uint32 // tick of the snapshot that last wrote st
}

func (s *entitySet[S]) get(id uint32) (S, bool) {
	if i, ok := s.idx[id]; ok {
		return s.ents[i].st, true
	}
	var zero S
	return zero, false
}

// upsert writes st as entity id's state from the snapshot of tick t and
// returns the state it replaces, if any. When the set is full a new id
// evicts an entry that an older snapshot wrote, counted in evicted.
func (s *entitySet[S]) upsert(id uint32, st *S, t uint32, evicted *uint64) (old S, known bool) {
	if s.idx == nil {
		s.idx = make(map[uint32]int32, 64)
	}
	i := s.next
	if int(i) >= len(s.ents) {
		i = 0 // the last entry was written last: a new snapshot starts over
	}
	known = int(i) < len(s.ents) && s.ents[i].id == id
	if !known {
		i, known = s.idx[id]
	}
	if known {
		s.next = i + 1
		e := &s.ents[i]
		old, e.st, e.tick = e.st, *st, t
		return old, true
	}
	if len(s.ents) >= MaxViewEntities {
		if !s.evict(t) {
			*evicted++ // everything is this snapshot's: drop the newcomer
			return old, false
		}
		*evicted++
	}
	s.idx[id] = int32(len(s.ents))
	s.ents = append(s.ents, entityEntry[S]{st: *st, id: id, tick: t})
	s.next = int32(len(s.ents))
	return old, false
}

// evict removes one entry not written at tick t, round robin. A snapshot
// writes far fewer than MaxViewEntities entries, so the scan is short.
func (s *entitySet[S]) evict(t uint32) bool {
	for range len(s.ents) {
		s.hand %= len(s.ents)
		if s.ents[s.hand].tick != t {
			s.remove(int32(s.hand))
			return true
		}
		s.hand++
	}
	return false
}

// keepOnly removes every entry not written at tick t.
func (s *entitySet[S]) keepOnly(t uint32) {
	for i := int32(0); int(i) < len(s.ents); {
		if s.ents[i].tick != t {
			s.remove(i)
			continue
		}
		i++
	}
}

// remove swap-removes the entry at index i.
func (s *entitySet[S]) remove(i int32) {
	delete(s.idx, s.ents[i].id)
	last := int32(len(s.ents) - 1)
	if i != last {
		s.ents[i] = s.ents[last]
		s.idx[s.ents[i].id] = i
	}
	s.ents = s.ents[:last]
}

func (s *entitySet[S]) reset() {
	s.ents = s.ents[:0]
	clear(s.idx)
	s.hand, s.next = 0, 0
}

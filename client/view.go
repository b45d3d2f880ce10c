package client

import "github.com/treasured/treasured/schema"

// MaxViewEntities bounds how many chests, and separately how many players,
// a View holds. A server never puts more than an interest area in view; a
// broken or hostile one naming ever new ids must not make the client grow
// without bound, so entities beyond this are counted and ignored.
const MaxViewEntities = 1 << 16

// ViewStats counts what View.Apply saw.
type ViewStats struct {
	Full        uint64 // snapshots with baseline_tick 0
	Delta       uint64 // snapshots with a baseline
	Stale       uint64 // snapshots not newer than the newest one applied (reordered): only their Gone ids and own openings are used
	NoBase      uint64 // deltas that arrived before any full snapshot
	Overflow    uint64 // entities ignored because the view already held MaxViewEntities
	OwnOpenings uint64 // chest openings by this player seen in chest state
}

type chestEntry struct {
	st   schema.ChestState
	tick uint32 // tick of the snapshot that last wrote st
}

type playerEntry struct {
	st   schema.PlayerState
	tick uint32
}

// View is the client's picture of the world: the chests and players of its
// interest area, rebuilt from full and delta snapshots by the rules in the
// package documentation ("The view").
//
// Every entry remembers the tick of the snapshot that wrote it, so a Gone in
// a late snapshot cannot remove a player that newer snapshots wrote and a
// complete full snapshot can tell what it did not list.
//
// Entities live in dense slices with an id -> index map (ids are world-wide,
// a view holds a few dozen of them: per-id slices would cost every client
// memory in proportion to the world). Removal swaps the last entry in.
// Steady state allocates nothing. A View is owned by one goroutine.
type View struct {
	tick    uint32 // newest snapshot tick applied
	you     schema.PlayerState
	hadFull bool

	chests    []chestEntry
	chestIdx  map[uint32]int32
	players   []playerEntry
	playerIdx map[uint32]int32

	Stats ViewStats
}

// Tick is the newest snapshot tick applied to the view.
func (v *View) Tick() uint32 { return v.tick }

// You is this player's own state from the newest snapshot.
func (v *View) You() schema.PlayerState { return v.you }

// NumChests is the number of chests in view.
func (v *View) NumChests() int { return len(v.chests) }

// NumPlayers is the number of other players in view.
func (v *View) NumPlayers() int { return len(v.players) }

// ChestAt returns the i-th chest in view, 0 <= i < NumChests(), in no
// particular order. The pointer is valid until the next Apply.
func (v *View) ChestAt(i int) *schema.ChestState { return &v.chests[i].st }

// PlayerAt returns the i-th player in view, 0 <= i < NumPlayers().
func (v *View) PlayerAt(i int) *schema.PlayerState { return &v.players[i].st }

// Chest returns the chest with id, if it is in view.
func (v *View) Chest(id uint32) (schema.ChestState, bool) {
	if i, ok := v.chestIdx[id]; ok {
		return v.chests[i].st, true
	}
	return schema.ChestState{}, false
}

// Player returns the player with id, if it is in view.
func (v *View) Player(id uint32) (schema.PlayerState, bool) {
	if i, ok := v.playerIdx[id]; ok {
		return v.players[i].st, true
	}
	return schema.PlayerState{}, false
}

// Reset empties the view (a new session), keeping its storage.
func (v *View) Reset() {
	v.chests = v.chests[:0]
	v.players = v.players[:0]
	clear(v.chestIdx)
	clear(v.playerIdx)
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
	if v.chestIdx == nil {
		v.chestIdx = make(map[uint32]int32, 64)
		v.playerIdx = make(map[uint32]int32, 64)
	}
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
		if i, ok := v.playerIdx[id]; ok && v.players[i].tick <= t {
			v.removePlayer(i)
		}
	}
	if t <= v.tick && v.tick != 0 {
		// A late snapshot: every state in it is older than the view's, and
		// the server never counts on it (it deltas against the newest tick
		// acknowledged). Only own openings are taken from it, so the loot
		// accounting does not depend on arrival order.
		v.Stats.Stale++
		v.ownOpenings(f, me, onOwnLoot)
		return
	}
	v.tick = t
	v.you = f.You
	v.upsertChests(f.Chests, t, me, onOwnLoot)
	v.upsertPlayers(f.Players, t)
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
	for i := int32(0); int(i) < len(v.chests); {
		if v.chests[i].tick != t {
			v.removeChest(i)
			continue
		}
		i++
	}
	for i := int32(0); int(i) < len(v.players); {
		if v.players[i].tick != t {
			v.removePlayer(i)
			continue
		}
		i++
	}
}

// upsertChests writes the chest states of the snapshot of tick t, the newest
// the view has seen.
func (v *View) upsertChests(chests []schema.ChestState, t, me uint32, onOwnLoot func(uint64)) {
	for j := range chests {
		c := &chests[j]
		i, ok := v.chestIdx[c.ID]
		if !ok {
			if len(v.chests) >= MaxViewEntities {
				v.Stats.Overflow++
				continue
			}
			i = int32(len(v.chests))
			v.chests = append(v.chests, chestEntry{})
			v.chestIdx[c.ID] = i
		}
		e := &v.chests[i]
		if isOwnOpening(c, me) && (!ok || e.st.LootID != c.LootID) {
			v.Stats.OwnOpenings++
			if onOwnLoot != nil {
				onOwnLoot(c.LootID)
			}
		}
		e.st, e.tick = *c, t
	}
}

// upsertPlayers writes the player states of the snapshot of tick t.
func (v *View) upsertPlayers(players []schema.PlayerState, t uint32) {
	for j := range players {
		p := &players[j]
		i, ok := v.playerIdx[p.ID]
		if !ok {
			if len(v.players) >= MaxViewEntities {
				v.Stats.Overflow++
				continue
			}
			i = int32(len(v.players))
			v.players = append(v.players, playerEntry{})
			v.playerIdx[p.ID] = i
		}
		v.players[i] = playerEntry{st: *p, tick: t}
	}
}

// ownOpenings reports the own openings of a late snapshot that the view
// does not show: the view has moved on, but the opening happened, and
// Loot.Expect counts each loot id once however often it is told.
func (v *View) ownOpenings(f *schema.SnapshotFrame, me uint32, onOwnLoot func(uint64)) {
	for j := range f.Chests {
		c := &f.Chests[j]
		if !isOwnOpening(c, me) {
			continue
		}
		if i, ok := v.chestIdx[c.ID]; ok && v.chests[i].st.LootID == c.LootID {
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

// removeChest swap-removes the entry at index i.
func (v *View) removeChest(i int32) {
	delete(v.chestIdx, v.chests[i].st.ID)
	last := int32(len(v.chests) - 1)
	if i != last {
		v.chests[i] = v.chests[last]
		v.chestIdx[v.chests[i].st.ID] = i
	}
	v.chests = v.chests[:last]
}

func (v *View) removePlayer(i int32) {
	delete(v.playerIdx, v.players[i].st.ID)
	last := int32(len(v.players) - 1)
	if i != last {
		v.players[i] = v.players[last]
		v.playerIdx[v.players[i].st.ID] = i
	}
	v.players = v.players[:last]
}

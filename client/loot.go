package client

import "github.com/treasured/treasured/schema"

// LootKey identifies one loot event. The de-duplication key is the loot id
// and the event kind together: one loot is generated, later picked up or
// expired, and all of those events carry the same loot_id; each must be shown
// once.
type LootKey struct {
	ID   uint64
	Kind uint8 // wire.LootEventKind
}

// MaxLootKeys bounds how many shown keys, and separately how many expected
// own loot ids, a Loot remembers. A server's repeats stop a few round trips
// after an event and a view sees a few events a second, so a real session
// stays far below it; a broken or hostile server inventing ids must not
// grow the client without bound. Past it, new keys are dropped unshown
// (LootStats.Overflow) and new own ids are not registered (OwnOverflow).
const MaxLootKeys = 1 << 16

// LootStats is the exactly-once accounting of one client.
type LootStats struct {
	Received uint64    // event instances that arrived, repeats included
	Shown    [3]uint64 // events passed to the application, by kind
	Repeats  uint64    // instances dropped because their key was already shown
	Stale    uint64    // instances dropped because they are older than the window and unknown
	Expected uint64    // own openings whose LootGenerated must be shown
	Met      uint64    // of those, already shown
	// Overflow counts instances dropped because MaxLootKeys keys were
	// remembered, OwnOverflow own loot ids not registered for the same.
	Overflow    uint64
	OwnOverflow uint64
}

// TotalShown sums Shown over all kinds.
func (s *LootStats) TotalShown() uint64 { return s.Shown[0] + s.Shown[1] + s.Shown[2] }

// Loot de-duplicates loot events and keeps the exactly-once accounting.
//
// The server repeats an event in every snapshot until the client acknowledges
// a tick that carried it, and the network may duplicate and reorder on top, so
// the same event normally arrives several times. Loot remembers every key it
// has shown with the event's tick; Offer says whether an instance is new.
//
// Window bounds memory: keys whose tick is more than Window ticks behind the
// newest event tick are forgotten, and an instance that old whose key is not
// remembered is dropped as Stale rather than shown, because it can no longer
// be told apart from a repeat (a repeat shown twice would be the studio's
// duplicate-loot bug). Window 0 remembers everything. Repeats stop a few round
// trips after the event, so any window of seconds never drops a first
// showing in practice, and Stale says if it did.
//
// Lost loot is what the server generated for this client that the client
// never showed. The client knows one such set for certain: the loot of chests
// it opened itself (the chest state names it as opener, and the finder always
// gets its LootGenerated). Expect registers those ids; Lost counts the ones
// whose LootGenerated was never shown.
//
// The own-openings memory is bounded by the same Window, counted on the
// snapshot clock (Advance) as well as on event ticks: a hostile or broken
// server that names this player opener of a new loot id in every snapshot,
// and never sends an event, must not grow it without bound. An expectation
// older than the window stays counted (Expected, and Lost if unmet); only
// its id is forgotten.
type Loot struct {
	Window uint32

	seen      map[LootKey]uint32 // shown key -> event tick
	own       map[uint64]ownLoot // expected own loot id
	newest    uint32             // newest event tick seen
	clock     uint32             // newest event or snapshot tick seen
	lastPrune uint32

	Stats LootStats
}

// ownLoot is one expected own loot id: when it was expected (Loot.clock)
// and whether its LootGenerated was shown.
type ownLoot struct {
	tick uint32
	met  bool
}

// Reset forgets everything (a new session), keeping Window and the maps'
// storage.
func (l *Loot) Reset() {
	clear(l.seen)
	clear(l.own)
	l.newest, l.clock, l.lastPrune = 0, 0, 0
	l.Stats = LootStats{}
}

// Offer reports whether ev is shown for the first time and must be passed to
// the application; false means it is a repeat (or too old to tell).
func (l *Loot) Offer(ev *schema.LootEvent) bool {
	if l.seen == nil {
		l.seen = make(map[LootKey]uint32, 64)
	}
	l.Stats.Received++
	k := LootKey{ev.LootID, ev.Kind}
	if _, ok := l.seen[k]; ok {
		l.Stats.Repeats++
		return false
	}
	if l.Window != 0 && ev.Tick+l.Window < l.newest {
		l.Stats.Stale++
		return false
	}
	if ev.Tick > l.newest {
		l.newest = ev.Tick
		l.Advance(ev.Tick) // before the cap below, so the window frees room first
	}
	if len(l.seen) >= MaxLootKeys {
		// The scheduled prune frees room as event ticks advance; a sweep
		// per dropped instance would let a flood cost O(keys) each.
		l.Stats.Overflow++
		return false
	}
	l.seen[k] = ev.Tick
	if ev.Kind < uint8(len(l.Stats.Shown)) {
		l.Stats.Shown[ev.Kind]++
	}
	if ev.Kind == lootGenerated {
		if o, ok := l.own[ev.LootID]; ok && !o.met {
			l.own[ev.LootID] = ownLoot{tick: o.tick, met: true}
			l.Stats.Met++
		}
	}
	return true
}

// Advance moves the window's clock to tick (a snapshot's tick, which Session
// passes before applying the snapshot) and forgets what fell out of it.
func (l *Loot) Advance(tick uint32) {
	if tick > l.clock {
		l.clock = tick
		l.prune()
	}
}

// lootGenerated is wire.LootEventKindGenerated; kept as a constant here so
// the accounting does not depend on the generated package's types.
const lootGenerated = 0

// Expect registers lootID as generated for this client (its own opening), so
// its LootGenerated must be shown. Repeated calls for one id count once.
func (l *Loot) Expect(lootID uint64) {
	if l.own == nil {
		l.own = make(map[uint64]ownLoot, 16)
	}
	if _, ok := l.own[lootID]; ok {
		return
	}
	if len(l.own) >= MaxLootKeys {
		l.Stats.OwnOverflow++
		return
	}
	l.Stats.Expected++
	_, shown := l.seen[LootKey{lootID, lootGenerated}]
	l.own[lootID] = ownLoot{tick: l.clock, met: shown}
	if shown {
		l.Stats.Met++
	}
}

// Lost is the number of expected own loot ids whose LootGenerated has not
// been shown (yet). Read it after the session drained.
func (l *Loot) Lost() uint64 { return l.Stats.Expected - l.Stats.Met }

// Seen reports whether key k has been shown.
func (l *Loot) Seen(k LootKey) bool {
	_, ok := l.seen[k]
	return ok
}

// prune forgets keys and own ids older than the window, at most once per
// quarter window so the sweep is amortised. Shown keys age on event ticks
// (newest), which is what Offer's Stale test compares with; own ids on the
// clock, which a snapshot without events also moves.
func (l *Loot) prune() {
	if l.Window == 0 || l.clock < l.Window || l.clock-l.lastPrune < l.Window/4 {
		return
	}
	l.lastPrune = l.clock
	if l.newest >= l.Window {
		horizon := l.newest - l.Window
		for k, t := range l.seen {
			if t < horizon {
				delete(l.seen, k)
			}
		}
	}
	horizon := l.clock - l.Window
	for id, o := range l.own {
		if o.tick < horizon {
			delete(l.own, id)
		}
	}
}

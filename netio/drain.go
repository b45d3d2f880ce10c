package netio

import "github.com/treasured/treasured/engine"

// drainState builds one tick's records from the rings and removes a session
// that both joined and left within the tick.
//
// Why: the engine orders a tick's records by (player, kind, seq), and
// RecLeave sorts before RecJoin, because "a Leave and a Join of the same slot
// in one tick mean the old session left, a new one joined" (engine/api.go).
// A client that connects and says Bye (or is replaced) within one tick
// produces Join(g) then Leave(g) for the same slot and generation; sorted,
// that would read "leave, then join", and the engine would keep a player
// that netio has already freed. Such a pair never reaches the engine: both
// records, and any inputs of that generation between them, are removed here.
// The result is what the engine would have seen had the client never come,
// which is deterministic and journals cleanly.
//
// Owner: the tick goroutine.
type drainState struct {
	joinAt    []int32 // per slot: 1 + index in recs of this tick's RecJoin; 0 if none
	touched   []int32 // slots whose joinAt is set, to reset them after the tick
	cancelled []slotGen
}

type slotGen struct {
	slot int32
	gen  uint32
}

func newDrainState(maxPlayers int) drainState {
	return drainState{
		joinAt:    make([]int32, maxPlayers),
		touched:   make([]int32, 0, maxPlayers),
		cancelled: make([]slotGen, 0, 64),
	}
}

// add appends r to recs, unless r is the Leave of a Join earlier in recs.
func (d *drainState) add(recs []engine.Record, r *engine.Record) []engine.Record {
	if r.Player < 0 || int(r.Player) >= len(d.joinAt) {
		return append(recs, *r) // not ours to judge; the engine ignores bad slots
	}
	switch r.Kind {
	case engine.RecJoin:
		if d.joinAt[r.Player] == 0 {
			d.touched = append(d.touched, r.Player)
		}
		d.joinAt[r.Player] = int32(len(recs) + 1)
	case engine.RecLeave:
		if j := d.joinAt[r.Player]; j > 0 && recs[j-1].Gen == r.Gen {
			recs[j-1].Kind = 0 // removed in finish
			d.joinAt[r.Player] = 0
			d.cancelled = append(d.cancelled, slotGen{r.Player, r.Gen})
			return recs
		}
	}
	return append(recs, *r)
}

// finish removes cancelled joins and their inputs, and resets for the next
// tick. It reuses recs' array.
func (d *drainState) finish(recs []engine.Record) []engine.Record {
	for _, p := range d.touched {
		d.joinAt[p] = 0
	}
	d.touched = d.touched[:0]
	if len(d.cancelled) == 0 {
		return recs
	}
	out := recs[:0]
	for i := range recs {
		r := &recs[i]
		if r.Kind == 0 || (r.Kind == engine.RecInput && d.isCancelled(r.Player, r.Gen)) {
			continue
		}
		out = append(out, *r)
	}
	d.cancelled = d.cancelled[:0]
	return out
}

// isCancelled scans a list that is almost always empty and never long.
func (d *drainState) isCancelled(slot int32, gen uint32) bool {
	for _, c := range d.cancelled {
		if c.slot == slot && c.gen == gen {
			return true
		}
	}
	return false
}

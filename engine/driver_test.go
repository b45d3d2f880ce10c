package engine

import (
	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// mixDriver plays the standard action mix for n players without allocating
// once built, so benchmarks and AllocsPerRun measure the engine, not it:
//
//   - every player sends one Input every tick, acknowledging the newest
//     snapshot, with a Move towards its current goal (full speed, so most
//     players change every tick, the expensive case for snapshots);
//   - goals are random points within ~20 m; about every 200 ticks (10 s,
//     staggered by slot) the goal is a random chest of the player's zone,
//     and once within reach the player sends OpenChest;
//   - the tick after, if that chest holds loot (its own or anybody's), the
//     player sends PickupLoot for it, 3 times out of 4 (the rest expires);
//   - churn sessions per tick end (Leave) and their slot is taken by a new
//     session (Join, next generation) in the same tick.
//
// It reads positions and chests from the world directly (it is a load
// generator, not a client); the exactly-once test uses real model clients.
type mixDriver struct {
	w     *World
	rng   uint64
	n     int32
	recs  []Record
	seq   []uint32
	goal  []schema.Vec2
	chest []int32  // chest being walked to, -1 when wandering
	next  []uint32 // tick of the next chest run
	pick  []int32  // chest to pick loot from next tick, -1 none
	ack   uint32   // tick to acknowledge (set by the caller after snapshots)
	churn int32    // sessions that end and are replaced by a new one, per tick
	next0 int32    // next slot to churn
}

const mixChestEvery = 200

func newMixDriver(w *World, n int, seed uint64) *mixDriver {
	d := &mixDriver{
		w: w, rng: seed | 1, n: int32(n),
		recs:  make([]Record, 0, n),
		seq:   make([]uint32, n),
		goal:  make([]schema.Vec2, n),
		chest: make([]int32, n),
		next:  make([]uint32, n),
		pick:  make([]int32, n),
	}
	for i := range d.chest {
		d.chest[i], d.pick[i] = -1, -1
		d.next[i] = uint32(i % mixChestEvery)
	}
	return d
}

func (d *mixDriver) rand() uint64 {
	// xorshift64*: the driver's own RNG, independent of the engine.
	d.rng ^= d.rng >> 12
	d.rng ^= d.rng << 25
	d.rng ^= d.rng >> 27
	return d.rng * 0x2545f4914f6cdd1d
}

// joins returns the Join records of all n players (slot i, gen 1).
func (d *mixDriver) joins() []Record {
	d.recs = d.recs[:0]
	for i := range d.n {
		d.recs = append(d.recs, Record{Kind: RecJoin, Player: i, Gen: 1, Region: uint8(int(i) % d.w.cfg.Regions), Key: uint64(i) + 1})
	}
	return d.recs
}

// inputs returns this tick's records; valid until the next call.
func (d *mixDriver) inputs() []Record {
	w := d.w
	g := &w.geo
	now := w.tick + 1 // the tick these records will be applied in
	d.recs = d.recs[:0]
	for i := range d.n {
		p := &w.players[i]
		hot := &w.pHot[i]
		if !p.active {
			continue
		}
		r := Record{Kind: RecInput, Player: i, Gen: p.gen, AckTick: d.ack}
		add := func(kind wire.ActionKind, target uint64, pos schema.Vec2) {
			d.seq[i]++
			r.Actions[r.N] = schema.Action{Seq: d.seq[i], Kind: uint8(kind), Target: target, Pos: pos}
			r.N++
		}
		if c := d.pick[i]; c >= 0 {
			d.pick[i] = -1
			// A quarter of the loot is left to expire.
			if ch := &w.chests[c]; ch.loot >= 0 && d.rand()%4 != 0 {
				add(wire.ActionKindPickupLoot, ch.lootID, schema.Vec2{})
			}
		}
		if c := d.chest[i]; c >= 0 {
			if dist2(hot.pos, w.chests[c].pos) <= g.reach2 {
				add(wire.ActionKindOpenChest, uint64(c), schema.Vec2{})
				d.pick[i], d.chest[i] = c, -1
			}
		} else if now >= d.next[i] && g.cpz > 0 {
			c := hot.zone*g.cpz + int32(d.rand()%uint64(g.cpz))
			d.chest[i], d.goal[i] = c, w.chests[c].pos
			d.next[i] = now + mixChestEvery
		}
		if d.chest[i] < 0 && dist2(hot.pos, d.goal[i]) <= 4*g.maxSpeed*g.maxSpeed {
			h := d.rand()
			d.goal[i] = schema.Vec2{
				X: hot.pos.X + int32(h%40_001) - 20_000,
				Y: hot.pos.Y + int32((h>>32)%40_001) - 20_000,
			}
			d.goal[i].X = min(max(d.goal[i].X, 0), g.w-1)
			d.goal[i].Y = min(max(d.goal[i].Y, 0), g.h-1)
		}
		add(wire.ActionKindMove, 0, d.goal[i])
		d.recs = append(d.recs, r)
	}
	for range d.churn {
		i := d.next0
		d.next0 = (d.next0 + 1) % d.n
		p := &w.players[i]
		d.recs = append(d.recs,
			Record{Kind: RecLeave, Player: i, Gen: p.gen},
			Record{Kind: RecJoin, Player: i, Gen: p.gen + 1, Region: p.region, Key: uint64(i) + 1})
		d.seq[i], d.chest[i], d.pick[i] = 0, -1, -1
	}
	return d.recs
}

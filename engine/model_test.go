package engine

import (
	"math/rand/v2"
	"testing"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// modelClient is the reference client of the protocol, as docs/PROTOCOL.md defines
// it, reduced to what the engine's promises can be checked against:
//
//   - acknowledges the newest snapshot tick it received;
//   - applies snapshots in tick order (an older one arriving late only
//     contributes its loot events), Gone before states, and keeps the latest
//     state of every chest and player it was told about;
//   - shows each loot event once: (loot_id, kind) it has not shown before;
//     a copy whose content differs from the one shown is a conflict;
//   - repeats its unacknowledged actions (the oldest 8) in every Input and
//     makes no new action while 8 are outstanding, so none is abandoned.
type modelClient struct {
	slot   int32
	gen    uint32
	rng    *rand.Rand
	reach  int64
	active bool

	newest   uint32 // newest snapshot applied
	received uint32 // newest snapshot tick received (acknowledged)
	seq      uint32
	unacked  []schema.Action
	more     bool

	you     schema.PlayerState
	chests  map[uint32]schema.ChestState
	players map[uint32]schema.PlayerState
	shown   map[evKey]schema.LootEvent
	loot    map[uint64]schema.LootEvent // generated, not yet picked up or expired

	copies    int // loot events received, repeats included
	conflicts int
	goal      uint32
	idle      bool // stop making new actions (drain)
}

type evKey struct {
	id   uint64
	kind uint8
}

func newModelClient(slot int32, gen uint32, reach int32, seed uint64) *modelClient {
	return &modelClient{
		slot: slot, gen: gen, active: true,
		rng:     rand.New(rand.NewPCG(seed, uint64(slot)<<32|uint64(gen))),
		reach:   int64(reach) * int64(reach),
		chests:  map[uint32]schema.ChestState{},
		players: map[uint32]schema.PlayerState{},
		shown:   map[evKey]schema.LootEvent{},
		loot:    map[uint64]schema.LootEvent{},
		goal:    ^uint32(0),
	}
}

// receive processes one snapshot datagram.
func (c *modelClient) receive(t testing.TB, buf []byte) {
	m := wire.GetRootAsMessage(buf, 0)
	if m.BodyType() != wire.BodySnapshot {
		t.Fatalf("client %d: body %v", c.slot, m.BodyType())
	}
	var tab flatbuffers.Table
	m.Body(&tab)
	var s wire.Snapshot
	s.Init(tab.Bytes, tab.Pos)
	tick := s.Tick()
	c.received = max(c.received, tick)

	var ev wire.LootEvent
	for i := range s.EventsLength() {
		s.Events(&ev, i)
		var pos wire.Vec2
		e := schema.LootEvent{
			LootID: ev.LootId(), Kind: uint8(ev.Kind()), Item: ev.Item(), Qty: ev.Qty(),
			Chest: ev.Chest(), Player: ev.Player(), Tick: ev.Tick(),
		}
		p := ev.Pos(&pos)
		e.Pos = schema.Vec2{X: p.X(), Y: p.Y()}
		c.copies++
		k := evKey{e.LootID, e.Kind}
		if old, seen := c.shown[k]; seen {
			if old != e {
				c.conflicts++
			}
			continue
		}
		c.shown[k] = e
		if e.Kind == uint8(wire.LootEventKindGenerated) {
			c.loot[e.LootID] = e
		} else {
			delete(c.loot, e.LootID)
		}
	}
	if tick <= c.newest {
		return // late: its states are older than what we hold
	}
	c.newest = tick
	if s.BaselineTick() == 0 {
		// A full snapshot: whatever it does not list left the view (as
		// client.View purges it), Gone or no Gone.
		clear(c.players)
	}
	for i := range s.GoneLength() {
		delete(c.players, s.Gone(i))
	}
	var cs wire.ChestState
	var pos wire.Vec2
	for i := range s.ChestsLength() {
		s.Chests(&cs, i)
		p := cs.Pos(&pos)
		c.chests[cs.Id()] = schema.ChestState{
			ID: cs.Id(), Status: uint8(cs.Status()), Generation: cs.Generation(), LootID: cs.LootId(),
			OpenedBy: cs.OpenedBy(), Pos: schema.Vec2{X: p.X(), Y: p.Y()}, ChangedTick: cs.ChangedTick(),
		}
	}
	var ps wire.PlayerState
	for i := range s.PlayersLength() {
		s.Players(&ps, i)
		c.players[ps.Id()] = playerOf(&ps)
	}
	c.you = playerOf(s.You(&ps))
	c.more = s.More()
	done := s.LastActionSeq()
	k := 0
	for k < len(c.unacked) && c.unacked[k].Seq <= done {
		k++
	}
	c.unacked = c.unacked[k:]
}

func playerOf(ps *wire.PlayerState) schema.PlayerState {
	var pos wire.Vec2
	p := ps.Pos(&pos)
	return schema.PlayerState{ID: ps.Id(), Pos: schema.Vec2{X: p.X(), Y: p.Y()}, Zone: ps.Zone(), Items: ps.Items(), ChangedTick: ps.ChangedTick()}
}

// input makes this tick's Input record: maybe new actions, then the oldest 8
// unacknowledged ones.
func (c *modelClient) input() Record {
	if !c.idle && c.newest != 0 && len(c.unacked) < schema.MaxActions {
		c.act()
	}
	r := Record{Kind: RecInput, Player: c.slot, Gen: c.gen, AckTick: c.received}
	r.N = uint8(copy(r.Actions[:], c.unacked))
	return r
}

func (c *modelClient) add(kind wire.ActionKind, target uint64, pos schema.Vec2) {
	c.seq++
	c.unacked = append(c.unacked, schema.Action{Seq: c.seq, Kind: uint8(kind), Target: target, Pos: pos})
}

// act: walk to a closed chest it knows, open it when in reach, pick up loot
// it was told about when in reach. Several clients chase the same chests and
// loot, so openings and pickups race.
func (c *modelClient) act() {
	for id, ev := range c.loot {
		if dist2(c.you.Pos, ev.Pos) <= c.reach && len(c.unacked) < schema.MaxActions {
			c.add(wire.ActionKindPickupLoot, id, schema.Vec2{})
			delete(c.loot, id) // try once
		}
	}
	ch, ok := c.chests[c.goal]
	if !ok || ch.Status != uint8(wire.ChestStatusClosed) {
		c.goal = ^uint32(0)
		for id, cs := range c.chests { // map order: a random known chest
			if cs.Status == uint8(wire.ChestStatusClosed) {
				c.goal, ch, ok = id, cs, true
				break
			}
		}
	}
	if !ok {
		// Nothing known to open: wander.
		c.add(wire.ActionKindMove, 0, schema.Vec2{X: c.you.Pos.X + c.rng.Int32N(40_001) - 20_000, Y: c.you.Pos.Y + c.rng.Int32N(40_001) - 20_000})
		return
	}
	if dist2(c.you.Pos, ch.Pos) <= c.reach {
		if len(c.unacked) < schema.MaxActions {
			c.add(wire.ActionKindOpenChest, uint64(ch.ID), schema.Vec2{})
		}
		c.goal = ^uint32(0)
		return
	}
	c.add(wire.ActionKindMove, 0, ch.Pos)
}

// hostileNet is a user-space lossy link: each datagram is dropped with
// probability drop, else delivered once (or twice with probability dup),
// each copy after an independent delay of 0..maxDelay ticks, which reorders.
type hostileNet[T any] struct {
	rng        *rand.Rand
	drop, dup  float64
	maxDelay   int
	inflight   []flight[T]
	sent, lost int
	dups       int
	reordered  int
	lastDue    map[int32]uint32
}

type flight[T any] struct {
	due  uint32
	to   int32
	seq  int
	data T
}

func newHostileNet[T any](seed uint64, drop, dup float64, maxDelay int) *hostileNet[T] {
	return &hostileNet[T]{rng: rand.New(rand.NewPCG(seed, 99)), drop: drop, dup: dup, maxDelay: maxDelay, lastDue: map[int32]uint32{}}
}

func (n *hostileNet[T]) send(now uint32, to int32, data T) {
	n.sent++
	if n.rng.Float64() < n.drop {
		n.lost++
		return
	}
	copies := 1
	if n.rng.Float64() < n.dup {
		copies = 2
		n.dups++
	}
	for range copies {
		due := now + uint32(n.rng.IntN(n.maxDelay+1))
		if due < n.lastDue[to] {
			n.reordered++
		}
		n.lastDue[to] = max(n.lastDue[to], due)
		n.inflight = append(n.inflight, flight[T]{due: due, to: to, seq: n.sent, data: data})
	}
}

// deliver calls f for every datagram due by now, in a shuffled order.
func (n *hostileNet[T]) deliver(now uint32, f func(to int32, data T)) {
	var due []flight[T]
	keep := n.inflight[:0]
	for _, fl := range n.inflight {
		if fl.due <= now {
			due = append(due, fl)
		} else {
			keep = append(keep, fl)
		}
	}
	n.inflight = keep
	n.rng.Shuffle(len(due), func(i, j int) { due[i], due[j] = due[j], due[i] })
	for _, fl := range due {
		f(fl.to, fl.data)
	}
}

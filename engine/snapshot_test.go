package engine

import (
	"testing"

	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// burstWorld: one region of 6x3 zones of 20 m with 40 chests per zone. The
// observer stands in zone (1,1) and sees the 360 chests of columns 0-2; the
// opener stands in column 5, out of that view, with a reach covering the
// region, so it can open 300 of those chests in one tick and must be told of
// each by the "actor" rule alone.
func burstWorld(t *testing.T) (*World, Config) {
	cfg := DefaultConfig()
	cfg.Regions, cfg.ZonesX, cfg.ZonesY, cfg.ZoneSize = 1, 6, 3, 20_000
	cfg.ChestsPerZone = 40
	cfg.MaxPlayers = 8
	cfg.RespawnTicks, cfg.LootTTLTicks = 20_000, 10_000 // nothing changes back during the test
	cfg.ReachMM = 200_000
	cfg.MaxSpeedMM = 150_000 // one Move reaches any post
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w, cfg
}

// burstHarness runs the observer (slot 1) and the opener (slot 5) through a
// link with the given loss/dup/delay (both ways) and returns after the burst
// is fully delivered, or fails after limit ticks.
func runBurst(t *testing.T, drop, dup float64, delay int, limit int) (ticks int) {
	w, cfg := burstWorld(t)
	sc := NewScratch()
	obs := newModelClient(1, 1, 0, 1)
	opn := newModelClient(5, 1, 0, 2)
	obs.idle, opn.idle = true, true
	clients := []*modelClient{obs, opn}
	up := newHostileNet[Record](5, drop, dup, delay)
	down := newHostileNet[[]byte](6, drop, dup, delay)
	o := newOracle(cfg)
	slots := map[int32]uint32{1: 1, 5: 1}
	var next []Record
	step := func() {
		up.deliver(w.Tick()+1, func(_ int32, r Record) { next = append(next, r) })
		w.Step(next)
		next = next[:0]
		o.observe(t, w, slots)
		for _, c := range clients {
			if buf := w.Snapshot(c.slot, sc); buf != nil {
				down.send(w.Tick(), c.slot, append([]byte(nil), buf...))
			}
		}
		down.deliver(w.Tick(), func(to int32, b []byte) {
			for _, c := range clients {
				if c.slot == to {
					c.receive(t, b)
				}
			}
		})
		for _, c := range clients {
			up.send(w.Tick(), c.slot, c.input())
		}
	}
	// Join (reliable), then walk both to their posts and let the observer
	// learn its view.
	next = append(next, Record{Kind: RecJoin, Player: 1, Gen: 1}, Record{Kind: RecJoin, Player: 5, Gen: 1})
	step()
	obs.add(wire.ActionKindMove, 0, schema.Vec2{X: 30_000, Y: 30_000})
	opn.add(wire.ActionKindMove, 0, schema.Vec2{X: 110_000, Y: 30_000})
	inView := func() int { // chests of columns 0-2 the observer knows
		n := 0
		for id := range obs.chests {
			if id/uint32(cfg.ChestsPerZone)%6 <= 2 {
				n++
			}
		}
		return n
	}
	for range 200 {
		step()
		if len(obs.unacked) == 0 && len(opn.unacked) == 0 && obs.you.Pos == (schema.Vec2{X: 30_000, Y: 30_000}) && !obs.more && inView() == 360 {
			break
		}
	}
	if inView() != 360 || obs.more {
		t.Fatalf("observer never got its view: %d chests, more %v", inView(), obs.more)
	}

	// The burst: 300 OpenChest in one tick, in 38 Inputs, delivered
	// reliably so that they all land in the same tick.
	var targets []uint64
	for c := range uint32(w.NumChests()) {
		if z := c / uint32(cfg.ChestsPerZone); z%6 <= 2 && len(targets) < 300 {
			targets = append(targets, uint64(c))
		}
	}
	for _, c := range targets {
		opn.add(wire.ActionKindOpenChest, c, schema.Vec2{})
	}
	for i := 0; i < len(opn.unacked); i += schema.MaxActions {
		r := Record{Kind: RecInput, Player: 5, Gen: 1, AckTick: opn.received}
		r.N = uint8(copy(r.Actions[:], opn.unacked[i:]))
		next = append(next, r)
	}
	before := w.Stats().LootGenerated
	step()
	burst := w.Tick()
	if got := w.Stats().LootGenerated - before; got != 300 {
		t.Fatalf("burst opened %d chests, want 300", got)
	}
	if n := len(w.TickEvents()); n != 300 {
		t.Fatalf("burst tick has %d events", n)
	}
	for ticks = 1; ticks <= limit; ticks++ {
		step()
		if burstDelivered(w, o, obs, opn, targets) {
			t.Logf("drop %.2f dup %.2f delay %d: 300 chest changes and 600 events delivered %d ticks after the burst (tick %d)",
				drop, dup, delay, ticks, burst)
			return ticks
		}
	}
	opened := 0
	for _, c := range targets {
		if obs.chests[uint32(c)].Status == uint8(wire.ChestStatusOpened) {
			opened++
		}
	}
	t.Fatalf("after %d ticks: observer knows %d/300 opened chests, shown %d events (want %d); opener shown %d (want %d); %+v",
		limit, opened, len(obs.shown), len(o.expected[session{1, 1}]), len(opn.shown), len(o.expected[session{5, 1}]), w.Stats())
	return 0
}

func burstDelivered(w *World, o *oracle, obs, opn *modelClient, targets []uint64) bool {
	for _, c := range targets {
		ch, _ := w.Chest(uint32(c))
		if obs.chests[uint32(c)] != ch {
			return false
		}
	}
	for _, c := range []*modelClient{obs, opn} {
		exp := o.expected[session{c.slot, c.gen}]
		if len(exp) != 300 || len(c.shown) != len(exp) || c.conflicts != 0 {
			return false
		}
		for k := range exp {
			if _, ok := c.shown[k]; !ok {
				return false
			}
		}
	}
	return true
}

// TestBurstCleanLink: 300 chests change in one tick in one view, 12 KB of
// chest states and 12 KB of events for a 1200-byte datagram. With a client
// that acknowledges every snapshot at once, all reach it within a bound set
// by the datagram's room: each snapshot carries ~13 chests beside ~12 events.
func TestBurstCleanLink(t *testing.T) {
	ticks := runBurst(t, 0, 0, 0, 60)
	if ticks < 300/maxSnapChests {
		t.Fatalf("delivered in %d ticks: faster than the datagram allows, the test is broken", ticks)
	}
}

// TestBurstHostileLink: the same burst through 22 % loss, 5 % duplication and
// up to 3 ticks of reordering each way. Snapshots that are partial, lost and
// acknowledged out of order must still deliver every change and every event.
func TestBurstHostileLink(t *testing.T) {
	runBurst(t, 0.22, 0.05, 3, 600)
}

// TestLastActionSeqIsContiguous: a hole in the action_seq sequence holds
// last_action_seq below it, so the client keeps repeating the missing action.
func TestLastActionSeqIsContiguous(t *testing.T) {
	w, _ := burstWorld(t)
	sc := NewScratch()
	c := newModelClient(1, 1, 0, 1)
	w.Step([]Record{{Kind: RecJoin, Player: 1, Gen: 1}})
	c.receive(t, w.Snapshot(1, sc))
	mv := func(seq uint32) Record {
		r := Record{Kind: RecInput, Player: 1, Gen: 1, N: 1}
		r.Actions[0] = schema.Action{Seq: seq, Kind: uint8(wire.ActionKindMove), Pos: schema.Vec2{X: int32(seq) * 100}}
		return r
	}
	for _, step := range []struct {
		seqs []uint32
		want uint32
	}{{[]uint32{1}, 1}, {[]uint32{3, 4}, 1}, {[]uint32{6}, 1}, {[]uint32{2}, 4}, {[]uint32{5}, 6}, {[]uint32{5, 6, 1}, 6}} {
		var recs []Record
		for _, s := range step.seqs {
			recs = append(recs, mv(s))
		}
		w.Step(recs)
		c.receive(t, w.Snapshot(1, sc))
		if got := w.players[1].win.Contiguous(); got != step.want {
			t.Fatalf("after %v: last_action_seq %d, want %d", step.seqs, got, step.want)
		}
	}
	if st := w.Stats(); st.ActionsApplied != 6 || st.ActionsDuplicate != 3 {
		t.Fatalf("applied %d duplicates %d, want 6 and 3", st.ActionsApplied, st.ActionsDuplicate)
	}
}

// TestDeliverySpan: an event is dropped only on the ack of a snapshot that
// carried it. A snapshot short of room leaves it out; a client that got only
// that one must get it again.
func TestDeliverySpan(t *testing.T) {
	q := newQueues(8, 8, 8, 8, 1)
	l := emptyQueue
	ev := q.newEvent(&schema.LootEvent{LootID: 1})
	q.events[ev].refs++
	if !q.push(&l, ev, true) {
		t.Fatal("push")
	}
	nd := &q.nodes[l.head]
	nd.markSent(10, 9)  // carried by 10 (first time)
	nd.markSent(11, 10) // and 11
	// 12 had no room for it, and the client acknowledges 12.
	if n := q.dropAcked(&l, 12, true); n != 0 {
		t.Fatal("ack of tick 12, which did not carry the event, dropped it")
	}
	// 13 carries it again: the span restarts.
	nd.markSent(13, 12)
	if nd.first != 13 || nd.last != 13 {
		t.Fatalf("span [%d,%d], want [13,13]", nd.first, nd.last)
	}
	if n := q.dropAcked(&l, 13, true); n != 1 || l.n != 0 || q.eventsUsed != 0 || q.nodesUsed != 0 {
		t.Fatalf("ack of 13: dropped %d, queue %d, events %d, nodes %d", n, l.n, q.eventsUsed, q.nodesUsed)
	}
}

// TestGoneWithdrawn: a player leaving a view and coming back before the Gone
// was acknowledged withdraws the Gone, so it cannot arrive after the fresh
// state and erase it.
func TestGoneWithdrawn(t *testing.T) {
	w, _ := burstWorld(t)
	move := func(slot int32, seq uint32, x int32) Record {
		r := Record{Kind: RecInput, Player: slot, Gen: 1, N: 1}
		r.Actions[0] = schema.Action{Seq: seq, Kind: uint8(wire.ActionKindMove), Pos: schema.Vec2{X: x, Y: 30_000}}
		return r
	}
	w.Step([]Record{{Kind: RecJoin, Player: 1, Gen: 1}, {Kind: RecJoin, Player: 2, Gen: 1}})
	w.Step([]Record{move(1, 1, 10_000), move(2, 1, 30_000)}) // zones 0 and 1: in sight
	pending := func(viewer, gone int32) bool {
		for i := w.players[viewer].goneQ.head; i >= 0; i = w.q.nodes[i].next {
			if w.q.nodes[i].ref == gone {
				return true
			}
		}
		return false
	}
	w.Step([]Record{move(2, 2, 110_000)}) // zone 5: out of sight
	if !pending(1, 2) || !pending(2, 1) {
		t.Fatal("no Gone queued on losing sight")
	}
	w.Step([]Record{move(2, 3, 30_000)}) // zone 1: in sight again
	if pending(1, 2) || pending(2, 1) {
		t.Fatal("Gone still pending after regaining sight")
	}
	if st := w.Stats(); st.GoneQueued != 2 || st.GoneWithdrawn != 2 {
		t.Fatalf("queued %d withdrawn %d", st.GoneQueued, st.GoneWithdrawn)
	}
}

// TestCrowdRoundRobin: 150 players in one zone all move every tick, far more
// than a datagram holds. Every one of them must still reach the observer
// within a few ticks, every time: the newest changes are sent round-robin,
// not lowest-id-first (which would starve the rest forever).
func TestCrowdRoundRobin(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Regions, cfg.ZonesX, cfg.ZonesY, cfg.ZoneSize = 1, 1, 1, 60_000
	cfg.MaxPlayers = 150
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d := newMixDriver(w, cfg.MaxPlayers, 3)
	sc := NewScratch()
	obs := newModelClient(0, 1, 0, 1)
	w.Step(d.joins())
	worst := uint32(0)
	for range 300 {
		obs.receive(t, w.Snapshot(0, sc))
		d.ack = w.Tick()
		w.Step(d.inputs())
		if w.Tick() < 50 {
			continue // the first full picture takes a few snapshots
		}
		for x := int32(1); x < d.n; x++ {
			ps, _ := w.Player(x)
			known, ok := obs.players[uint32(x)]
			if !ok {
				t.Fatalf("tick %d: player %d unknown to the observer", w.Tick(), x)
			}
			// ps.ChangedTick is this tick (everyone moves); how old is
			// the observer's copy?
			worst = max(worst, ps.ChangedTick-known.ChangedTick)
		}
	}
	per := fitPlayers(schema.MaxDatagram, 0, 0)
	bound := uint32(2 * (cfg.MaxPlayers + per - 1) / per) // two rounds
	t.Logf("%d players in view, %d per datagram: worst staleness %d ticks (bound %d)", cfg.MaxPlayers-1, per, worst, bound)
	if worst > bound {
		t.Fatalf("a player went %d ticks without an update (bound %d)", worst, bound)
	}
}

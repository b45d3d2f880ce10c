package client

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/treasured/treasured/engine"
	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// engineLink drives real Sessions against the real engine in process, with
// the network replaced by a user-space link: each session's Inputs go
// through an Impairer, are decoded and become engine Records, as netio would
// make them; each tick's snapshots go through another Impairer into the
// session. The handshake is short-cut (the server side of it is netio's, not
// under test here). No sockets, no clock: a tick is 50 ms of simulated time.
type engineLink struct {
	t    testing.TB
	w    *engine.World
	sc   *engine.Scratch
	enc  *schema.Encoder
	dec  schema.Decoder
	in   schema.InputFrame
	rng  *rand.Rand
	imp  Impairment
	bots []*linkBot      // by slot, nil when free
	gens []uint32        // last generation of each slot
	recs []engine.Record // joins and leaves for the next Step
	// upQ delays Inputs by len(upQ)-1 ticks of latency: upQ[k] holds the
	// Records of the Step of tick k mod len(upQ).
	upQ  [][]engine.Record
	step []engine.Record
	now  int64
	// idle bots only acknowledge (no actions), so the world changes only by
	// respawns and expiries.
	idle bool

	chs, pls []uint32 // AppendInView scratch
}

// linkBot is one session and what the link knows about it.
type linkBot struct {
	s        *Session
	slot     int32
	gen      uint32
	up, down *Impairer
	goal     schema.Vec2
	chest    uint32 // chest walked to, noChest when wandering
	opens    uint64 // LootGenerated the engine attributed to this session
}

const noChest = ^uint32(0)

const linkTickNS = 50e6

// newEngineLink builds the world of cfg; Inputs take upDelay ticks to reach
// the engine (snapshots arrive within their tick).
func newEngineLink(t testing.TB, cfg engine.Config, seed uint64, upDelay int) *engineLink {
	w, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &engineLink{
		t: t, w: w, sc: engine.NewScratch(), enc: schema.NewEncoder(),
		rng:  rand.New(rand.NewPCG(seed, 15)),
		bots: make([]*linkBot, cfg.MaxPlayers),
		gens: make([]uint32, cfg.MaxPlayers),
		upQ:  make([][]engine.Record, upDelay+1),
	}
}

// join starts a session in slot (next generation) whose Join the next Step
// applies.
func (l *engineLink) join(slot int32) {
	l.gens[slot]++
	gen := l.gens[slot]
	nonce := uint64(slot)<<32 | uint64(gen)
	s := NewSession(Config{Nonce: nonce, PlayerKey: nonce}, Handlers{})
	s.Hello()
	s.Handle(l.enc.Challenge(&schema.ChallengeFrame{ClientNonce: nonce, Expiry: 1}), l.now)
	s.Connect()
	s.Handle(l.enc.Welcome(&schema.WelcomeFrame{ClientNonce: nonce, SessionID: 1<<63 | nonce, PlayerID: uint32(slot), TickHz: 20}), l.now)
	if s.State() != StateConnected {
		l.t.Fatalf("slot %d: handshake left the session %v", slot, s.State())
	}
	stream := uint64(slot)<<33 | uint64(gen)<<1
	l.bots[slot] = &linkBot{
		s: s, slot: slot, gen: gen, chest: noChest,
		up: NewImpairer(l.imp, stream), down: NewImpairer(l.imp, stream|1),
	}
	l.recs = append(l.recs, engine.Record{Kind: engine.RecJoin, Player: slot, Gen: gen, Key: nonce})
}

// leave ends the session in slot; whatever its link held back is lost.
func (l *engineLink) leave(slot int32) {
	l.recs = append(l.recs, engine.Record{Kind: engine.RecLeave, Player: slot, Gen: l.bots[slot].gen})
	l.bots[slot] = nil
}

// setImpairment switches every link to m, first delivering what the old
// impairment held back.
func (l *engineLink) setImpairment(m Impairment) {
	l.imp = m
	for i, b := range l.bots {
		if b == nil {
			continue
		}
		b.up.Flush(1<<62, func(d []byte) { l.input(b, d) })
		b.down.Flush(1<<62, func(d []byte) { b.s.Handle(d, l.now) })
		stream := uint64(i)<<33 | uint64(b.gen)<<1
		b.up.Init(m, stream)
		b.down.Init(m, stream|1)
	}
}

// input turns an Input datagram that crossed the link into a Record.
func (l *engineLink) input(b *linkBot, d []byte) {
	body, err := l.dec.Decode(d)
	if err != nil || body != wire.BodyInput {
		l.t.Fatalf("slot %d sent a bad Input: %v %v", b.slot, body, err)
	}
	l.dec.InputInto(&l.in)
	r := engine.Record{Kind: engine.RecInput, Player: b.slot, Gen: b.gen, AckTick: l.in.AckTick, N: uint8(l.in.N)}
	copy(r.Actions[:], l.in.Actions[:l.in.N])
	k := (int(l.w.Tick()) + len(l.upQ)) % len(l.upQ)
	l.upQ[k] = append(l.upQ[k], r)
}

// tick runs one tick: every session's Input over the link, Step, every
// snapshot over the link.
func (l *engineLink) tick() {
	for _, b := range l.bots {
		if b == nil {
			continue
		}
		if !l.idle {
			l.act(b)
		}
		deliver := func(d []byte) { l.input(b, d) }
		b.up.Pass(b.s.Input(l.now), l.now, deliver)
		b.up.Flush(l.now, deliver)
	}
	k := int(l.w.Tick()+1) % len(l.upQ)
	l.step = append(append(l.step[:0], l.recs...), l.upQ[k]...)
	l.recs, l.upQ[k] = l.recs[:0], l.upQ[k][:0]
	l.w.Step(l.step)
	for _, ev := range l.w.TickEvents() {
		// A session's last Inputs may reach the engine in the tick of its
		// Leave, and the engine applies a generation's Inputs before its
		// Leave: its loot then belongs to a session that is gone here.
		if ev.Kind == uint8(wire.LootEventKindGenerated) && l.bots[ev.Player] != nil {
			l.bots[ev.Player].opens++
		}
	}
	for _, b := range l.bots {
		if b == nil {
			continue
		}
		deliver := func(d []byte) { b.s.Handle(d, l.now) }
		if buf := l.w.Snapshot(b.slot, l.sc); buf != nil {
			b.down.Pass(buf, l.now, deliver)
		}
		b.down.Flush(l.now, deliver)
		if ls := &b.s.Loot().Stats; ls.Expected > b.opens {
			l.t.Fatalf("tick %d: slot %d gen %d expects %d own openings, the engine made %d for it: another session's opening read as its own",
				l.w.Tick(), b.slot, b.gen, ls.Expected, b.opens)
		}
	}
	l.now += linkTickNS
}

// act queues a bot's actions from its own view, like a game client: walk
// to a random closed chest in view and open it, pick up loot in reach, wander.
func (l *engineLink) act(b *linkBot) {
	v := b.s.View()
	if v.Tick() == 0 {
		return
	}
	cfg := l.w.Config()
	reach2 := int64(cfg.ReachMM) * int64(cfg.ReachMM)
	me := v.You().Pos
	queue := func(kind wire.ActionKind, target uint64, pos schema.Vec2) {
		b.s.Queue(schema.Action{Kind: uint8(kind), Target: target, Pos: pos}, l.now)
	}
	if b.chest != noChest {
		c, ok := v.Chest(b.chest)
		switch {
		case !ok || c.Status != uint8(wire.ChestStatusClosed):
			b.chest = noChest
		case dist2(me, c.Pos) <= reach2:
			queue(wire.ActionKindOpenChest, uint64(c.ID), schema.Vec2{})
			b.chest = noChest
		}
	}
	if n := v.NumChests(); b.chest == noChest && n > 0 && l.rng.IntN(30) == 0 {
		if c := v.ChestAt(l.rng.IntN(n)); c.Status == uint8(wire.ChestStatusClosed) {
			b.chest, b.goal = c.ID, c.Pos
		}
	}
	if l.rng.IntN(4) == 0 {
		for i := range v.NumChests() {
			if c := v.ChestAt(i); c.LootID != 0 && dist2(me, c.Pos) <= reach2 {
				queue(wire.ActionKindPickupLoot, c.LootID, schema.Vec2{})
				break
			}
		}
	}
	if b.chest == noChest && dist2(me, b.goal) <= reach2 {
		side := int32(cfg.ZonesX) * cfg.ZoneSize
		b.goal = schema.Vec2{X: l.rng.Int32N(side), Y: l.rng.Int32N(int32(cfg.ZonesY) * cfg.ZoneSize)}
	}
	queue(wire.ActionKindMove, 0, b.goal)
}

func dist2(a, b schema.Vec2) int64 {
	dx, dy := int64(a.X-b.X), int64(a.Y-b.Y)
	return dx*dx + dy*dy
}

// diverged describes how b's view differs from the engine's world in b's
// interest area, "" when it does not: same tick, own state, every chest and
// player of the area in view with the engine's state, no player in view that
// the area does not hold. Chests out of the area may stay in view with their
// last known state (see the package documentation).
func (l *engineLink) diverged(b *linkBot) string {
	v := b.s.View()
	w := l.w
	if v.Tick() != w.Tick() {
		return fmt.Sprintf("view at tick %d, world at %d", v.Tick(), w.Tick())
	}
	if you, _ := w.Player(b.slot); v.You() != you {
		return fmt.Sprintf("own state %+v, world %+v", v.You(), you)
	}
	l.chs, l.pls = w.AppendInView(b.slot, l.chs[:0], l.pls[:0])
	for _, id := range l.chs {
		want, _ := w.Chest(id)
		if got, ok := v.Chest(id); !ok || got != want {
			return fmt.Sprintf("chest %d: view %+v (present %v), world %+v", id, got, ok, want)
		}
	}
	for _, id := range l.pls {
		want, _ := w.Player(int32(id))
		if got, ok := v.Player(id); !ok || got != want {
			return fmt.Sprintf("player %d: view %+v (present %v), world %+v", id, got, ok, want)
		}
	}
	if v.NumPlayers() != len(l.pls) {
		for i := range v.NumPlayers() {
			if p := v.PlayerAt(i); !containsID(l.pls, p.ID) {
				return fmt.Sprintf("player %d in view, not in the interest area: %+v", p.ID, *p)
			}
		}
	}
	return ""
}

func containsID(ids []uint32, id uint32) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// converge runs clean, idle ticks until every view equals the world, at most
// bound ticks, and returns how many it took; it fails the test otherwise.
func (l *engineLink) converge(bound int) int {
	l.setImpairment(Impairment{})
	l.idle = true
	defer func() { l.idle = false }()
	var why string
	for k := 1; k <= bound; k++ {
		l.tick()
		why = ""
		for _, b := range l.bots {
			if b == nil {
				continue
			}
			if d := l.diverged(b); d != "" {
				why = fmt.Sprintf("slot %d gen %d: %s", b.slot, b.gen, d)
				break
			}
		}
		if why == "" {
			return k
		}
	}
	l.t.Fatalf("tick %d: views not equal to the world after %d clean ticks: %s", l.w.Tick(), bound, why)
	return 0
}

// Command naive is the design that failed, rebuilt to be measured side by
// side with treasured (docs/ARCHITECTURE.md "Why it exists"): it speaks the same
// protocol, so treasure-bench drives it unchanged, but it is built the way
// the studio built its tracker:
//
//   - a goroutine per player, fed by a reader goroutine through a per-player
//     channel of datagrams;
//   - a buffered channel per player of actions, drained by the tick loop;
//   - the world as a mutex-protected map[int64]TreasureState, locked by the
//     reader, every player goroutine and the tick loop;
//   - a per-player sync.Pool of 64 KB receive buffers;
//   - a time.Ticker tick, one WriteToUDP per datagram from each player's
//     goroutine, maps and slices allocated as it goes.
//
// It is correct (handshake with cookies, actions applied once, loot events
// repeated until acknowledged, delta snapshots against the acknowledged
// tick) so that its latency and loss, not its bugs, are what the bench
// shows. Gone lists are sent once, not until acknowledged: a simplification
// the bench's view tolerates.
package main

import (
	"flag"
	"log"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/treasured/treasured/engine"
	"github.com/treasured/treasured/perf/internal/common"
	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// World rules: the engine's defaults, so that the baseline runs the world
// treasured runs. The engine is used for its numbers only.
var (
	rules         = engine.DefaultConfig()
	regions       = rules.Regions
	zonesX        = rules.ZonesX
	zonesY        = rules.ZonesY
	zoneSize      = int(rules.ZoneSize)
	chestsPerZone = rules.ChestsPerZone
	reach         = int64(rules.ReachMM)
	maxSpeed      = int64(rules.MaxSpeedMM)
	respawnTicks  = rules.RespawnTicks
	lootTTLTicks  = rules.LootTTLTicks

	// defaultTick is the tick period; tests give a server a shorter one.
	defaultTick = time.Second / time.Duration(rules.TickHz)
)

const (
	idleTimeout = 10 * time.Second
	bufSize     = 64 << 10
)

// TreasureState is one chest, the value type of the world map.
type TreasureState struct {
	schema.ChestState
	Region     int
	Zone       int
	OpenedTick uint32
	LootLive   bool // generated and neither picked up nor expired
}

type pendingEvent struct {
	ev        schema.LootEvent
	firstSent uint32
}

type sentChest struct {
	id      int64
	changed uint32
}

// Player is one connected player and its goroutine.
type Player struct {
	id      uint32
	session uint64
	addr    netip.AddrPort
	region  int

	inbox   chan []byte        // reader -> player goroutine
	actions chan schema.Action // player goroutine -> tick loop
	tickCh  chan uint32        // tick loop -> player goroutine: send your snapshot
	quit    chan struct{}
	pool    *sync.Pool // 64 KB buffers

	// Guarded by world.mu.
	pos, target schema.Vec2
	zone        int
	items       uint32
	lastSeq     uint32
	ack         uint32
	lastSeen    time.Time
	pending     []pendingEvent
	known       map[int64]uint32       // chest -> changed tick the client confirmed
	sent        map[uint32][]sentChest // tick -> chests it carried
	lastView    map[uint32]bool
	gone        bool
}

type world struct {
	mu        sync.Mutex
	treasures map[int64]TreasureState
	players   map[uint64]*Player // by session id
	byZone    map[int][]*Player  // rebuilt every tick
	zoneChest [][]int64          // static: chest ids per zone (global zone index)
	tick      uint32
	nextID    uint32
}

type server struct {
	tick    time.Duration // tick period, fixed before start
	closed  atomic.Bool   // set by the reader when conn is closed
	conn    *net.UDPConn
	w       *world
	m       *common.Metrics
	cookies *common.Cookies
	enc     *schema.Encoder // reader goroutine only
}

func main() {
	seed := flag.Uint64("seed", 1, "world seed")
	f := common.ParseFlags("naive")
	s, err := newServer(f.Listen, *seed)
	if err != nil {
		log.Fatalf("naive: %v", err)
	}
	common.Serve("naive baseline", f.Admin, s.m, s.conn, s.start)
}

func newServer(listen string, seed uint64) (*server, error) {
	conn, err := common.ListenUDP(listen)
	if err != nil {
		return nil, err
	}
	return &server{tick: defaultTick, conn: conn, w: newWorld(seed), m: common.NewMetrics(), cookies: common.NewCookies(), enc: schema.NewEncoder()}, nil
}

// start runs the reader and the tick loop; they end when conn is closed.
func (s *server) start() {
	go s.tickLoop()
	go s.read()
}

func newWorld(seed uint64) *world {
	w := &world{treasures: map[int64]TreasureState{}, players: map[uint64]*Player{}}
	rng := rand.New(rand.NewPCG(seed, 1))
	nz := regions * zonesX * zonesY
	w.zoneChest = make([][]int64, nz)
	id := int64(0)
	for z := range nz {
		zx, zy := (z%(zonesX*zonesY))%zonesX, (z%(zonesX*zonesY))/zonesX
		for range chestsPerZone {
			pos := schema.Vec2{X: int32(zx*zoneSize + rng.IntN(zoneSize)), Y: int32(zy*zoneSize + rng.IntN(zoneSize))}
			w.treasures[id] = TreasureState{ChestState: schema.ChestState{ID: uint32(id), OpenedBy: schema.NoPlayer, Pos: pos}, Region: z / (zonesX * zonesY), Zone: z}
			w.zoneChest[z] = append(w.zoneChest[z], id)
			id++
		}
	}
	return w
}

func zoneOf(region int, p schema.Vec2) int {
	zx := min(max(int(p.X)/zoneSize, 0), zonesX-1)
	zy := min(max(int(p.Y)/zoneSize, 0), zonesY-1)
	return region*zonesX*zonesY + zy*zonesX + zx
}

// near reports whether zones a and b are the same or neighbours.
func near(a, b int) bool {
	if a/(zonesX*zonesY) != b/(zonesX*zonesY) {
		return false
	}
	a, b = a%(zonesX*zonesY), b%(zonesX*zonesY)
	dx, dy := a%zonesX-b%zonesX, a/zonesX-b/zonesX
	return dx >= -1 && dx <= 1 && dy >= -1 && dy <= 1
}

func dist2(a, b schema.Vec2) int64 {
	dx, dy := int64(a.X-b.X), int64(a.Y-b.Y)
	return dx*dx + dy*dy
}

// read is the one reader goroutine: handshakes inline, everything else to
// the player's goroutine through its channel, in a buffer from its pool.
func (s *server) read() {
	var dec schema.Decoder
	buf := make([]byte, 2048)
	common.ReadLoop(s.conn, buf, &dec, s.m, &s.closed, func(body wire.Body, n int, from netip.AddrPort) {
		switch body {
		case wire.BodyHello:
			var h schema.HelloFrame
			dec.HelloInto(&h)
			c := s.cookies.Challenge(from, h.ClientNonce, time.Now())
			s.conn.WriteToUDPAddrPort(s.enc.Challenge(&c), from)
		case wire.BodyConnect:
			var c schema.ConnectFrame
			dec.ConnectInto(&c)
			s.connect(&c, from)
		case wire.BodyInput, wire.BodyPing, wire.BodyBye:
			var sid uint64
			switch body {
			case wire.BodyInput:
				sid = dec.Input().SessionId()
			case wire.BodyPing:
				sid = dec.Ping().SessionId()
			default:
				sid = dec.Bye().SessionId()
			}
			s.w.mu.Lock()
			p := s.w.players[sid]
			s.w.mu.Unlock()
			if p == nil || p.addr != from {
				s.m.Drops[common.DropBadSession].Add(1)
				return
			}
			b := p.pool.Get().([]byte)
			b = append(b[:0], buf[:n]...)
			select {
			case p.inbox <- b:
			default:
				//lint:ignore SA6002 the studio's code: a slice (not a pointer) in a Pool
				p.pool.Put(b)
				s.m.Drops[common.DropQueueFull].Add(1)
			}
		default:
			s.m.Drops[common.DropUnexpected].Add(1)
		}
	})
}

func (s *server) connect(c *schema.ConnectFrame, from netip.AddrPort) {
	if ok, reason := s.cookies.Check(from, c, time.Now()); !ok {
		s.conn.WriteToUDPAddrPort(s.enc.Reject(&schema.RejectFrame{Reason: uint8(reason), ClientNonce: c.ClientNonce}), from)
		return
	}
	if int(c.Region) >= regions { // as treasured: no silent remapping
		s.conn.WriteToUDPAddrPort(s.enc.Reject(&schema.RejectFrame{Reason: uint8(wire.RejectReasonBadRegion), ClientNonce: c.ClientNonce}), from)
		return
	}
	w := s.w
	w.mu.Lock()
	var p *Player
	for _, q := range w.players { // a repeated Connect gets the same Welcome
		if q.addr == from && !q.gone {
			p = q
		}
	}
	if p == nil {
		region := int(c.Region)
		p = &Player{
			id: w.nextID, session: rand.Uint64() | 1<<63, addr: from, region: region,
			inbox: make(chan []byte, 64), actions: make(chan schema.Action, 256), tickCh: make(chan uint32, 1),
			quit:  make(chan struct{}),
			pool:  &sync.Pool{New: func() any { return make([]byte, 0, bufSize) }},
			known: map[int64]uint32{}, sent: map[uint32][]sentChest{}, lastView: map[uint32]bool{},
			lastSeen: time.Now(),
		}
		w.nextID++
		p.pos = schema.Vec2{X: int32(rand.IntN(zonesX * zoneSize)), Y: int32(rand.IntN(zonesY * zoneSize))}
		p.target = p.pos
		p.zone = zoneOf(region, p.pos)
		w.players[p.session] = p
		s.m.Sessions.Add(1)
		go s.playerLoop(p)
	}
	wf := schema.WelcomeFrame{SessionID: p.session, PlayerID: p.id, TickHz: uint16(time.Second / s.tick),
		ServerTick: w.tick, Region: uint8(p.region), ClientNonce: c.ClientNonce}
	w.mu.Unlock()
	s.conn.WriteToUDPAddrPort(s.enc.Welcome(&wf), from)
}

// playerLoop is the goroutine of one player.
func (s *server) playerLoop(p *Player) {
	var dec schema.Decoder
	enc := schema.NewEncoder()
	var in schema.InputFrame
	for {
		select {
		case <-p.quit:
			return
		case b := <-p.inbox:
			body, err := dec.Decode(b)
			if err == nil {
				switch body {
				case wire.BodyInput:
					dec.InputInto(&in)
					s.m.Inputs.Add(1)
					s.w.mu.Lock()
					p.lastSeen = time.Now()
					if in.AckTick > p.ack && in.AckTick <= s.w.tick {
						p.acknowledge(in.AckTick)
					}
					s.w.mu.Unlock()
					for _, a := range in.Actions[:in.N] {
						select {
						case p.actions <- a:
						default:
							s.m.Drops[common.DropQueueFull].Add(1)
						}
					}
				case wire.BodyPing:
					var pf schema.PingFrame
					dec.PingInto(&pf)
					s.w.mu.Lock()
					t := s.w.tick
					s.w.mu.Unlock()
					s.conn.WriteToUDPAddrPort(enc.Pong(&schema.PongFrame{T: pf.T, ServerTick: t}), p.addr)
					s.m.Pongs.Add(1)
				case wire.BodyBye:
					s.w.mu.Lock()
					s.remove(p)
					s.w.mu.Unlock()
				}
			}
			//lint:ignore SA6002 the studio's code: a slice (not a pointer) in a Pool
			p.pool.Put(b[:0])
		case t := <-p.tickCh:
			s.w.mu.Lock()
			f := s.buildSnapshot(p, t)
			s.w.mu.Unlock()
			if f == nil {
				continue
			}
			if _, err := s.conn.WriteToUDPAddrPort(enc.Snapshot(f), p.addr); err != nil {
				s.m.SendErrors.Add(1)
			} else {
				s.m.SnapshotsSent.Add(1)
			}
		}
	}
}

// acknowledge records that the client received tick ack. Caller holds mu.
func (p *Player) acknowledge(ack uint32) {
	p.ack = ack
	// Only the acknowledged tick is known to have arrived; chests sent in
	// earlier, possibly lost, ticks were sent again in every tick up to it
	// while unconfirmed, so confirming those of tick ack is exact.
	for _, c := range p.sent[ack] {
		if k, ok := p.known[c.id]; !ok || c.changed > k {
			p.known[c.id] = c.changed
		}
	}
	for t := range p.sent {
		if t <= ack {
			delete(p.sent, t)
		}
	}
	keep := p.pending[:0]
	for _, e := range p.pending {
		if e.firstSent == 0 || e.firstSent > ack {
			keep = append(keep, e)
		}
	}
	p.pending = keep
}

// remove ends p's session. Caller holds mu.
func (s *server) remove(p *Player) {
	if p.gone {
		return
	}
	p.gone = true
	delete(s.w.players, p.session)
	close(p.quit)
	s.m.Sessions.Add(-1)
}

// buildSnapshot makes p's snapshot of tick t. Caller holds mu.
func (s *server) buildSnapshot(p *Player, t uint32) *schema.SnapshotFrame {
	if p.gone {
		return nil
	}
	w := s.w
	f := &schema.SnapshotFrame{Tick: t, LastActionSeq: p.lastSeq,
		You: schema.PlayerState{ID: p.id, Pos: p.pos, Zone: uint32(p.zone), Items: p.items, ChangedTick: t}}
	if p.ack != 0 {
		f.BaselineTick = p.ack
	}
	fits := func() bool {
		return schema.SnapshotSize(len(f.Chests), len(f.Players), len(f.Gone), len(f.Events)) <= schema.MaxDatagram
	}
	for i := range p.pending {
		f.Events = append(f.Events, p.pending[i].ev)
		if !fits() || len(f.Events) > 10 {
			f.Events = f.Events[:len(f.Events)-1]
			f.More = true
			break
		}
		if p.pending[i].firstSent == 0 {
			p.pending[i].firstSent = t
		}
	}
	view := map[uint32]bool{}
	var sent []sentChest
	for _, z := range neighbours(p.zone) {
		for _, id := range w.zoneChest[z] {
			c := w.treasures[id]
			if k, ok := p.known[id]; ok && c.ChangedTick <= k {
				continue
			}
			f.Chests = append(f.Chests, c.ChestState)
			if !fits() {
				f.Chests = f.Chests[:len(f.Chests)-1]
				f.More = true
				break
			}
			sent = append(sent, sentChest{id, c.ChangedTick})
		}
		for _, q := range w.byZone[z] {
			if q == p {
				continue
			}
			view[q.id] = true
			f.Players = append(f.Players, schema.PlayerState{ID: q.id, Pos: q.pos, Zone: uint32(q.zone), Items: q.items, ChangedTick: t})
			if !fits() {
				f.Players = f.Players[:len(f.Players)-1]
				f.More = true
				break
			}
		}
	}
	for id := range p.lastView {
		if !view[id] {
			f.Gone = append(f.Gone, id)
			if !fits() {
				f.Gone = f.Gone[:len(f.Gone)-1]
				break
			}
		}
	}
	p.lastView = view
	p.sent[t] = sent
	return f
}

func neighbours(z int) []int {
	r, zz := z/(zonesX*zonesY), z%(zonesX*zonesY)
	zx, zy := zz%zonesX, zz/zonesX
	var out []int
	for dy := -1; dy <= 1; dy++ {
		for dx := -1; dx <= 1; dx++ {
			x, y := zx+dx, zy+dy
			if x >= 0 && y >= 0 && x < zonesX && y < zonesY {
				out = append(out, r*zonesX*zonesY+y*zonesX+x)
			}
		}
	}
	return out
}

// tickLoop is the studio's tick: a time.Ticker, the whole world under one
// lock, then a signal to every player goroutine to send its snapshot.
func (s *server) tickLoop() {
	// start is read before the Ticker exists, so its k-th tick never fires
	// before start + k*tick: tick k is scheduled there, as the exported
	// clock says (a Ticker drops ticks when the loop is late, so later ticks
	// only fall further behind it).
	start := time.Now()
	tk := time.NewTicker(s.tick)
	defer tk.Stop()
	s.m.SetTickClock(start, s.tick)
	for k := int64(1); ; k++ {
		<-tk.C
		if s.closed.Load() {
			return
		}
		began := time.Now()
		sched := start.Add(time.Duration(k) * s.tick)
		s.step()
		s.w.mu.Lock()
		t := s.w.tick
		ps := make([]*Player, 0, len(s.w.players))
		for _, p := range s.w.players {
			ps = append(ps, p)
		}
		s.w.mu.Unlock()
		for _, p := range ps {
			select {
			case p.tickCh <- t:
			default: // the player goroutine is still on the previous tick
				s.m.Drops[common.DropQueueFull].Add(1)
			}
		}
		ended := time.Now()
		s.m.ObserveTick(max(began.Sub(sched), 0), ended.Sub(began), ended.After(sched.Add(s.tick)))
	}
}

func (s *server) step() {
	w := s.w
	w.mu.Lock()
	defer w.mu.Unlock()
	w.tick++
	t := w.tick
	now := time.Now()
	for _, p := range w.players {
		if now.Sub(p.lastSeen) > idleTimeout {
			s.remove(p)
			continue
		}
		for drained := false; !drained; {
			select {
			case a := <-p.actions:
				if a.Seq == p.lastSeq+1 {
					p.lastSeq = a.Seq
					s.apply(p, a, t)
				}
			default:
				drained = true
			}
		}
		// Move toward the target at most maxSpeed per tick.
		d := dist2(p.pos, p.target)
		if d > 0 {
			if d <= maxSpeed*maxSpeed {
				p.pos = p.target
			} else {
				f := float64(maxSpeed) / math.Sqrt(float64(d))
				p.pos.X += int32(float64(p.target.X-p.pos.X) * f)
				p.pos.Y += int32(float64(p.target.Y-p.pos.Y) * f)
			}
			p.zone = zoneOf(p.region, p.pos)
		}
	}
	for id, c := range w.treasures {
		if c.Status != uint8(wire.ChestStatusOpened) {
			continue
		}
		switch {
		case t-c.OpenedTick >= respawnTicks:
			c.Status, c.LootID, c.OpenedBy, c.ChangedTick, c.LootLive = uint8(wire.ChestStatusClosed), 0, schema.NoPlayer, t, false
			w.treasures[id] = c
		case c.LootLive && t-c.OpenedTick >= lootTTLTicks:
			c.LootLive = false
			w.treasures[id] = c
			s.emit(c, schema.LootEvent{LootID: c.LootID, Kind: uint8(wire.LootEventKindExpired), Chest: c.ID, Player: schema.NoPlayer, Tick: t, Pos: c.Pos})
		}
	}
	w.byZone = map[int][]*Player{}
	for _, p := range w.players {
		w.byZone[p.zone] = append(w.byZone[p.zone], p)
	}
}

// apply applies one action of p at tick t. Caller holds mu.
func (s *server) apply(p *Player, a schema.Action, t uint32) {
	w := s.w
	switch a.Kind {
	case uint8(wire.ActionKindMove):
		p.target = a.Pos
	case uint8(wire.ActionKindOpenChest):
		c, ok := w.treasures[int64(a.Target)]
		if !ok || c.Region != p.region || c.Status != uint8(wire.ChestStatusClosed) || dist2(c.Pos, p.pos) > reach*reach {
			return
		}
		c.Status, c.Generation, c.OpenedBy, c.OpenedTick, c.ChangedTick, c.LootLive = uint8(wire.ChestStatusOpened), c.Generation+1, p.id, t, t, true
		c.LootID = uint64(c.ID)<<20 | uint64(c.Generation)
		w.treasures[int64(a.Target)] = c
		s.emit(c, schema.LootEvent{LootID: c.LootID, Kind: uint8(wire.LootEventKindGenerated), Item: 1, Qty: 1, Chest: c.ID, Player: p.id, Tick: t, Pos: c.Pos})
	case uint8(wire.ActionKindPickupLoot):
		id := int64(a.Target >> 20)
		c, ok := w.treasures[id]
		if !ok || !c.LootLive || c.LootID != a.Target || c.Region != p.region || dist2(c.Pos, p.pos) > reach*reach {
			return
		}
		c.LootLive = false
		w.treasures[id] = c
		p.items++
		s.emit(c, schema.LootEvent{LootID: c.LootID, Kind: uint8(wire.LootEventKindPickedUp), Chest: c.ID, Player: p.id, Tick: t, Pos: c.Pos})
	}
}

// emit queues ev for every player who sees chest c. Caller holds mu.
func (s *server) emit(c TreasureState, ev schema.LootEvent) {
	for _, p := range s.w.players {
		if near(p.zone, c.Zone) || ev.Player == p.id {
			p.pending = append(p.pending, pendingEvent{ev: ev})
		}
	}
}

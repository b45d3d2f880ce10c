// Command plain is treasured's own engine behind the simplest network layer
// Go offers: one goroutine reading a net.UDPConn, a mutex-protected slice of
// records handed to the tick goroutine, and one WriteToUDPAddrPort per
// snapshot. Compared with treasured (gnet event loops on SO_REUSEPORT
// sockets, lock-free rings, sendmmsg fan-out on pinned cores) it shows what
// the network layer adds on top of the engine.
//
// The engine, its deterministic tick on absolute 50 ms deadlines and its
// delta snapshots are the same code; the handshake is the same protocol with
// its own cookie secret. Sessions end on Bye or after 10 s of silence.
package main

import (
	"log"
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

const idleTimeout = 10 * time.Second

// defaultTick is the engine's default tick period; tests give a server a
// shorter one.
var defaultTick = time.Second / time.Duration(engine.DefaultConfig().TickHz)

type slot struct {
	active   bool
	gen      uint32
	session  uint64
	addr     netip.AddrPort
	nonce    uint64
	region   uint8
	lastSeen time.Time
}

type server struct {
	tick    time.Duration // tick period, fixed before start
	regions int           // the engine's; a Connect for another is rejected
	closed  atomic.Bool   // set by the reader when conn is closed
	conn    *net.UDPConn
	m       *common.Metrics
	cookies *common.Cookies
	world   *engine.World

	mu      sync.Mutex // guards everything below
	recs    []engine.Record
	slots   []slot
	bySess  map[uint64]int32
	byAddr  map[netip.AddrPort]int32
	free    []int32
	tickNow uint32
}

func main() {
	f := common.ParseFlags("plain")
	s, err := newServer(f.Listen, engine.DefaultConfig())
	if err != nil {
		log.Fatalf("plain: %v", err)
	}
	common.Serve("plain baseline (engine + net.UDPConn)", f.Admin, s.m, s.conn, func() {
		go s.tickLoop()
		go s.read()
	})
}

func newServer(listen string, cfg engine.Config) (*server, error) {
	w, err := engine.New(cfg)
	if err != nil {
		return nil, err
	}
	conn, err := common.ListenUDP(listen)
	if err != nil {
		return nil, err
	}
	s := &server{tick: defaultTick, regions: cfg.Regions, conn: conn, m: common.NewMetrics(), cookies: common.NewCookies(), world: w,
		slots: make([]slot, cfg.MaxPlayers), bySess: map[uint64]int32{}, byAddr: map[netip.AddrPort]int32{}}
	for i := cfg.MaxPlayers - 1; i >= 0; i-- {
		s.free = append(s.free, int32(i))
	}
	return s, nil
}

// read is the single reader: handshake and pings answered here, inputs
// turned into engine records.
func (s *server) read() {
	var dec schema.Decoder
	enc := schema.NewEncoder()
	buf := make([]byte, 2048)
	var in schema.InputFrame
	common.ReadLoop(s.conn, buf, &dec, s.m, &s.closed, func(body wire.Body, _ int, from netip.AddrPort) {
		now := time.Now()
		switch body {
		case wire.BodyHello:
			var h schema.HelloFrame
			dec.HelloInto(&h)
			c := s.cookies.Challenge(from, h.ClientNonce, now)
			s.conn.WriteToUDPAddrPort(enc.Challenge(&c), from)
		case wire.BodyConnect:
			var c schema.ConnectFrame
			dec.ConnectInto(&c)
			if ok, reason := s.cookies.Check(from, &c, now); !ok {
				s.conn.WriteToUDPAddrPort(enc.Reject(&schema.RejectFrame{Reason: uint8(reason), ClientNonce: c.ClientNonce}), from)
				return
			}
			if int(c.Region) >= s.regions { // as treasured: no silent remapping
				s.conn.WriteToUDPAddrPort(enc.Reject(&schema.RejectFrame{Reason: uint8(wire.RejectReasonBadRegion), ClientNonce: c.ClientNonce}), from)
				return
			}
			wf, ok := s.join(&c, from, now)
			if !ok {
				s.conn.WriteToUDPAddrPort(enc.Reject(&schema.RejectFrame{Reason: uint8(wire.RejectReasonServerFull), ClientNonce: c.ClientNonce}), from)
				return
			}
			s.conn.WriteToUDPAddrPort(enc.Welcome(&wf), from)
		case wire.BodyInput:
			dec.InputInto(&in)
			s.mu.Lock()
			if i, ok := s.session(in.SessionID, from, now); ok {
				r := engine.Record{Kind: engine.RecInput, N: uint8(in.N), Player: i, Gen: s.slots[i].gen, AckTick: in.AckTick}
				copy(r.Actions[:], in.Actions[:in.N])
				s.recs = append(s.recs, r)
				s.m.Inputs.Add(1)
			}
			s.mu.Unlock()
		case wire.BodyPing:
			var p schema.PingFrame
			dec.PingInto(&p)
			s.mu.Lock()
			_, ok := s.session(p.SessionID, from, now)
			t := s.tickNow
			s.mu.Unlock()
			if ok {
				s.conn.WriteToUDPAddrPort(enc.Pong(&schema.PongFrame{T: p.T, ServerTick: t}), from)
				s.m.Pongs.Add(1)
			}
		case wire.BodyBye:
			var b schema.ByeFrame
			dec.ByeInto(&b)
			s.mu.Lock()
			if i, ok := s.session(b.SessionID, from, now); ok {
				s.leave(i)
			}
			s.mu.Unlock()
		default:
			s.m.Drops[common.DropUnexpected].Add(1)
		}
	})
}

// session finds the slot of a session id sent from addr. Caller holds mu.
func (s *server) session(id uint64, from netip.AddrPort, now time.Time) (int32, bool) {
	i, ok := s.bySess[id]
	if !ok || s.slots[i].addr != from {
		s.m.Drops[common.DropBadSession].Add(1)
		return 0, false
	}
	s.slots[i].lastSeen = now
	return i, true
}

func (s *server) join(c *schema.ConnectFrame, from netip.AddrPort, now time.Time) (schema.WelcomeFrame, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.byAddr[from]
	if !ok || s.slots[i].nonce != c.ClientNonce {
		if ok { // a new handshake from the same address replaces the session
			s.leave(i)
		}
		if len(s.free) == 0 {
			return schema.WelcomeFrame{}, false
		}
		i = s.free[len(s.free)-1]
		s.free = s.free[:len(s.free)-1]
		sl := &s.slots[i]
		*sl = slot{active: true, gen: sl.gen + 1, addr: from, nonce: c.ClientNonce, region: c.Region, lastSeen: now}
		sl.session = 1<<63 | uint64(rand.Uint32()&0x7fffffff)<<32 | uint64(sl.gen&0xff)<<24 | uint64(i)
		s.bySess[sl.session] = i
		s.byAddr[from] = i
		s.recs = append(s.recs, engine.Record{Kind: engine.RecJoin, Player: i, Gen: sl.gen, Region: sl.region, Key: c.PlayerKey})
		s.m.Sessions.Add(1)
	}
	sl := &s.slots[i]
	return schema.WelcomeFrame{SessionID: sl.session, PlayerID: uint32(i), TickHz: uint16(time.Second / s.tick),
		ServerTick: s.tickNow, Region: sl.region, ClientNonce: c.ClientNonce}, true
}

// leave ends slot i. Caller holds mu.
func (s *server) leave(i int32) {
	sl := &s.slots[i]
	if !sl.active {
		return
	}
	s.recs = append(s.recs, engine.Record{Kind: engine.RecLeave, Player: i, Gen: sl.gen})
	delete(s.bySess, sl.session)
	delete(s.byAddr, sl.addr)
	sl.active = false
	s.free = append(s.free, i)
	s.m.Sessions.Add(-1)
}

// tickLoop steps the engine on absolute deadlines and sends every active
// player its snapshot with one WriteToUDPAddrPort each.
func (s *server) tickLoop() {
	scratch := engine.NewScratch()
	var recs []engine.Record
	addrs := make([]netip.AddrPort, len(s.slots))
	var active []int32
	start := time.Now()
	s.m.SetTickClock(start, s.tick) // the engine's tick k is scheduled at start + k*tick
	for k := int64(1); !s.closed.Load(); k++ {
		sched := start.Add(time.Duration(k) * s.tick)
		if d := time.Until(sched); d > 0 {
			time.Sleep(d)
		}
		began := time.Now()
		s.mu.Lock()
		for i := range s.slots { // idle timeout
			if s.slots[i].active && began.Sub(s.slots[i].lastSeen) > idleTimeout {
				s.leave(int32(i))
			}
		}
		recs, s.recs = s.recs, recs[:0]
		active = active[:0]
		for i := range s.slots {
			if s.slots[i].active {
				addrs[i] = s.slots[i].addr
			}
		}
		s.mu.Unlock()

		s.world.Step(recs)
		s.mu.Lock()
		s.tickNow = s.world.Tick()
		s.mu.Unlock()
		active = s.world.ActivePlayers(active)
		for _, p := range active {
			b := s.world.Snapshot(p, scratch)
			if b == nil {
				continue
			}
			if _, err := s.conn.WriteToUDPAddrPort(b, addrs[p]); err != nil {
				s.m.SendErrors.Add(1)
			} else {
				s.m.SnapshotsSent.Add(1)
			}
		}
		ended := time.Now()
		s.m.ObserveTick(began.Sub(sched), ended.Sub(began), ended.After(sched.Add(s.tick)))
	}
}

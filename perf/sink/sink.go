package main

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/treasured/treasured/netio/udp"
	"github.com/treasured/treasured/perf/internal/common"
	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

const batch = 64 // datagrams per recvmmsg / sendmmsg

type player struct {
	addr    netip.AddrPort
	session uint64
	nonce   uint64
	lastSeq uint32
	active  bool
}

// sink is the whole server; one goroutine (Run) owns everything but the
// metrics and the stop flag.
type sink struct {
	cfg     *config
	conn    *udp.Conn
	m       *common.Metrics
	cookies *common.Cookies
	enc     *schema.Encoder
	dec     schema.Decoder
	input   schema.InputFrame
	frame   *schema.SnapshotFrame
	stop    atomic.Bool

	players []player
	byAddr  map[netip.AddrPort]int32
	tick    uint32

	in      []udp.Message
	out     []udp.Message
	outBufs [][]byte
}

func newSink(cfg *config) (*sink, error) {
	conn, err := udp.Listen(cfg.listen, udp.Options{Batch: batch, RecvBuffer: 16 << 20, SendBuffer: 16 << 20})
	if err != nil {
		return nil, fmt.Errorf("--listen %v: %w", cfg.listen, err)
	}
	s := &sink{cfg: cfg, conn: conn, m: common.NewMetrics(), cookies: common.NewCookies(), enc: schema.NewEncoder(),
		frame: schema.NewSnapshotFrame(), byAddr: map[netip.AddrPort]int32{},
		in: make([]udp.Message, batch), out: make([]udp.Message, 0, batch), outBufs: make([][]byte, batch)}
	for i := range s.in {
		s.in[i].Buf = make([]byte, schema.MaxDatagram+1)
	}
	for i := range s.outBufs {
		s.outBufs[i] = make([]byte, schema.MaxDatagram)
	}
	// The same closed chests in every snapshot, as many as fit the size.
	n := 0
	for schema.SnapshotSize(n+1, 0, 0, 0) <= cfg.snapshotBytes {
		n++
	}
	for i := range n {
		s.frame.Chests = append(s.frame.Chests, schema.ChestState{ID: uint32(i), OpenedBy: schema.NoPlayer,
			Pos: schema.Vec2{X: int32(i%16) * 4000, Y: int32(i/16) * 4000}, Status: uint8(wire.ChestStatusClosed)})
	}
	return s, nil
}

// Stop ends Run within a tick; safe from any goroutine.
func (s *sink) Stop() { s.stop.Store(true) }

// Run serves until Stop: ticks on absolute deadlines (tick T at epoch +
// T*period), and between them everything that arrives.
func (s *sink) Run() error {
	defer s.conn.Close()
	epoch := time.Now()
	s.m.SetTickClock(epoch, s.cfg.tick)
	next := epoch.Add(s.cfg.tick)
	for !s.stop.Load() {
		now := time.Now()
		if !now.Before(next) {
			s.step(next, now)
			next = next.Add(s.cfg.tick)
			continue
		}
		if err := waitReadable(s.conn.FD(), next.Sub(now)); err != nil {
			return err
		}
		s.receive()
	}
	return nil
}

// receive handles what is queued, a bounded number of batches, and sends
// the replies.
func (s *sink) receive() {
	for range 64 {
		n, err := s.conn.ReadBatch(s.in)
		if err != nil {
			s.m.Drops[common.DropMalformed].Add(1)
			break
		}
		for i := range n {
			m := &s.in[i]
			if m.Truncated {
				s.m.Drops[common.DropMalformed].Add(1)
				continue
			}
			s.handle(m.Buf[:m.N], m.Addr)
		}
		if n < len(s.in) {
			break
		}
	}
	s.flush()
}

func (s *sink) handle(b []byte, from netip.AddrPort) {
	body, err := s.dec.Decode(b)
	if err != nil {
		s.m.Drops[common.DropMalformed].Add(1)
		return
	}
	switch body {
	case wire.BodyHello:
		var h schema.HelloFrame
		s.dec.HelloInto(&h)
		c := s.cookies.Challenge(from, h.ClientNonce, time.Now())
		s.send(s.enc.Challenge(&c), from)
	case wire.BodyConnect:
		var c schema.ConnectFrame
		s.dec.ConnectInto(&c)
		s.connect(&c, from)
	case wire.BodyInput:
		s.dec.InputInto(&s.input)
		p := s.session(s.input.SessionID, from)
		if p == nil {
			return
		}
		s.m.Inputs.Add(1)
		for _, a := range s.input.Actions[:s.input.N] { // exactly once, in order
			if a.Seq == p.lastSeq+1 {
				p.lastSeq = a.Seq
			}
		}
	case wire.BodyPing:
		var pf schema.PingFrame
		s.dec.PingInto(&pf)
		if s.session(pf.SessionID, from) != nil {
			s.send(s.enc.Pong(&schema.PongFrame{T: pf.T, ServerTick: s.tick}), from)
			s.m.Pongs.Add(1)
		}
	case wire.BodyBye:
		var bf schema.ByeFrame
		s.dec.ByeInto(&bf)
		if p := s.session(bf.SessionID, from); p != nil {
			p.active = false
			delete(s.byAddr, from)
			s.m.Sessions.Add(-1)
		}
	default:
		s.m.Drops[common.DropUnexpected].Add(1)
	}
}

func (s *sink) connect(c *schema.ConnectFrame, from netip.AddrPort) {
	reject := func(reason wire.RejectReason) {
		s.send(s.enc.Reject(&schema.RejectFrame{Reason: uint8(reason), ClientNonce: c.ClientNonce}), from)
	}
	if ok, reason := s.cookies.Check(from, c, time.Now()); !ok {
		reject(reason)
		return
	}
	if int(c.Region) >= s.cfg.regions {
		reject(wire.RejectReasonBadRegion)
		return
	}
	i, ok := s.byAddr[from]
	if !ok || s.players[i].nonce != c.ClientNonce { // a new handshake replaces the session
		if !ok {
			if len(s.players) >= s.cfg.maxPlayers {
				reject(wire.RejectReasonServerFull)
				return
			}
			i = int32(len(s.players))
			s.players = append(s.players, player{})
			s.byAddr[from] = i
			s.m.Sessions.Add(1)
		}
		s.players[i] = player{addr: from, nonce: c.ClientNonce, active: true,
			session: 1<<63 | uint64(rand.Uint32()&0x7fffffff)<<32 | uint64(i)}
	}
	p := &s.players[i]
	s.send(s.enc.Welcome(&schema.WelcomeFrame{SessionID: p.session, PlayerID: uint32(i),
		TickHz: uint16(time.Second / s.cfg.tick), ServerTick: s.tick, Region: c.Region, ClientNonce: c.ClientNonce}), from)
}

// session is the active player at from with that session id, or nil
// (counted).
func (s *sink) session(id uint64, from netip.AddrPort) *player {
	if i, ok := s.byAddr[from]; ok && s.players[i].active && s.players[i].session == id {
		return &s.players[i]
	}
	s.m.Drops[common.DropBadSession].Add(1)
	return nil
}

// step runs tick s.tick+1, scheduled at sched: one full snapshot per
// active player.
func (s *sink) step(sched, began time.Time) {
	s.tick++
	f := s.frame
	f.Tick = s.tick
	for i := range s.players {
		p := &s.players[i]
		if !p.active {
			continue
		}
		f.LastActionSeq = p.lastSeq
		f.You = schema.PlayerState{ID: uint32(i), ChangedTick: s.tick}
		s.send(s.enc.Snapshot(f), p.addr)
		s.m.SnapshotsSent.Add(1)
	}
	s.flush()
	ended := time.Now()
	s.m.ObserveTick(began.Sub(sched), ended.Sub(began), ended.After(sched.Add(s.cfg.tick)))
}

// send queues a copy of b for to; a full batch leaves at once.
func (s *sink) send(b []byte, to netip.AddrPort) {
	i := len(s.out)
	s.out = append(s.out, udp.Message{Buf: s.outBufs[i][:copy(s.outBufs[i], b)], Addr: to})
	if len(s.out) == cap(s.out) {
		s.flush()
	}
}

func (s *sink) flush() {
	if len(s.out) == 0 {
		return
	}
	res := s.conn.WriteBatch(s.out)
	s.m.SendErrors.Add(uint64(res.Failed + res.WouldBlock))
	clear(s.out)
	s.out = s.out[:0]
}

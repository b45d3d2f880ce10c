package main

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/treasured/treasured/netio/auth"
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
	// With --token-key: the session's two halves (auth.Channel's).
	open *auth.Opener
	seal *auth.Sealer
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

	// Authentication, with --token-key: the token check, its replay
	// cache, the token being checked, and the sealing nonce's scratch.
	verifier *auth.Verifier
	replay   *auth.ReplayCache
	tok      auth.Token
	nonce    [12]byte
}

func newSink(cfg *config) (*sink, error) {
	// Raw batch calls: the sink is one goroutine, and a scheduled batch
	// call longer than sysmon's 20 µs would hand its P to another thread.
	conn, err := udp.Listen(cfg.listen, udp.Options{Batch: batch, RecvBuffer: 16 << 20, SendBuffer: 16 << 20, RawSyscalls: true})
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
	if cfg.tokenKey != nil {
		// The bound address (--listen with its port resolved) is the one
		// a token must name.
		self := conn.LocalAddr()
		self = netip.AddrPortFrom(self.Addr().Unmap(), self.Port())
		if s.verifier, err = auth.NewVerifier(cfg.tokenKey, nil, []netip.AddrPort{self}); err != nil {
			conn.Close()
			return nil, fmt.Errorf("--token-key: %w", err)
		}
		if s.replay, err = auth.NewReplayCache(1<<17, 4); err != nil {
			conn.Close()
			return nil, err
		}
	}
	// The same closed chests in every snapshot, as many as fit the size
	// (the sealed datagram's, with authentication).
	budget := cfg.snapshotBytes
	if s.verifier != nil {
		budget -= auth.Overhead
	}
	n := 0
	for schema.SnapshotSize(n+1, 0, 0, 0) <= budget {
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
	if s.verifier != nil && len(b) >= 8 && b[7] >= 0x80 {
		b = s.open(b, from)
		if b == nil {
			return
		}
	} else if s.verifier != nil {
		if body, err := s.dec.Decode(b); err == nil && body != wire.BodyHello && body != wire.BodyConnect {
			s.m.Drops[common.DropBadSession].Add(1) // unauthenticated: must be sealed
			return
		}
	}
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
		if p := s.session(pf.SessionID, from); p != nil {
			s.sendTo(p, s.enc.Pong(&schema.PongFrame{T: pf.T, ServerTick: s.tick}))
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
	if s.verifier != nil && !s.checkToken(c, from) {
		reject(wire.RejectReasonBadToken)
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
		if s.verifier != nil {
			p := &s.players[i]
			var err error
			if p.open, err = auth.NewOpener(p.session, &s.tok.Keys.ClientToServer); err == nil {
				p.seal, err = auth.NewSealer(p.session, &s.tok.Keys.ServerToClient)
			}
			if err != nil {
				p.active = false
				reject(wire.RejectReasonBadToken)
				return
			}
		}
	}
	p := &s.players[i]
	s.sendTo(p, s.enc.Welcome(&schema.WelcomeFrame{SessionID: p.session, PlayerID: uint32(i),
		TickHz: uint16(time.Second / s.cfg.tick), ServerTick: s.tick, Region: c.Region, ClientNonce: c.ClientNonce}))
}

// checkToken verifies the Connect's token and admits it to the replay
// cache (owner: the address and nonce, as treasured's), leaving it in s.tok.
func (s *sink) checkToken(c *schema.ConnectFrame, from netip.AddrPort) bool {
	now := time.Now()
	if err := s.verifier.Verify(c.Token, now, &s.tok); err != nil {
		s.m.Drops[common.DropMalformed].Add(1)
		return false
	}
	owner := c.ClientNonce ^ uint64(from.Port())<<48
	for _, b := range from.Addr().As16() {
		owner = owner*131 + uint64(b)
	}
	if err := s.replay.Admit(s.tok.ID(), owner, s.tok.Expires, uint64(now.Unix())); err != nil {
		s.m.Drops[common.DropMalformed].Add(1)
		return false
	}
	return true
}

// open opens a sealed datagram of the player at from in place and returns
// the message, or nil (counted).
func (s *sink) open(b []byte, from netip.AddrPort) []byte {
	i, ok := s.byAddr[from]
	if !ok || !s.players[i].active || s.players[i].open == nil {
		s.m.Drops[common.DropBadSession].Add(1)
		return nil
	}
	msg, err := s.players[i].open.Open(b)
	if err != nil {
		s.m.Drops[common.DropMalformed].Add(1)
		return nil
	}
	return msg
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
		s.sendTo(p, s.enc.Snapshot(f))
		s.m.SnapshotsSent.Add(1)
	}
	s.flush()
	ended := time.Now()
	s.m.ObserveTick(began.Sub(sched), ended.Sub(began), ended.After(sched.Add(s.cfg.tick)))
}

// sendTo queues msg for player p, sealed when p has keys.
func (s *sink) sendTo(p *player, msg []byte) {
	if p.seal == nil {
		s.send(msg, p.addr)
		return
	}
	i := len(s.out)
	buf := s.outBufs[i]
	n := copy(buf[auth.HeaderSize:cap(buf)-16], msg)
	d, err := p.seal.Seal(buf[:cap(buf)], n, &s.nonce)
	if err != nil {
		s.m.SendErrors.Add(1)
		return
	}
	s.out = append(s.out, udp.Message{Buf: d, Addr: p.addr})
	if len(s.out) == cap(s.out) {
		s.flush()
	}
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

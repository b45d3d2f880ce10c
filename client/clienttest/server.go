// Package clienttest provides an in-process fake treasured server on
// 127.0.0.1 for tests of code built on package client (bots, the load
// generator, the client itself), in the spirit of net/http/httptest.
//
// It speaks the real protocol through the schema codec: a handshake with a
// nonce-bound cookie, exactly-once application of action seqs (the sliding
// window of docs/PROTOCOL.md "Inputs"), per-player delta snapshots against the acknowledged
// tick, and loot events that repeat in every snapshot until a tick carrying
// them is acknowledged. Its world is a row of chests (chest i at x = i m,
// y = 0) that every player sees, with no reach or speed rules: it tests the
// protocol, not the game. Opening a closed chest generates loot; picking it
// up closes the chest again.
package clienttest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// Options configure a Server. The zero value is usable.
type Options struct {
	// Addr is the UDP address to listen on; "" means 127.0.0.1 on a free
	// port. A test of a server restart gives the second server the first
	// one's Addr.
	Addr      string
	Chests    int           // chests in the world; 0 means 8
	Tick      time.Duration // tick period; 0 means 5 ms (tests run fast)
	RejectKey uint64        // a Connect with this player key gets Reject ServerFull; 0 = none
	Garbage   int           // malformed datagrams sent to each new player
	// Logf reports the server's own failures (a send error, a snapshot that
	// would not fit); nil means panic, so a broken test fails loudly.
	Logf func(format string, args ...any)
}

// Player is what the server knows about one player, for checks after Close.
type Player struct {
	Key     uint64
	ID      uint32
	Session uint64
	LastSeq uint32             // highest action seq applied
	Applied map[uint32]int     // seq -> times applied: every value must be 1
	Items   uint32             // loot picked up
	Events  []schema.LootEvent // every event generated while it was connected
	Gone    bool               // said Bye

	addr    *net.UDPAddr
	nonce   uint64
	ack     uint32
	sent    map[uint32]bool
	pending []pendingLoot
}

type pendingLoot struct {
	ev        schema.LootEvent
	firstSent uint32 // first tick that carried it, 0 = not yet sent
}

// Server is the fake server. It runs one goroutine from Start to Close;
// reading its state before Close is a data race.
type Server struct {
	opts Options
	conn *net.UDPConn
	enc  *schema.Encoder
	dec  schema.Decoder

	tick    uint32
	chests  []schema.ChestState
	players map[string]*Player
	byID    []*Player
	events  []schema.LootEvent
	frame   *schema.SnapshotFrame

	wg      sync.WaitGroup
	stop    chan struct{}
	started bool
	closed  bool
}

// NewServer listens on 127.0.0.1 (a free port) and returns the server, not
// yet running.
func NewServer(opts Options) (*Server, error) {
	if opts.Chests == 0 {
		opts.Chests = 8
	}
	if opts.Tick == 0 {
		opts.Tick = 5 * time.Millisecond
	}
	if opts.Logf == nil {
		opts.Logf = func(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }
	}
	laddr := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	if opts.Addr != "" {
		a, err := net.ResolveUDPAddr("udp", opts.Addr)
		if err != nil {
			return nil, err
		}
		laddr = a
	}
	conn, err := net.ListenUDP("udp", laddr)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, conn: conn, enc: schema.NewEncoder(), players: map[string]*Player{},
		stop: make(chan struct{}), frame: schema.NewSnapshotFrame()}
	for i := range opts.Chests {
		s.chests = append(s.chests, schema.ChestState{ID: uint32(i), OpenedBy: schema.NoPlayer, Pos: schema.Vec2{X: int32(i) * 1000}})
	}
	return s, nil
}

// Addr is the server's UDP address.
func (s *Server) Addr() string { return s.conn.LocalAddr().String() }

// Start runs the server's goroutine.
func (s *Server) Start() {
	s.started = true
	s.wg.Add(1)
	go s.run()
}

// Close stops the server and waits for its goroutine. Idempotent.
func (s *Server) Close() {
	if s.closed {
		return
	}
	s.closed = true
	close(s.stop)
	s.wg.Wait()
	s.conn.Close()
}

// Events is every loot event generated, in order (after Close).
func (s *Server) Events() []schema.LootEvent { return s.events }

// Chests is the final world (after Close).
func (s *Server) Chests() []schema.ChestState { return s.chests }

// Players is every player that connected, in join order (after Close).
func (s *Server) Players() []*Player { return s.byID }

// PlayerByKey finds a player by its Connect player key (after Close).
func (s *Server) PlayerByKey(key uint64) *Player {
	for _, p := range s.byID {
		if p.Key == key {
			return p
		}
	}
	return nil
}

func (s *Server) run() {
	defer s.wg.Done()
	buf := make([]byte, 2048)
	next := time.Now().Add(s.opts.Tick)
	for {
		select {
		case <-s.stop:
			s.drain(buf)
			return
		default:
		}
		if err := s.conn.SetReadDeadline(next); err != nil {
			s.opts.Logf("clienttest: %v", err)
			return
		}
		n, from, err := s.conn.ReadFromUDP(buf)
		if err == nil {
			s.handle(buf[:n], from)
		} else if !errors.Is(err, os.ErrDeadlineExceeded) {
			return
		}
		if !time.Now().Before(next) {
			s.step()
			next = next.Add(s.opts.Tick)
		}
	}
}

// drain handles what is already queued in the socket when Close is called:
// on loopback a datagram is in the receiver's queue when sendto returns, so
// a test that closes the server after its clients finished sees all they
// sent (their Byes included).
func (s *Server) drain(buf []byte) {
	// A deadline already past fails reads before they look at the queue;
	// a short one returns as soon as the queue is empty plus that long.
	if err := s.conn.SetReadDeadline(time.Now().Add(5 * time.Millisecond)); err != nil {
		return
	}
	for range 100_000 {
		n, from, err := s.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		s.handle(buf[:n], from)
	}
}

func cookieFor(nonce uint64) schema.Cookie {
	return schema.Cookie{Hi: nonce*0x9e3779b97f4a7c15 ^ 0xabcdef, Lo: ^nonce}
}

func (s *Server) send(b []byte, to *net.UDPAddr) {
	if _, err := s.conn.WriteToUDP(b, to); err != nil {
		s.opts.Logf("clienttest: send: %v", err)
	}
}

func (s *Server) handle(b []byte, from *net.UDPAddr) {
	body, err := s.dec.Decode(b)
	if err != nil {
		return
	}
	switch body {
	case wire.BodyHello:
		var h schema.HelloFrame
		s.dec.HelloInto(&h)
		s.send(s.enc.Challenge(&schema.ChallengeFrame{Cookie: cookieFor(h.ClientNonce), Expiry: 1, ClientNonce: h.ClientNonce}), from)
	case wire.BodyConnect:
		var c schema.ConnectFrame
		s.dec.ConnectInto(&c)
		if s.opts.RejectKey != 0 && c.PlayerKey == s.opts.RejectKey {
			s.send(s.enc.Reject(&schema.RejectFrame{Reason: uint8(wire.RejectReasonServerFull), ClientNonce: c.ClientNonce}), from)
			return
		}
		if c.Cookie != cookieFor(c.ClientNonce) {
			s.send(s.enc.Reject(&schema.RejectFrame{Reason: uint8(wire.RejectReasonBadCookie), ClientNonce: c.ClientNonce}), from)
			return
		}
		p := s.players[from.String()]
		if p == nil {
			p = &Player{Key: c.PlayerKey, ID: uint32(len(s.byID)), addr: from, nonce: c.ClientNonce,
				Applied: map[uint32]int{}, sent: map[uint32]bool{}}
			p.Session = 1<<63 | uint64(p.ID)
			s.players[from.String()] = p
			s.byID = append(s.byID, p)
			for range s.opts.Garbage {
				s.send([]byte("this is not a flatbuffer at all"), from)
			}
		}
		s.send(s.enc.Welcome(&schema.WelcomeFrame{SessionID: p.Session, PlayerID: p.ID, TickHz: uint16(time.Second / s.opts.Tick),
			ServerTick: s.tick, ClientNonce: p.nonce}), from)
	case wire.BodyInput:
		var in schema.InputFrame
		s.dec.InputInto(&in)
		p := s.players[from.String()]
		if p == nil || p.Session != in.SessionID || p.Gone {
			return
		}
		if in.AckTick > p.ack && p.sent[in.AckTick] {
			p.ack = in.AckTick
		}
		// Apply each seq exactly once, in order. The client sends its
		// oldest unacknowledged actions first, so the next seq due is
		// either here or already applied.
		for _, a := range in.Actions[:in.N] {
			if len(p.Applied) == 0 && a.Seq > 0 {
				// A client reconnecting to a server that does not know
				// it goes on numbering where it was (as treasured's
				// engine allows: its window restarts on a resume).
				p.LastSeq = a.Seq - 1
			}
			if a.Seq != p.LastSeq+1 {
				continue
			}
			p.LastSeq = a.Seq
			p.Applied[a.Seq]++
			s.apply(p, a)
		}
	case wire.BodyPing:
		var pi schema.PingFrame
		s.dec.PingInto(&pi)
		s.send(s.enc.Pong(&schema.PongFrame{T: pi.T, ServerTick: s.tick}), from)
	case wire.BodyBye:
		if p := s.players[from.String()]; p != nil {
			p.Gone = true
		}
	}
}

func (s *Server) apply(p *Player, a schema.Action) {
	switch a.Kind {
	case uint8(wire.ActionKindOpenChest):
		if a.Target >= uint64(len(s.chests)) {
			return
		}
		c := &s.chests[a.Target]
		if c.Status == uint8(wire.ChestStatusOpened) {
			return // idempotent: a second open generates nothing
		}
		c.Status = uint8(wire.ChestStatusOpened)
		c.Generation++
		c.LootID = uint64(c.ID)<<32 | uint64(c.Generation)
		c.OpenedBy = p.ID
		c.ChangedTick = s.tick + 1
		s.emit(schema.LootEvent{LootID: c.LootID, Kind: uint8(wire.LootEventKindGenerated), Item: 1, Qty: 1, Chest: c.ID, Player: p.ID, Tick: s.tick + 1, Pos: c.Pos})
	case uint8(wire.ActionKindPickupLoot):
		for i := range s.chests {
			c := &s.chests[i]
			if c.Status == uint8(wire.ChestStatusOpened) && c.LootID == a.Target {
				c.Status = uint8(wire.ChestStatusClosed)
				c.OpenedBy = schema.NoPlayer
				c.ChangedTick = s.tick + 1
				p.Items++
				s.emit(schema.LootEvent{LootID: a.Target, Kind: uint8(wire.LootEventKindPickedUp), Chest: c.ID, Player: p.ID, Tick: s.tick + 1, Pos: c.Pos})
				c.LootID = 0
				return
			}
		}
	}
}

func (s *Server) emit(ev schema.LootEvent) {
	s.events = append(s.events, ev)
	for _, p := range s.byID {
		if !p.Gone {
			p.pending = append(p.pending, pendingLoot{ev: ev})
			p.Events = append(p.Events, ev)
		}
	}
}

// step runs one tick: every connected player gets a snapshot, delta against
// its acknowledged tick.
func (s *Server) step() {
	s.tick++
	f := s.frame
	for _, p := range s.byID {
		if p.Gone {
			continue
		}
		// An event rides until a tick that carried it is acknowledged:
		// every tick from its first carrier to the ack carried it, so the
		// acknowledged tick did.
		keep := p.pending[:0]
		for _, pl := range p.pending {
			if pl.firstSent == 0 || p.ack < pl.firstSent {
				keep = append(keep, pl)
			}
		}
		p.pending = keep

		f.Tick = s.tick
		f.BaselineTick = p.ack // 0 until the first ack: a full snapshot
		f.LastActionSeq = p.LastSeq
		f.You = schema.PlayerState{ID: p.ID, Items: p.Items, ChangedTick: s.tick}
		f.Chests = f.Chests[:0]
		for _, c := range s.chests {
			if f.BaselineTick == 0 || c.ChangedTick > f.BaselineTick {
				f.Chests = append(f.Chests, c)
			}
		}
		f.Players = f.Players[:0]
		for _, o := range s.byID {
			if o != p && !o.Gone && len(f.Players) < 8 {
				f.Players = append(f.Players, schema.PlayerState{ID: o.ID, Items: o.Items, ChangedTick: s.tick})
			}
		}
		f.Events = f.Events[:0]
		for i := range p.pending {
			if len(f.Events) == 8 {
				break // the rest next tick
			}
			if p.pending[i].firstSent == 0 {
				p.pending[i].firstSent = s.tick
			}
			f.Events = append(f.Events, p.pending[i].ev)
		}
		if n := schema.SnapshotSize(len(f.Chests), len(f.Players), 0, len(f.Events)); n > schema.MaxDatagram {
			s.opts.Logf("clienttest: snapshot of %d bytes > MaxDatagram (too many chests?)", n)
			return
		}
		p.sent[s.tick] = true
		s.send(s.enc.Snapshot(f), p.addr)
	}
}

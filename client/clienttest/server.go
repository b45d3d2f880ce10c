// Package clienttest starts the real treasured server, netio and the engine,
// in process on 127.0.0.1 for tests of code built on package client (bots,
// the load generator, the client itself), in the spirit of
// net/http/httptest. There is no second implementation of the protocol
// here: what a test checks on the server side comes from the engine itself,
// the records it applied (LastOrdered, as the journal receives them), its
// loot events, counters and final chests.
//
// A test that needs a misbehaving network puts a Relay between the client
// and the server: a fake at the socket seam, never in the protocol.
package clienttest

import (
	"context"
	crand "crypto/rand"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/treasured/treasured/engine"
	"github.com/treasured/treasured/engine/journal"
	"github.com/treasured/treasured/netio"
	"github.com/treasured/treasured/netio/auth"
	"github.com/treasured/treasured/schema"
)

// Options configure a Server. The zero value is usable.
type Options struct {
	// Addr is the UDP address to listen on; "" means 127.0.0.1 on a free
	// port. A test of a restart gives the second server the first one's.
	Addr string
	// DataDir, if set, holds the world's journal and checkpoints: a second
	// Server on the same DataDir (and Options) recovers the first one's
	// world, as treasured --data-dir does after a crash.
	DataDir string
	Chests  int           // chests in the world; 0 means 8
	Players int           // player slots; 0 means 16
	Tick    time.Duration // tick period, dividing one second; 0 means 10 ms
	Logger  *slog.Logger  // the server's log; nil discards it
	// TokenKey is the connect-token key the server checks tokens with
	// (Target issues them); nil means a new one. A test of a restart gives
	// the second server the first one's (Server.TokenKey), as a real
	// server restarts with its key file.
	TokenKey *auth.Key
}

// zoneMM is the side of the world's only zone. 2 m square, every chest is
// in view of and within reach (3 m) of every player wherever it stands, so
// a test needs no walking.
const zoneMM = 2000

func (o *Options) engineConfig() (engine.Config, error) {
	if o.Chests == 0 {
		o.Chests = 8
	}
	if o.Players == 0 {
		o.Players = 16
	}
	if o.Tick == 0 {
		o.Tick = 10 * time.Millisecond
	}
	hz, err := engine.TickHzOf(o.Tick)
	if err != nil {
		return engine.Config{}, fmt.Errorf("clienttest: %w", err)
	}
	cfg := engine.DefaultConfig()
	cfg.Regions, cfg.ZonesX, cfg.ZonesY, cfg.ZoneSize = 1, 1, 1, zoneMM
	cfg.ChestsPerZone = o.Chests
	cfg.MaxPlayers = o.Players
	cfg.TickHz = hz
	// Loot and chests live far longer than a test, so the final world is
	// what the players left, not what expiry and respawn made of it.
	cfg.LootTTLTicks = cfg.Ticks(10 * time.Minute)
	cfg.RespawnTicks = cfg.LootTTLTicks + 1
	// A player whose session ends is parked, so a client that reconnects
	// (to this server or, with DataDir, to its successor) is resumed.
	cfg.GraceTicks = cfg.Ticks(time.Minute)
	if err := cfg.Validate(); err != nil {
		return engine.Config{}, fmt.Errorf("clienttest: %w", err)
	}
	return cfg, nil
}

// Server is the real server on loopback. Its facts (Events, Chests, Stats,
// Player) are final, and safe to read, once Close has returned.
type Server struct {
	key       *auth.Key
	srv       *netio.Server
	world     *engine.World
	facts     *recorder
	closeOnce sync.Once
	closeErr  error
}

// NewServer starts a server.
func NewServer(opts Options) (*Server, error) {
	ecfg, err := opts.engineConfig()
	if err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var (
		world *engine.World
		inner netio.Journal
	)
	if opts.DataDir != "" {
		dir, _, err := journal.Open(opts.DataDir, ecfg, journal.DirOptions{Journal: journal.Options{SyncEvery: -1}, Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("clienttest: data directory: %w", err)
		}
		world, inner = dir.World(), dir
	} else if world, err = engine.New(ecfg); err != nil {
		return nil, fmt.Errorf("clienttest: %w", err)
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	key := opts.TokenKey
	if key == nil {
		if key, err = auth.GenerateKey(1, crand.Reader); err != nil {
			return nil, fmt.Errorf("clienttest: token key: %w", err)
		}
	}
	facts := &recorder{inner: inner, world: world, players: map[uint64]*Player{}, bySlot: map[int32]*Player{}}
	hz := world.Config().TickHz
	srv, err := netio.New(netio.Config{
		Addr:    addr,
		Loops:   1,
		Journal: facts,
		Restore: world.SlotState,
		// Connect tokens on, as in production: Target issues them.
		TokenKey: key,
		// The per-session limits are sized for 20 Hz; tests tick faster
		// and their clients send an Input per poll, not per tick.
		SessionRate:  float64(20 * hz),
		SessionBurst: int(hz),
		Logger:       logger,
	}, netio.EngineWorld(world))
	if err == nil {
		err = srv.Start()
	}
	if err != nil {
		if inner != nil {
			_ = inner.Close()
		}
		return nil, fmt.Errorf("clienttest: %w", err)
	}
	return &Server{key: key, srv: srv, world: world, facts: facts}, nil
}

// Addr is the server's UDP address.
func (s *Server) Addr() string { return s.srv.Addr().String() }

// Target is what a client needs to reach a Server: its address, and a
// connect token with its session keys (client.Credentials{Token, Keys};
// this package cannot name client's type, whose tests import it).
type Target struct {
	Addr  string // the UDP address to dial
	Token []byte
	Keys  auth.SessionKeys
}

// Target returns where and how the client with player key key connects: a
// fresh token for user key, issued with the server's key for its address,
// as a login backend would (a token is good for one connection: call it
// again for a reconnect). Tests take their dial parameters from here, so
// that a change of what the handshake requires of a client is made in this
// package. Issuing cannot fail with these claims; if it did, the token is
// empty and the server refuses it (Reject BadToken).
func (s *Server) Target(key uint64) Target {
	t := Target{Addr: s.Addr()}
	tok, keys, err := s.key.Issue(nil, auth.Claims{UserID: key, Servers: []netip.AddrPort{s.srv.Addr()}, Expires: time.Now().Add(10 * time.Minute)}, crand.Reader)
	if err == nil {
		t.Token, t.Keys = tok, keys
	}
	return t
}

// TokenKey is the server's connect-token key.
func (s *Server) TokenKey() *auth.Key { return s.key }

// Close shuts the server down: a final snapshot and a Bye to every player,
// then the journal is closed. Idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			s.closeErr = fmt.Errorf("clienttest: shutdown: %w", err)
		}
	})
	return s.closeErr
}

// Events is every loot event the engine generated, in order (after Close).
func (s *Server) Events() []schema.LootEvent { return s.facts.events }

// Chests is the final world (after Close).
func (s *Server) Chests() []schema.ChestState {
	out := make([]schema.ChestState, s.world.NumChests())
	for i := range out {
		out[i], _ = s.world.Chest(uint32(i))
	}
	return out
}

// Stats are the engine's counters (after Close). ActionsApplied counts the
// action seqs its exactly-once window let through, ActionsDuplicate the
// repeats it filtered.
func (s *Server) Stats() engine.Stats { return s.world.Stats() }

// Player is what the engine was given for one player key, read from the
// records it applied (the journal's stream).
type Player struct {
	Key  uint64
	Slot int32 // its slot at its last Join
	// Seqs maps each action seq that reached the engine to the number of
	// Input records that carried it. A client repeats an action until it
	// is acknowledged, so counts above 1 are expected; the engine applies
	// each seq once (Server.Stats).
	Seqs   map[uint32]int
	Joins  int // Join records: 1 + resumes
	Leaves int // Leave records (Bye, timeout, shutdown)
}

// Player returns the facts for the player that joined with key (after
// Close), or nil if none did.
func (s *Server) Player(key uint64) *Player { return s.facts.players[key] }

// recorder is the server's journal: it keeps the facts tests check, read
// from the ordered records the engine applied (World.LastOrdered) and the
// tick's loot events, and hands every tick on to the data directory if
// there is one. It runs on the tick goroutine; tests read it after
// Shutdown, which orders them after that goroutine's end.
type recorder struct {
	inner   netio.Journal
	world   *engine.World
	players map[uint64]*Player
	bySlot  map[int32]*Player
	events  []schema.LootEvent
}

func (r *recorder) Append(tick uint32, recs []engine.Record, hash uint64) error {
	for i := range recs {
		rec := &recs[i]
		switch rec.Kind {
		case engine.RecJoin:
			p := r.players[rec.Key]
			if p == nil {
				p = &Player{Key: rec.Key, Seqs: map[uint32]int{}}
				r.players[rec.Key] = p
			}
			p.Slot = rec.Player
			p.Joins++
			r.bySlot[rec.Player] = p
		case engine.RecInput:
			if p := r.bySlot[rec.Player]; p != nil {
				for _, a := range rec.Actions[:rec.N] {
					p.Seqs[a.Seq]++
				}
			}
		case engine.RecLeave:
			if p := r.bySlot[rec.Player]; p != nil {
				p.Leaves++
			}
		}
	}
	r.events = append(r.events, r.world.TickEvents()...)
	if r.inner == nil {
		return nil
	}
	return r.inner.Append(tick, recs, hash)
}

func (r *recorder) SyncedTick() uint32 {
	if r.inner == nil {
		return 0
	}
	return r.inner.SyncedTick()
}

func (r *recorder) Close() error {
	if r.inner == nil {
		return nil
	}
	return r.inner.Close()
}

package netio

import (
	"context"
	crand "crypto/rand"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/treasured/treasured/client"
	"github.com/treasured/treasured/engine"
	"github.com/treasured/treasured/netio/auth"
	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// recordingWorld wraps the engine and records, on the tick goroutine, each
// tick's state hash and loot events. The test reads them only after
// Shutdown has returned, which orders it after the tick goroutine's end.
type recordingWorld struct {
	World
	w      *engine.World
	hashes map[uint32]uint64
	events []schema.LootEvent
}

func newRecordingWorld(ew *engine.World) *recordingWorld {
	return &recordingWorld{World: EngineWorld(ew), w: ew, hashes: map[uint32]uint64{}}
}

func (r *recordingWorld) Step(recs []engine.Record) {
	r.World.Step(recs)
	r.hashes[r.w.Tick()] = r.w.Hash()
	r.events = append(r.events, r.w.TickEvents()...)
}

// e2eEngineConfig is a small dense world: chests within a few metres of any
// spawn point, so every player finds loot within a second or two.
func e2eEngineConfig() engine.Config {
	cfg := engine.DefaultConfig()
	cfg.ZonesX, cfg.ZonesY = 8, 8
	cfg.ZoneSize = 4000
	cfg.ChestsPerZone = 4
	cfg.MaxPlayers = 256
	return cfg
}

type pinCall struct {
	cpus []int
}

type pinRecorder struct {
	mu    sync.Mutex
	calls []pinCall
}

func (p *pinRecorder) pin(cpus []int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, pinCall{slices.Clone(cpus)})
	return nil
}

func startServer(t *testing.T, cfg Config, w World) *Server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := New(cfg, w)
	if err != nil {
		t.Fatal(err)
	}
	NewRegistry(s) // exercises the metrics wiring and installs the tick observer
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	// A server a test leaves running keeps its SO_REUSEPORT sockets, and a
	// later test's socket bound to port 0 can join one of their groups and
	// lose datagrams to it (a server left over by TestUrgentEndToEnd made
	// the poll rigs' tests fail about once in 20 runs). Shutdown is
	// idempotent: a test that shut the server down itself loses nothing.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return s
}

type lootKey struct {
	id   uint64
	kind uint8
}

// clientResult is what one simulated player saw.
type clientResult struct {
	err      error
	player   uint32
	ticks    []uint32
	hashes   map[uint32]uint64
	shown    map[lootKey]schema.LootEvent // after de-duplication by (loot id, kind)
	raw      int                          // event instances received, repeats included
	own      int                          // own LootGenerated shown
	pickedUp bool
	bye      bool
}

// play is one player: join, walk to the nearest closed chest, open it, pick
// up its loot, acknowledge every snapshot, until the server says Bye.
// Every loop is bounded: by the read deadline and by a datagram budget.
func play(c *testClient, region uint8, reach int64, done func()) (res clientResult) {
	res.hashes = map[uint32]uint64{}
	res.shown = map[lootKey]schema.LootEvent{}
	if err := c.handshake(region, c.nonce*7919, time.Now().Add(30*time.Second)); err != nil {
		res.err = fmt.Errorf("handshake: %w", err)
		return res
	}
	res.player = c.w.PlayerID
	chests := map[uint32]schema.ChestState{}
	tried := map[uint32]bool{}
	var pending []schema.Action
	var seq uint32
	var loot uint64
	var haveLoot, pickupQueued, signalled bool
	queue := func(a schema.Action) {
		seq++
		a.Seq = seq
		pending = append(pending, a)
	}
	for range 20_000 { // ~1,000 s of snapshots: never reached, but bounded
		body, err := c.read(time.Now().Add(10 * time.Second))
		if err != nil {
			res.err = fmt.Errorf("after tick %v: %w", res.ticks[max(0, len(res.ticks)-1):], err)
			return res
		}
		switch body {
		case wire.BodyBye:
			var b schema.ByeFrame
			c.dec.ByeInto(&b)
			if b.SessionID != c.w.SessionID || b.Reason != uint8(wire.ByeReasonServerShutdown) {
				res.err = fmt.Errorf("bye %+v", b)
			}
			res.bye = true
			return res
		case wire.BodySnapshot:
		case wire.BodyWelcome, wire.BodyChallenge:
			// A late answer to a retransmitted Connect or Hello: a
			// repeated Connect gets the same Welcome again (PROTOCOL.md,
			// Handshake), and on a loaded machine it can arrive after
			// the retransmit timer fired.
			continue
		default:
			res.err = fmt.Errorf("unexpected %v", body)
			return res
		}
		f := c.frame
		c.dec.SnapshotInto(f)
		res.ticks = append(res.ticks, f.Tick)
		res.hashes[f.Tick] = f.StateHash
		for _, ch := range f.Chests {
			chests[ch.ID] = ch
		}
		me := f.You
		for _, ev := range f.Events {
			res.raw++
			k := lootKey{ev.LootID, ev.Kind}
			if _, dup := res.shown[k]; dup {
				continue
			}
			res.shown[k] = ev
			switch {
			case ev.Kind == uint8(wire.LootEventKindGenerated) && ev.Player == res.player:
				res.own++
				loot, haveLoot = ev.LootID, true
			case ev.Kind == uint8(wire.LootEventKindPickedUp) && ev.Player == res.player:
				res.pickedUp = true
			}
		}
		// Actions up to last_action_seq are applied; stop repeating them.
		pending = slices.DeleteFunc(pending, func(a schema.Action) bool { return a.Seq <= f.LastActionSeq })
		switch {
		case res.pickedUp:
			if !signalled {
				signalled = true
				done()
			}
		case haveLoot:
			if !pickupQueued {
				queue(schema.Action{Kind: uint8(wire.ActionKindPickupLoot), Target: loot})
				pickupQueued = true
			}
		case len(pending) == 0:
			best, bestD := uint32(0), int64(-1)
			for id, ch := range chests {
				if ch.Status != uint8(wire.ChestStatusClosed) || tried[id] {
					continue
				}
				dx, dy := int64(ch.Pos.X-me.Pos.X), int64(ch.Pos.Y-me.Pos.Y)
				if d := dx*dx + dy*dy; bestD < 0 || d < bestD {
					best, bestD = id, d
				}
			}
			switch {
			case bestD < 0:
			case bestD <= reach*reach:
				tried[best] = true
				queue(schema.Action{Kind: uint8(wire.ActionKindOpenChest), Target: uint64(best)})
			default:
				queue(schema.Action{Kind: uint8(wire.ActionKindMove), Pos: chests[best].Pos})
			}
		}
		in := schema.InputFrame{SessionID: c.w.SessionID, AckTick: f.Tick, N: min(len(pending), schema.MaxActions)}
		copy(in.Actions[:], pending)
		if err := c.send(c.enc.Input(&in)); err != nil {
			res.err = err
			return res
		}
	}
	res.err = fmt.Errorf("datagram budget exhausted")
	return res
}

// TestEndToEnd: 200 clients over 2 loops connect, act, receive a snapshot
// every tick, see each of their loot events exactly once, see the engine's
// state hash in every snapshot, and get a final snapshot and a Bye at
// shutdown.
func TestEndToEnd(t *testing.T) { forEachBackend(t, testEndToEnd) }

func testEndToEnd(t *testing.T, bc backendCase) {
	if testing.Short() {
		t.Skip("200 clients for several seconds")
	}
	const clients = 200
	ecfg := e2eEngineConfig()
	ew := newEngine(t, ecfg)
	world := newRecordingWorld(ew)
	pins := &pinRecorder{}
	// With connect tokens, as in production: every datagram after the
	// handshake is sealed both ways.
	srv := startServer(t, bc.config(Config{
		Loops: 2, IOCPUs: []int{10, 11}, EngineCPUs: []int{12}, PinThread: pins.pin,
		TokenKey: testKey(t, 1),
	}), world)

	fleet := playFleet(t, srv, clients, ecfg, 90*time.Second)
	// A few more ticks of plain snapshots and acks before shutting down.
	time.Sleep(300 * time.Millisecond)
	shutdown(t, srv)
	final := srv.Tick()
	results := fleet()

	engineEvents := map[lootKey]schema.LootEvent{}
	for _, ev := range world.events {
		engineEvents[lootKey{ev.LootID, ev.Kind}] = ev
	}
	players := map[uint32]bool{}
	var raw, shown int
	for i, r := range results {
		if r.err != nil {
			t.Errorf("client %d: %v", i, r.err)
			continue
		}
		if players[r.player] {
			t.Errorf("client %d: player %d given twice", i, r.player)
		}
		players[r.player] = true
		if !r.bye || !r.pickedUp || r.own == 0 {
			t.Errorf("client %d: bye=%v pickedUp=%v own loot=%d", i, r.bye, r.pickedUp, r.own)
		}
		// A snapshot every tick, from the first to the final one, each once.
		for j := 1; j < len(r.ticks); j++ {
			if r.ticks[j] != r.ticks[j-1]+1 {
				t.Errorf("client %d: tick %d followed by %d", i, r.ticks[j-1], r.ticks[j])
				break
			}
		}
		if len(r.ticks) == 0 || r.ticks[len(r.ticks)-1] != final {
			t.Errorf("client %d: last snapshot %v, final tick %d", i, r.ticks[max(0, len(r.ticks)-1):], final)
		}
		for tick, h := range r.hashes {
			if want, ok := world.hashes[tick]; !ok || h != want {
				t.Errorf("client %d: tick %d hash %x, engine %x", i, tick, h, want)
				break
			}
		}
		// Every event shown is the engine's, and every event of this
		// player's own loot (found or picked up by it) was shown.
		for k, ev := range r.shown {
			if want, ok := engineEvents[k]; !ok || want != ev {
				t.Errorf("client %d: shown %+v, engine has %+v", i, ev, want)
			}
		}
		for k, ev := range engineEvents {
			if ev.Player == r.player && (ev.Kind == uint8(wire.LootEventKindGenerated) || ev.Kind == uint8(wire.LootEventKindPickedUp)) {
				if _, ok := r.shown[k]; !ok {
					t.Errorf("client %d: own event %+v never shown", i, ev)
				}
			}
		}
		raw += r.raw
		shown += len(r.shown)
	}

	var drops uint64
	for i := range srv.LoopStats {
		for r := range NumDropReasons {
			if n := srv.LoopStats[i].Drops[r].Load(); n > 0 {
				t.Errorf("loop %d dropped %d datagrams: %v", i, n, DropReason(r))
				drops += n
			}
		}
		if srv.LoopStats[i].Welcomes.Load() == 0 {
			t.Errorf("loop %d served no client: SO_REUSEPORT did not spread %d clients", i, clients)
		}
	}
	fs := &srv.FanoutStats[0]
	if fs.Dropped.Load()+fs.SendErrors.Load()+fs.EncodeErrors.Load()+fs.NoAddress.Load() != 0 {
		t.Errorf("fan-out: dropped %d errors %d encode %d noaddr %d", fs.Dropped.Load(), fs.SendErrors.Load(),
			fs.EncodeErrors.Load(), fs.NoAddress.Load())
	}
	if fs.Byes.Load() != clients {
		t.Errorf("%d byes sent", fs.Byes.Load())
	}
	// Pinning: each loop's thread to its own I/O CPU, the engine's to its.
	pins.mu.Lock()
	var got [][]int
	for _, c := range pins.calls {
		got = append(got, c.cpus)
	}
	pins.mu.Unlock()
	slices.SortFunc(got, func(a, b []int) int { return a[0] - b[0] })
	want := "[[10] [11] [12]]"
	if bc.inline {
		want = "[[12]]" // no loop thread: the engine's serves the socket
	}
	if bc.backend == BackendPoll {
		want = "[]" // unlocked goroutines: nothing to pin
	}
	if fmt.Sprint(got) != want {
		t.Errorf("pin calls %v", got)
	}
	t.Logf("%d clients, final tick %d, %d loot events shown (%d instances on the wire), tick overruns %d, max jitter %v",
		clients, final, shown, raw, srv.TickStats.Overruns.Load(), time.Duration(srv.TickStats.MaxLate.Load()))
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// playFleet starts n test clients against srv, each playing (walk to a chest,
// open it, pick up the loot) and then acking until the server says Bye, and
// waits up to limit for all of them to have picked up their loot. The
// function it returns waits for every client to end (call it after the
// server's Shutdown) and returns their results.
func playFleet(t *testing.T, srv *Server, n int, ecfg engine.Config, limit time.Duration) func() []clientResult {
	t.Helper()
	var wg sync.WaitGroup
	results := make([]clientResult, n)
	var finished atomic.Int32
	allDone := make(chan struct{})
	for i := range n {
		// On IPv4 loopback each player is a host of its own (127.1.x.y),
		// as on the Internet: the per-IP admission limits are for hosts.
		var local netip.Addr
		if a := srv.Addr().Addr(); a.Is4() && a.IsLoopback() {
			local = netip.AddrFrom4([4]byte{127, 1, byte(i / 250), byte(i%250 + 1)})
		}
		c, err := newTestClientFrom(srv.Addr(), local, uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		if k := srv.cfg.TokenKey; k != nil {
			// The user play() presents as its player key.
			c.cred = srvCredentials(t, srv, c.nonce*7919)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.close()
			results[i] = play(c, uint8(i%ecfg.Regions), int64(ecfg.ReachMM)*9/10, func() {
				if finished.Add(1) == int32(n) {
					close(allDone)
				}
			})
		}()
	}
	select {
	case <-allDone:
	case <-time.After(limit):
		t.Errorf("only %d of %d clients picked up their loot in %v", finished.Load(), n, limit)
	}
	return func() []clientResult {
		wg.Wait()
		return results
	}
}

// srvCredentials issues user a token for srv with its key, as a login
// backend would.
func srvCredentials(t testing.TB, srv *Server, user uint64) client.Credentials {
	t.Helper()
	tok, keys, err := srv.cfg.TokenKey.Issue(nil, auth.Claims{UserID: user, Servers: []netip.AddrPort{srv.Addr()}, Expires: time.Now().Add(10 * time.Minute)}, crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return client.Credentials{Token: tok, Keys: keys}
}

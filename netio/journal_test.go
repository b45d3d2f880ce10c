package netio

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/treasured/treasured/engine"
	"github.com/treasured/treasured/engine/journal"
	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// A real server journals every tick; replaying the file offline rebuilds
// the same world: every tick's hash matches, and the replay ends at the
// server's final tick with the hash the clients saw.
func TestJournalEndToEnd(t *testing.T) { forEachBackend(t, testJournalEndToEnd) }

func testJournalEndToEnd(t *testing.T, bc backendCase) {
	if testing.Short() {
		t.Skip("clients for a few seconds")
	}
	const clients = 20
	ecfg := e2eEngineConfig()
	ew := newEngine(t, ecfg)
	path := filepath.Join(t.TempDir(), "treasured.journal")
	jw, err := journal.Create(path, ew.Config(), ew.Tick(), journal.Options{SyncEvery: 5})
	if err != nil {
		t.Fatal(err)
	}
	world := newRecordingWorld(ew)
	srv := startServer(t, bc.config(Config{Loops: 2, Journal: jw}), world)

	fleet := playFleet(t, srv, clients, ecfg, 60*time.Second)
	shutdown(t, srv)
	final := srv.Tick()
	results := fleet()
	if n := srv.TickStats.JournalErrors.Load(); n != 0 {
		t.Fatalf("%d journal errors", n)
	}
	if got := jw.SyncedTick(); got != final {
		t.Errorf("synced tick %d after Close, final tick %d", got, final)
	}
	if err := jw.Close(); !errors.Is(err, journal.ErrClosed) {
		t.Errorf("the server did not close the journal: second Close says %v", err)
	}

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var mismatches int
	res, err := journal.Replay(f, func(tick uint32, want, got uint64) bool {
		if live, ok := world.hashes[tick]; !ok || live != want || got != want {
			if mismatches++; mismatches <= 5 {
				t.Errorf("tick %d: live %x (known %v), journal %x, replay %x", tick, live, ok, want, got)
			}
		}
		return true
	})
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	if res.Diverged || res.Truncated || res.Ticks == 0 || res.FirstTick != 1 || res.LastTick != final || res.Ticks != int(final) {
		t.Fatalf("replay %+v, final tick %d", res, final)
	}
	if res.FinalHash != ew.Hash() {
		t.Fatalf("replayed final hash %x, live %x", res.FinalHash, ew.Hash())
	}
	// The clients saw the journal's hashes (they saw the engine's, which
	// the journal matched above).
	for i, r := range results {
		if r.err != nil {
			t.Errorf("client %d: %v", i, r.err)
		}
		for tick, h := range r.hashes {
			if h != world.hashes[tick] {
				t.Errorf("client %d: tick %d hash %x, engine %x", i, tick, h, world.hashes[tick])
				break
			}
		}
	}
	t.Logf("%d ticks journaled and replayed, %d clients", res.Ticks, clients)
}

// tickRig is a Server whose tick runs by hand, without sockets: the rings
// are fed directly and the fan-out sends to memory.
type tickRig struct {
	s       *Server
	players int
	e       ringEntry
	seq     uint32
}

func newTickRig(t testing.TB, players int, j Journal) *tickRig {
	t.Helper()
	ecfg := engine.DefaultConfig()
	ecfg.MaxPlayers = players
	ew := newEngine(t, ecfg)
	s, err := New(Config{NoAuth: true, Addr: "127.0.0.1:0", Journal: j, Logger: discardLogger()}, EngineWorld(ew))
	if err != nil {
		t.Fatal(err)
	}
	w := newFanWorker(s.world.NewSnapshotter(), &memSender{batch: DefaultBatchSize}, &s.FanoutStats[0])
	if s.fan, err = newFanout(players, []*fanWorker{w}, false, nil); err != nil {
		t.Fatal(err)
	}
	s.EngineStats.bind(s.fan.workers)
	r := &tickRig{s: s, players: players}
	for i := range players {
		r.e = ringEntry{
			rec:  engine.Record{Kind: engine.RecJoin, Player: int32(i), Gen: 1, Region: uint8(i % ecfg.Regions), Key: uint64(i + 1)},
			addr: fanAddr(i), session: uint64(i + 1),
		}
		if !s.loops[0].ring.Push(&r.e) {
			t.Fatal("ring full")
		}
	}
	return r
}

// step queues one Move per player and runs a tick.
func (r *tickRig) step() {
	r.seq++
	for i := range r.players {
		r.e = ringEntry{rec: engine.Record{Kind: engine.RecInput, Player: int32(i), Gen: 1, N: 1, AckTick: r.s.tickNo.Load()}}
		r.e.rec.Actions[0] = schema.Action{Seq: r.seq, Kind: uint8(wire.ActionKindMove), Pos: schema.Vec2{X: int32(r.seq%50) * 100, Y: int32(i) * 10}}
		r.s.loops[0].ring.Push(&r.e)
	}
	r.s.tick(0)
}

// The tick path, journal included, allocates nothing in steady state.
func TestTickNoAllocWithJournal(t *testing.T) {
	const players = 200
	ecfg := engine.DefaultConfig()
	ecfg.MaxPlayers = players
	jw, err := journal.NewWriter(io.Discard, ecfg, 0, journal.Options{SyncEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	r := newTickRig(t, players, jw)
	for range 20 {
		r.step()
	}
	if n := testing.AllocsPerRun(50, r.step); n != 0 {
		t.Fatalf("a tick with the journal allocates %v", n)
	}
	if n := r.s.TickStats.JournalErrors.Load(); n != 0 || r.s.jrnl == nil {
		t.Fatalf("journal errors %d, journaling on %v", n, r.s.jrnl != nil)
	}
}

// failJournal fails its Append from the failAt-th call on.
type failJournal struct {
	calls, failAt int
	closed        bool
}

func (f *failJournal) Append(uint32, []engine.Record, uint64) error {
	f.calls++
	if f.calls >= f.failAt {
		return errors.New("disk full")
	}
	return nil
}
func (f *failJournal) SyncedTick() uint32 { return 0 }
func (f *failJournal) Close() error       { f.closed = true; return errors.New("disk full") }

// A journal error is counted once, stops journaling, and the server keeps
// ticking; the metrics say so.
func TestJournalErrorStopsJournaling(t *testing.T) {
	fj := &failJournal{failAt: 3}
	r := newTickRig(t, 4, fj)
	for range 10 {
		r.step()
	}
	if fj.calls != 3 || r.s.TickStats.JournalErrors.Load() != 1 || r.s.jrnl != nil {
		t.Fatalf("appends %d, errors %d", fj.calls, r.s.TickStats.JournalErrors.Load())
	}
	if r.s.Tick() != 10 {
		t.Fatalf("tick %d: the server stopped ticking", r.s.Tick())
	}
	r.s.closeJournal()
	if !fj.closed || r.s.jrnlCloseErr != nil || r.s.TickStats.JournalErrors.Load() != 1 {
		t.Fatalf("closed %v, close error %v (already reported: not again)", fj.closed, r.s.jrnlCloseErr)
	}
	mfs, err := NewRegistry(r.s).Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch {
			case m.GetCounter() != nil:
				got[mf.GetName()] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				got[mf.GetName()] = m.GetGauge().GetValue()
			}
		}
	}
	for name, want := range map[string]float64{
		"treasured_journal_errors_total": 1, "treasured_journal_synced_tick": 0, "treasured_tick_period_seconds": 0.05,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (exported %v), want %v", name, v, ok, want)
		}
	}
}

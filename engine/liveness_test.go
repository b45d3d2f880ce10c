package engine

import (
	"testing"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// nonAckerRun plays the standard mix (mixDriver) for honest+silent players in
// the default world: every player moves, opens chests and picks up loot, and
// every player gets its snapshot every tick, but the silent ones (slots >=
// honest) never acknowledge one, like a client idling in a menu whose
// library does not ack, or an attacker pinning the shared pools. It fails
// the test as soon as an honest finder is not shown its own LootGenerated
// within lag ticks of the opening.
func nonAckerRun(t *testing.T, cfg Config, honest, silent, ticks, lag int) Stats {
	t.Helper()
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := honest + silent
	d := newMixDriver(w, n, 10)
	sc := NewScratch()
	// owed[f] is the loot id of finder f's newest LootGenerated not yet seen
	// in one of its snapshots, and since when.
	type debt struct {
		id   uint64
		tick uint32
	}
	owed := make(map[int32]debt)
	w.Step(d.joins())
	var generated, checked int
	for range ticks {
		recs := d.inputs()
		for k := range recs {
			if recs[k].Player >= int32(honest) {
				recs[k].AckTick = 0
			}
		}
		w.Step(recs)
		for _, ev := range w.TickEvents() {
			if ev.Kind == uint8(wire.LootEventKindGenerated) && int(ev.Player) < honest {
				owed[int32(ev.Player)] = debt{ev.LootID, ev.Tick}
				generated++
			}
		}
		for i := range d.n {
			buf := w.Snapshot(i, sc)
			if f, ok := owed[i]; ok && buf != nil && snapshotCarries(buf, f.id) {
				delete(owed, i)
				checked++
			}
		}
		d.ack = w.Tick()
		for f, o := range owed {
			if w.Tick()-o.tick > uint32(lag) {
				t.Fatalf("tick %d: honest finder %d never shown its LootGenerated %#x of tick %d; stats %+v",
					w.Tick(), f, o.id, o.tick, w.Stats())
			}
		}
	}
	if generated == 0 || checked < generated-len(owed) {
		t.Fatalf("generated %d own loot events, %d checked", generated, checked)
	}
	return w.Stats()
}

// snapshotCarries reports whether the Snapshot datagram buf lists a loot
// event with id.
func snapshotCarries(buf []byte, id uint64) bool {
	m := wire.GetRootAsMessage(buf, 0)
	var tab flatbuffers.Table
	m.Body(&tab)
	var s wire.Snapshot
	s.Init(tab.Bytes, tab.Pos)
	var ev wire.LootEvent
	for i := range s.EventsLength() {
		if s.Events(&ev, i); ev.LootId() == id {
			return true
		}
	}
	return false
}

// TestNonAckersCannotStarveHonestFinders is the attack: 400 sessions
// that never acknowledge beside 3,000 honest players, in the default world,
// for 8,000 ticks (6.7 minutes of game time). Before liveness and per-player
// accounting the shared event pool filled at tick ~4,000 here and honest
// finders stopped getting their own loot events. Now the silent players are
// resynced, counted, and every honest finder is shown its event at once.
func TestNonAckersCannotStarveHonestFinders(t *testing.T) {
	if testing.Short() {
		t.Skip("8,000 ticks of 3,400 players")
	}
	st := nonAckerRun(t, DefaultConfig(), 3000, 400, 8000, 3)
	t.Logf("stats %+v", st)
	if st.EventOverflow != 0 {
		t.Fatalf("EventOverflow %d, want 0", st.EventOverflow)
	}
	if st.Resyncs[ResyncStale]+st.Resyncs[ResyncEventCap] == 0 || st.EventsDropped == 0 {
		t.Fatalf("the silent players were never resynced: %+v", st)
	}
}

// TestPoolsCannotRunOut: a small, crowded world where nearly every player
// is silent, so together they would pin every event and node if they could.
// The pools are sized from the rules alone (reserved event queues, 4 event
// slots per chest under the liveness bound), so no delivery ever fails and
// the honest few get their loot at once.
//
// With MaxPending 16 the silent players' queues fill before their events
// age, so the queue-full rule does the resyncing instead.
func TestPoolsCannotRunOut(t *testing.T) {
	for _, pending := range []int{0, 16} {
		cfg := DefaultConfig()
		cfg.Regions, cfg.ZonesX, cfg.ZonesY = 1, 4, 4
		cfg.MaxPlayers = 240
		cfg.RespawnTicks, cfg.LootTTLTicks = 120, 60
		cfg.MaxPending = pending
		st := nonAckerRun(t, cfg, 10, 230, 1500, 3)
		if st.EventOverflow != 0 || st.GoneOverflow != 0 && st.Resyncs[ResyncGoneCap] == 0 {
			t.Fatalf("MaxPending %d: overflow: %+v", pending, st)
		}
		want := ResyncStale
		if pending != 0 {
			want = ResyncEventCap
		}
		if st.Resyncs[want] == 0 {
			t.Fatalf("MaxPending %d: no silent player was resynced for %v: %+v", pending, want, st)
		}
		t.Logf("MaxPending %d: resyncs %v, events dropped %d", pending, st.Resyncs, st.EventsDropped)
	}
}

// BenchmarkLivenessScan is the liveness check's worst case per tick: the
// scan of every active player that runs when some event came of age still
// referenced (here nobody is stale, so it resyncs nobody and can repeat).
func BenchmarkLivenessScan(b *testing.B) {
	w, err := New(DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	d := newMixDriver(w, 4200, 42)
	w.Step(d.joins())
	for range 50 {
		w.Step(d.inputs())
	}
	b.ReportAllocs()
	for b.Loop() {
		w.resyncStale(0, 0)
	}
}

// TestLivenessAndResume: a parked player keeps what it is owed through its
// grace period, however long past the liveness horizon, and after resuming
// it has a whole horizon to acknowledge it (then it is shown the event);
// one that resumes and still never acknowledges is resynced a horizon later.
func TestLivenessAndResume(t *testing.T) {
	for _, acks := range []bool{true, false} {
		cfg := DefaultConfig()
		cfg.Regions, cfg.ZonesX, cfg.ZonesY, cfg.ZoneSize = 1, 2, 2, 20_000
		cfg.MaxPlayers = 4
		cfg.ReachMM = 100_000 // anyone reaches any chest
		cfg.GraceTicks = 1000
		w, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		sc := NewScratch()
		w.Step([]Record{{Kind: RecJoin, Player: 0, Gen: 1, Key: 1}, {Kind: RecJoin, Player: 1, Gen: 1, Key: 2}})
		open := Record{Kind: RecInput, Player: 0, Gen: 1, N: 1}
		open.Actions[0] = schema.Action{Seq: 1, Kind: uint8(wire.ActionKindOpenChest), Target: 0}
		w.Step([]Record{open})
		id := w.TickEvents()[0].LootID
		// Both leave and are parked (the opener only so that it is not a
		// silent active player, resynced on its own account).
		w.Step([]Record{{Kind: RecLeave, Player: 0, Gen: 1}, {Kind: RecLeave, Player: 1, Gen: 1}})
		for range 2 * LivenessTicks {
			w.Step(nil)
		}
		if n := w.players[1].evQ.n; n != 1 || w.Stats().EventsDropped != 0 {
			t.Fatalf("parked past the horizon: %d events owed, want 1", n)
		}
		w.Step([]Record{{Kind: RecJoin, Player: 1, Gen: 2, Key: 2}}) // resume in place
		before := w.Stats()
		if !acks {
			for range LivenessTicks + 2 {
				w.Step(nil)
			}
			if st := w.Stats(); st.EventsDropped != before.EventsDropped+1 || st.Resyncs[ResyncStale] != before.Resyncs[ResyncStale]+1 {
				t.Fatalf("resumed, never acknowledging: dropped %d, resyncs %v (before: %d, %v)", st.EventsDropped, st.Resyncs, before.EventsDropped, before.Resyncs)
			}
			continue
		}
		for range LivenessTicks - 2 {
			w.Step(nil)
		}
		buf := w.Snapshot(1, sc)
		if buf == nil || !snapshotCarries(buf, id) {
			t.Fatal("the resumed player's snapshot lacks what it was owed")
		}
		w.Step([]Record{{Kind: RecInput, Player: 1, Gen: 2, AckTick: w.Tick()}})
		if st := w.Stats(); w.players[1].evQ.n != 0 || st.EventsDropped != before.EventsDropped || st.EventsAcked == 0 {
			t.Fatalf("after the ack: %d owed, dropped %d (before %d), acked %d", w.players[1].evQ.n, st.EventsDropped, before.EventsDropped, st.EventsAcked)
		}
	}
}

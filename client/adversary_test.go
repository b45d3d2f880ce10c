package client

import (
	"encoding/binary"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/treasured/treasured/schema"
)

// chooser is where an adversarial server's decisions come from: a seeded
// RNG in the long test, the fuzzer's bytes in the fuzz target.
type chooser interface {
	// next returns the next choice; ok is false when there are no more.
	next() (x uint64, ok bool)
}

type rngChooser struct{ r *rand.Rand }

func (c rngChooser) next() (uint64, bool) { return c.r.Uint64(), true }

type bytesChooser struct{ b []byte }

func (c *bytesChooser) next() (uint64, bool) {
	if len(c.b) == 0 {
		return 0, false
	}
	var buf [8]byte
	n := copy(buf[:], c.b)
	c.b = c.b[n:]
	return binary.LittleEndian.Uint64(buf[:]), true
}

// adversary builds verifier-valid snapshots a broken or hostile server might
// send one session: ticks that jump back and forth and repeat, baselines
// that name nothing, full snapshots with and without more, floods of ever
// new chest, player and loot ids (some naming the session as opener), Gone
// ids of anything, and loot events pinned to one tick so that the de-dup
// window never frees them.
type adversary struct {
	c chooser
	// flood: every id and loot id is new, every opened chest names the
	// session, loot events are pinned to a tick far ahead (never stale,
	// never pruned) and full snapshots always have more (never purge):
	// what reaches the memory bounds fastest.
	flood bool

	me    uint32
	tick  uint32
	fresh uint32 // next never-used id
	loot  uint64 // next never-used loot id
	f     *schema.SnapshotFrame
}

func newAdversary(c chooser, me uint32) *adversary {
	return &adversary{c: c, me: me, tick: 1, fresh: 1 << 20, loot: 1, f: schema.NewSnapshotFrame()}
}

// id returns an entity id: from a small space (collisions, removals and
// re-additions), a fresh one (floods) or any.
func (a *adversary) id(x uint64) uint32 {
	if a.flood {
		x = 1
	}
	switch x % 4 {
	case 0:
		return uint32(x>>8) % 64
	case 1, 2:
		a.fresh++
		return a.fresh
	}
	return uint32(x >> 32)
}

// lootID returns a loot id: a fresh one, a recent one (repeats) or any.
func (a *adversary) lootID(x uint64) uint64 {
	if a.flood {
		x = 0
	}
	switch x % 3 {
	case 0:
		a.loot++
		return a.loot
	case 1:
		return a.loot - (x>>8)%16
	}
	return x >> 2
}

// frame builds the next snapshot; ok is false when the chooser ran out.
func (a *adversary) frame() (f *schema.SnapshotFrame, ok bool) {
	x, ok := a.c.next()
	if !ok {
		return nil, false
	}
	f = a.f
	f.Chests, f.Players, f.Gone, f.Events = f.Chests[:0], f.Players[:0], f.Gone[:0], f.Events[:0]
	switch x % 8 {
	case 0:
		f.Tick = a.tick - min(a.tick-1, uint32(x>>8)%40) // late, or a repeat
	case 1:
		a.tick += uint32(x>>8) % 3000 // a jump ahead
		f.Tick = a.tick
	default:
		a.tick++
		f.Tick = a.tick
	}
	switch (x >> 3) % 4 {
	case 0:
		f.BaselineTick = 0
	case 1:
		f.BaselineTick = uint32(x >> 40)
	default:
		f.BaselineTick = f.Tick - 1 - uint32(x>>16)%40
	}
	f.More = (x>>5)&1 == 1 || a.flood
	f.You = schema.PlayerState{ID: a.me, Pos: schema.Vec2{X: int32(x >> 7), Y: int32(x >> 9)}, Items: uint32(x >> 11)}
	evTick := f.Tick
	if (x>>6)&1 == 1 || a.flood {
		evTick = 1 << 24 // pinned ahead: never leaves the de-dup window
	}
	for {
		y, ok := a.c.next()
		if !ok || (y%17 == 0 && !a.flood) {
			break
		}
		// Vector lengths with one more of the kind y chooses (add's order).
		n := [4]int{len(f.Chests), len(f.Players), len(f.Gone), len(f.Events)}
		n[(y>>4)%4]++
		if schema.SnapshotSize(n[0], n[1], n[2], n[3]) > schema.MaxDatagram {
			break
		}
		a.add(f, y, evTick)
	}
	return f, true
}

func b2u8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// add appends the item y chose (the same kind frame sized for).
func (a *adversary) add(f *schema.SnapshotFrame, y uint64, evTick uint32) {
	switch (y >> 4) % 4 {
	case 0:
		c := schema.ChestState{ID: a.id(y >> 6), Status: uint8(y>>9)&1 | b2u8(a.flood), Generation: uint32(y >> 10),
			OpenedBy: schema.NoPlayer, Pos: schema.Vec2{X: int32(y >> 12), Y: int32(y >> 20)}, ChangedTick: uint32(y >> 28)}
		if c.Status == 1 {
			c.LootID = a.lootID(y >> 30)
			if (y>>11)&1 == 1 || a.flood {
				c.OpenedBy = a.me
			} else {
				c.OpenedBy = uint32(y >> 40)
			}
		}
		f.Chests = append(f.Chests, c)
	case 1:
		f.Players = append(f.Players, schema.PlayerState{ID: a.id(y >> 6), Pos: schema.Vec2{X: int32(y >> 12), Y: int32(y >> 22)},
			Zone: uint32(y >> 32), Items: uint32(y >> 36), ChangedTick: uint32(y >> 40)})
	case 2:
		f.Gone = append(f.Gone, a.id(y>>6))
	default:
		f.Events = append(f.Events, schema.LootEvent{LootID: a.lootID(y >> 6), Kind: uint8((y >> 8) % 3),
			Item: uint16(y >> 16), Qty: uint16(y >> 24), Chest: uint32(y >> 32), Player: a.me, Tick: evTick})
	}
}

// connectedSession returns a session past its handshake, as player me.
func connectedSession(t testing.TB, me uint32) *Session {
	enc := schema.NewEncoder()
	s := NewSession(Config{Nonce: 1}, Handlers{Loot: func(*schema.LootEvent, int64) {}})
	s.Hello()
	s.Handle(enc.Challenge(&schema.ChallengeFrame{ClientNonce: 1}), 0)
	s.Handle(enc.Welcome(&schema.WelcomeFrame{ClientNonce: 1, SessionID: 9, PlayerID: me}), 0)
	if s.State() != StateConnected {
		t.Fatalf("handshake: %v", s.State())
	}
	return s
}

// checkBounded fails when any of the session's memory passes its bound or
// the view's index disagrees with its entries.
func checkBounded(t testing.TB, s *Session) {
	t.Helper()
	v, l := s.View(), s.Loot()
	checkSet(t, "chests", &v.chests)
	checkSet(t, "players", &v.players)
	if len(l.seen) > MaxLootKeys || len(l.own) > MaxLootKeys {
		t.Fatalf("loot memory: %d shown keys, %d own ids (bound %d)", len(l.seen), len(l.own), MaxLootKeys)
	}
	if l.Stats.Met > l.Stats.Expected {
		t.Fatalf("loot accounting: met %d > expected %d", l.Stats.Met, l.Stats.Expected)
	}
}

func checkSet[S any](t testing.TB, what string, s *entitySet[S]) {
	t.Helper()
	if len(s.ents) > MaxViewEntities || len(s.idx) != len(s.ents) {
		t.Fatalf("%s: %d entries, %d indexed (bound %d)", what, len(s.ents), len(s.idx), MaxViewEntities)
	}
	for i, e := range s.ents {
		if j, ok := s.idx[e.id]; !ok || int(j) != i {
			t.Fatalf("%s: entry %d (id %d) indexed at %d, %v", what, i, e.id, j, ok)
		}
	}
}

// Ten simulated minutes (12,000 ticks at 20 Hz) of adversarial snapshots,
// duplicated and reordered by the client's own impairment: the session never
// panics, its view and de-dup memory stay within their bounds (which the
// flood reaches), and the heap stops growing once they are full.
func TestSessionBoundedUnderHostileServer(t *testing.T) {
	const me = 5
	ticks := 12_000
	if testing.Short() {
		ticks = 3_000
	}
	s := connectedSession(t, me)
	adv := newAdversary(rngChooser{rand.New(rand.NewPCG(15, 4))}, me)
	adv.flood = true
	enc := schema.NewEncoder()
	im := NewImpairer(Impairment{Dup: 0.05, Reorder: 0.10, Seed: 15}, 0)
	deliver := func(b []byte) { s.Handle(b, 0) }
	v, l := s.View(), s.Loot()
	var full runtime.MemStats // heap when every bound was first reached
	fullAt := -1
	for tick := range ticks {
		f, _ := adv.frame()
		im.Pass(enc.Snapshot(f), int64(tick)*linkTickNS, deliver)
		if tick%1200 == 0 {
			checkBounded(t, s)
		}
		if fullAt < 0 && v.Stats.Evicted > 0 && l.Stats.Overflow > 0 && l.Stats.OwnOverflow > 0 {
			fullAt = tick
			runtime.GC()
			runtime.ReadMemStats(&full)
		}
	}
	checkBounded(t, s)
	var end runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&end)
	t.Logf("%d snapshots: view %d chests %d players (evicted %d, stale %d); loot keys %d own %d (overflow %d, own overflow %d); "+
		"heap %.1f MB when every bound was reached (tick %d), %.1f MB at the end",
		s.Stats.Snapshots, v.NumChests(), v.NumPlayers(), v.Stats.Evicted, v.Stats.Stale,
		len(l.seen), len(l.own), l.Stats.Overflow, l.Stats.OwnOverflow,
		float64(full.HeapAlloc)/(1<<20), fullAt, float64(end.HeapAlloc)/(1<<20))
	if testing.Short() {
		return
	}
	if fullAt < 0 {
		t.Fatalf("the flood never reached every bound: evicted %d, loot overflow %d, own overflow %d",
			v.Stats.Evicted, l.Stats.Overflow, l.Stats.OwnOverflow)
	}
	// From then on nothing may grow: 1 MB of slack for map tombstones, not
	// a trend.
	if end.HeapAlloc > full.HeapAlloc+1<<20 {
		t.Fatalf("heap grew from %d to %d bytes after every bound was reached", full.HeapAlloc, end.HeapAlloc)
	}
}

// FuzzSessionSnapshots feeds a connected session snapshots an adversary
// builds from the fuzzer's bytes (verifier-valid by construction), with raw
// byte strings in between (for the verifier): it must never panic, and its
// view and loot memory must stay within bounds and self-consistent.
func FuzzSessionSnapshots(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x10\x00\x00\x00TRSR"))
	f.Add(binary.LittleEndian.AppendUint64(nil, 0x0123456789abcdef))
	// A well-formed snapshot as raw bytes (first byte 5: the raw path).
	f.Add(append([]byte{5}, schema.NewEncoder().Snapshot(&schema.SnapshotFrame{Tick: 3, More: true,
		Chests: []schema.ChestState{{ID: 1, Status: 1, LootID: 9, OpenedBy: 3}}, Gone: []uint32{4}})...))
	f.Fuzz(func(t *testing.T, data []byte) {
		const me = 3
		s := connectedSession(t, me)
		if len(data) > 0 && data[0]%5 == 0 {
			// Raw bytes, as they are: the verifier's side of Handle.
			s.Handle(data[1:], 0)
		}
		adv := newAdversary(&bytesChooser{data}, me)
		adv.flood = len(data) > 0 && data[0]%7 == 0
		enc := schema.NewEncoder()
		for range 256 {
			fr, ok := adv.frame()
			if !ok {
				break
			}
			s.Handle(enc.Snapshot(fr), 0)
		}
		checkBounded(t, s)
	})
}

package engine

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// chaos generates the inputs of n random players, honest and not: moves
// (near and absurd), chest openings (nearby, random, invalid), pickups (of
// real recent loot and of garbage), redundant repeats of the last actions,
// duplicated and replayed records, zero and stale seqs, acks of the future,
// sessions leaving and joining (some in invalid regions, some with stale
// generations), and records no netio would ever produce. It reads positions
// from the reference world only to make the honest part meaningful.
type chaos struct {
	w    *World
	rng  *rand.Rand
	gen  []uint32
	seq  []uint32
	hist [][]schema.Action // last actions per slot, for repeats
	loot []uint64          // recent loot ids
	prev []Record          // last tick's records, for replays
	out  []Record
	// keys, when not 0, draws player keys from [1, keys]: a small space
	// makes Joins meet parked players of the same key (resume.go).
	keys uint64
}

func newChaos(w *World, n int, seed uint64) *chaos {
	return &chaos{w: w, rng: rand.New(rand.NewPCG(seed, 5)), gen: make([]uint32, n), seq: make([]uint32, n), hist: make([][]schema.Action, n)}
}

func (c *chaos) records() []Record {
	w, rng := c.w, c.rng
	cfg := w.Config()
	n := len(c.gen)
	out := c.out[:0]
	for _, ev := range w.TickEvents() {
		if ev.Kind == uint8(wire.LootEventKindGenerated) {
			c.loot = append(c.loot, ev.LootID)
		}
	}
	if len(c.loot) > 64 {
		c.loot = c.loot[len(c.loot)-64:]
	}
	// Churn.
	for range 3 {
		s := int32(rng.IntN(n))
		if w.Active(s) {
			g := c.gen[s]
			if rng.IntN(5) == 0 {
				g-- // a Leave of an older session: stale
			}
			out = append(out, Record{Kind: RecLeave, Player: s, Gen: g})
		} else {
			c.gen[s]++
			c.seq[s], c.hist[s] = 0, c.hist[s][:0]
			out = append(out, Record{Kind: RecJoin, Player: s, Gen: c.gen[s], Region: uint8(rng.IntN(cfg.Regions + 1)), Key: c.key()})
			if rng.IntN(4) == 0 {
				out = append(out, out[len(out)-1]) // a repeated Connect
			}
		}
	}
	for s := range int32(n) {
		ps, ok := w.Player(s)
		if !ok {
			continue
		}
		for range 1 + rng.IntN(3) {
			c.seq[s]++
			a := schema.Action{Seq: c.seq[s]}
			switch r := rng.IntN(10); {
			case r < 6:
				a.Kind = uint8(wire.ActionKindMove)
				a.Pos = schema.Vec2{X: ps.Pos.X + rng.Int32N(4_001) - 2_000, Y: ps.Pos.Y + rng.Int32N(4_001) - 2_000}
				if rng.IntN(20) == 0 {
					a.Pos = schema.Vec2{X: rng.Int32(), Y: -rng.Int32()} // far out of bounds: clamped
				}
			case r < 8:
				a.Kind = uint8(wire.ActionKindOpenChest)
				a.Target = uint64(ps.Zone)*uint64(cfg.ChestsPerZone) + uint64(rng.IntN(cfg.ChestsPerZone))
				if rng.IntN(10) == 0 {
					a.Target = rng.Uint64N(uint64(w.NumChests()) + 10)
				}
			case r < 9:
				a.Kind = uint8(wire.ActionKindPickupLoot)
				if len(c.loot) > 0 && rng.IntN(8) != 0 {
					a.Target = c.loot[rng.IntN(len(c.loot))]
				} else {
					a.Target = rng.Uint64()
				}
			default:
				a.Kind = uint8(rng.IntN(6)) // includes unknown kinds
			}
			c.hist[s] = append(c.hist[s], a)
		}
		if h := c.hist[s]; len(h) > schema.MaxActions {
			c.hist[s] = append(h[:0], h[len(h)-schema.MaxActions:]...)
		}
		r := Record{Kind: RecInput, Player: s, Gen: c.gen[s], AckTick: w.Tick() - uint32(rng.IntN(3))}
		if rng.IntN(50) == 0 {
			r.AckTick = w.Tick() + 5 // the future
		}
		r.N = uint8(copy(r.Actions[:], c.hist[s]))
		if rng.IntN(100) == 0 {
			r.Actions[0].Seq = 0
		}
		out = append(out, r)
		if rng.IntN(10) == 0 {
			out = append(out, r) // duplicated datagram
		}
		if rng.IntN(20) == 0 {
			r.Gen-- // an Input of the previous session
			out = append(out, r)
		}
	}
	// Replays of last tick's records (late duplicates) and junk.
	for range 20 {
		if len(c.prev) > 0 {
			out = append(out, c.prev[rng.IntN(len(c.prev))])
		}
	}
	out = append(out, Record{Kind: RecInput, Player: -1}, Record{Kind: 9, Player: 1}, Record{Kind: RecInput, Player: int32(cfg.MaxPlayers)}, Record{Kind: RecInput, Player: 2, N: 200})
	c.prev = append(c.prev[:0], out...)
	c.out = out
	return out
}

func (c *chaos) key() uint64 {
	if c.keys == 0 {
		return c.rng.Uint64()
	}
	return 1 + c.rng.Uint64N(c.keys)
}

// loops simulates netio: the records are spread over k event loops at random,
// each loop's ring sees them in a random order, and the engine drains the
// rings one after the other.
func loops(rng *rand.Rand, recs []Record, k int) []Record {
	rings := make([][]Record, k)
	for _, r := range recs {
		i := rng.IntN(k)
		rings[i] = append(rings[i], r)
	}
	var out []Record
	for _, ring := range rings {
		rng.Shuffle(len(ring), func(i, j int) { ring[i], ring[j] = ring[j], ring[i] })
		// Bytes past N are whatever the ring slot held before.
		for i := range ring {
			for a := int(ring[i].N); a < schema.MaxActions && ring[i].N <= schema.MaxActions; a++ {
				ring[i].Actions[a].Target = rng.Uint64()
			}
		}
		out = append(out, ring...)
	}
	return out
}

func determinismConfig() Config {
	cfg := DefaultConfig()
	cfg.Seed = 0xd00d
	cfg.ZonesX, cfg.ZonesY, cfg.ZoneSize = 8, 8, 20_000 // dense: ~5 players per zone
	cfg.MaxPlayers = 1000
	cfg.RespawnTicks, cfg.LootTTLTicks = 200, 100
	return cfg
}

// TestDeterminism: 1,000 random players, inputs delivered to three worlds in
// different shuffled orders split across 1, 4 and 7 fake loops: identical
// hashes at every tick, identical ordered records (the journal), identical
// snapshot bytes; a fourth world replaying the first one's ordered records
// (as treasure-replay would from the journal) reproduces every hash; the
// incremental hash equals a full recomputation; and a single changed action
// changes the hash (the check can fail).
func TestDeterminism(t *testing.T) {
	ticks := 10_000
	if testing.Short() {
		ticks = 1_000
	}
	checkDeterminism(t, determinismConfig(), ticks, 0)
}

// TestDeterminismWithResume is TestDeterminism with a grace period and few
// player keys, so sessions park, resume in place, resume in another slot,
// get evicted and expire, all of it in shuffled arrival orders.
func TestDeterminismWithResume(t *testing.T) {
	cfg := determinismConfig()
	cfg.GraceTicks = 60
	ticks := 2_000
	if testing.Short() {
		ticks = 500
	}
	st := checkDeterminism(t, cfg, ticks, 400)
	for name, v := range map[string]uint64{"resumes": st.Resumes, "expired": st.ParkedExpired, "evicted": st.ParkedEvicted} {
		if v == 0 {
			t.Errorf("path %s never taken", name)
		}
	}
}

func checkDeterminism(t *testing.T, cfg Config, ticks int, keys uint64) Stats {
	worlds := make([]*World, 5) // a, b, c, replay, mutant
	for i := range worlds {
		w, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		worlds[i] = w
	}
	a, b, c, replay, mutant := worlds[0], worlds[1], worlds[2], worlds[3], worlds[4]
	gen := newChaos(a, cfg.MaxPlayers, 11)
	gen.keys = keys
	rngB, rngC := rand.New(rand.NewPCG(1, 1)), rand.New(rand.NewPCG(2, 2))
	scA, scB := NewScratch(), NewScratch()
	mutateAt := uint32(ticks / 2)
	distinct := map[uint64]bool{}
	var journal []Record
	for range ticks {
		recs := gen.records()
		tick := a.Tick() + 1
		if tick == mutateAt {
			// The mutant gets the same inputs but one Move one mm off.
			m := slices.Clone(recs)
			for i := range m {
				if m[i].Kind == RecInput && m[i].N > 0 && a.Active(m[i].Player) && m[i].Gen == a.players[m[i].Player].gen {
					m[i].Actions[m[i].N-1] = schema.Action{Seq: m[i].Actions[m[i].N-1].Seq + 1000, Kind: uint8(wire.ActionKindMove), Pos: schema.Vec2{X: 1}}
					break
				}
			}
			mutant.Step(m)
		} else {
			mutant.Step(recs)
		}
		b.Step(loops(rngB, recs, 4))
		c.Step(loops(rngC, recs, 7))
		a.Step(recs)
		journal = append(journal[:0], a.LastOrdered()...)
		replay.Step(journal)

		h := a.Hash()
		distinct[h] = true
		if b.Hash() != h || c.Hash() != h || replay.Hash() != h {
			t.Fatalf("tick %d: hashes diverge: a %x b %x c %x replay %x", tick, h, b.Hash(), c.Hash(), replay.Hash())
		}
		if !slices.Equal(a.LastOrdered(), b.LastOrdered()) || !slices.Equal(a.LastOrdered(), c.LastOrdered()) {
			t.Fatalf("tick %d: ordered records differ", tick)
		}
		if (tick == mutateAt) == (mutant.Hash() == h) && tick <= mutateAt {
			t.Fatalf("tick %d: mutant hash %x vs %x (mutation at %d)", tick, mutant.Hash(), h, mutateAt)
		}
		if tick%97 == 0 {
			if f := a.fullHash(); f != h {
				t.Fatalf("tick %d: incremental hash %x != full %x", tick, h, f)
			}
		}
		// Snapshots are part of the determinism too: same inputs, same bytes.
		for p := int32(tick % 50); p < int32(cfg.MaxPlayers); p += 50 {
			sa, sb := a.Snapshot(p, scA), b.Snapshot(p, scB)
			if !bytes.Equal(sa, sb) {
				t.Fatalf("tick %d: snapshots of player %d differ", tick, p)
			}
		}
	}
	st := a.Stats()
	t.Logf("%d ticks, %d distinct hashes; %+v", ticks, len(distinct), st)
	if len(distinct) != ticks {
		t.Fatalf("%d distinct hashes in %d ticks", len(distinct), ticks)
	}
	// The chaos must have reached every path it claims to.
	for name, v := range map[string]uint64{
		"joins": st.Joins, "leaves": st.Leaves, "joinDup": st.JoinDup, "badRegion": st.JoinBadRegion,
		"stale": st.StaleRecords, "bad": st.BadRecords, "dups": st.ActionsDuplicate, "zeroSeq": st.ActionsZeroSeq,
		"future": st.AcksFuture, "rejectKind": st.RejectKind, "rejectTarget": st.RejectTarget, "rejectReach": st.RejectReach,
		"rejectOpened": st.RejectOpened, "rejectGone": st.RejectLootGone, "generated": st.LootGenerated,
		"picked": st.LootPickedUp, "expired": st.LootExpired, "respawned": st.ChestsRespawned, "zones": st.ZoneChanges,
	} {
		if v == 0 {
			t.Errorf("path %s never taken", name)
		}
	}
	return st
}

package engine

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestLootIDIsUniqueAndInvertible(t *testing.T) {
	if fmix64(unfmix64(0x0123456789abcdef)) != 0x0123456789abcdef || fmixC1*fmixC1Inv != 1 || fmixC2*fmixC2Inv != 1 {
		t.Fatal("unfmix64 does not invert fmix64")
	}
	const chests = 5000
	seen := map[uint64]bool{}
	for _, seed := range []uint64{0, 1, 0xffffffffffffffff, 0x7265617375726564} {
		key := lootKey(seed)
		clear(seen)
		for c := range int32(chests) {
			for _, g := range []uint32{0, 1, 2, 1 << 20, ^uint32(0)} {
				id := makeLootID(key, c, g)
				if id == 0 || seen[id] {
					t.Fatalf("seed %x chest %d gen %d: id %x zero or repeated", seed, c, g, id)
				}
				seen[id] = true
				if c2, g2, ok := parseLootID(key, id, chests); !ok || c2 != c || g2 != g {
					t.Fatalf("parse(%x) = %d %d %v, want %d %d", id, c2, g2, ok, c, g)
				}
			}
		}
		// Ids that were never made do not parse to a chest (almost always).
		rng := rand.New(rand.NewPCG(seed, 1))
		bad := 0
		for range 10_000 {
			if _, _, ok := parseLootID(key, rng.Uint64(), chests); ok {
				bad++
			}
		}
		if bad > 2 {
			t.Fatalf("%d random ids parsed as loot", bad)
		}
	}
	if makeLootID(lootKey(1), 3, 4) == makeLootID(lootKey(2), 3, 4) {
		t.Fatal("loot id does not depend on the seed")
	}
}

func TestIsqrtCeil(t *testing.T) {
	for _, x := range []int64{0, 1, 2, 3, 4, 5, 15, 16, 17, 1 << 40, 1<<40 + 1, 1<<62 - 1} {
		r := isqrtCeil(x)
		if r*r < x || (r > 0 && (r-1)*(r-1) >= x) {
			t.Fatalf("isqrtCeil(%d) = %d", x, r)
		}
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for range 100_000 {
		x := rng.Int64N(1 << 62)
		r := isqrtCeil(x)
		if r*r < x || (r-1)*(r-1) >= x {
			t.Fatalf("isqrtCeil(%d) = %d", x, r)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Config){
		"regions":   func(c *Config) { c.Regions = 0 },
		"zones":     func(c *Config) { c.ZonesX = 0 },
		"zoneSize":  func(c *Config) { c.ZoneSize = 10 },
		"extent":    func(c *Config) { c.ZonesX, c.ZoneSize = 4096, 1<<20 },
		"players":   func(c *Config) { c.MaxPlayers = 0 },
		"ttl":       func(c *Config) { c.LootTTLTicks = c.RespawnTicks },
		"reach":     func(c *Config) { c.ReachMM = -1 },
		"pending":   func(c *Config) { c.MaxPending = 1 },
		"entities":  func(c *Config) { c.ZonesX, c.ZonesY, c.ChestsPerZone = 4096, 4096, 100 },
		"maxLoot":   func(c *Config) { c.MaxLoot = -1 },
		"eventPool": func(c *Config) { c.EventPool = -1 },
	} {
		c := DefaultConfig()
		mut(&c)
		if c.Validate() == nil {
			t.Errorf("%s: accepted %+v", name, c)
		}
		if _, err := New(c); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}

// TestOrderIgnoresArrival: the ordered records (what a journal writes) are
// the same for any permutation of a tick's records, through both sort paths.
func TestOrderIgnoresArrival(t *testing.T) {
	for _, n := range []int{50, 3000} { // below and above the radix threshold
		w, err := New(determinismConfig())
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(uint64(n), 0))
		recs := make([]Record, n)
		for i := range recs {
			r := &recs[i]
			r.Kind = RecordKind(1 + rng.IntN(3))
			r.Player = int32(rng.IntN(40)) // many per player: long runs
			r.Gen = uint32(rng.IntN(2))
			r.N = uint8(rng.IntN(9))
			r.AckTick = uint32(rng.IntN(3))
			for a := range r.N {
				r.Actions[a].Seq = uint32(rng.IntN(5))
				r.Actions[a].Kind = uint8(rng.IntN(4))
			}
		}
		w.order(recs)
		want := append([]Record(nil), w.ordered...)
		for i := 1; i < len(want); i++ {
			if compareRecords(&want[i-1], &want[i]) > 0 {
				t.Fatalf("n=%d: records %d and %d out of order", n, i-1, i)
			}
		}
		for range 5 {
			rng.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
			w.order(recs)
			for i := range want {
				if want[i] != w.ordered[i] {
					t.Fatalf("n=%d: permutation changed record %d", n, i)
				}
			}
		}
	}
}

// TestConcurrentSnapshots: fan-out workers build snapshots of distinct
// players at the same time (run with -race), and get the same bytes as one
// worker building them all would.
func TestConcurrentSnapshots(t *testing.T) {
	build := func(workers int) [][]byte {
		cfg := DefaultConfig()
		cfg.ZonesX, cfg.ZonesY = 4, 4
		w, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		d := newMixDriver(w, 600, 9)
		w.Step(d.joins())
		scs := make([]*Scratch, workers)
		for i := range scs {
			scs[i] = NewScratch()
		}
		var out [][]byte
		for range 60 {
			w.Step(d.inputs())
			bufs := make([][]byte, d.n)
			var wg sync.WaitGroup
			for k := range workers {
				wg.Go(func() {
					for p := int32(k); p < d.n; p += int32(workers) {
						bufs[p] = bytes.Clone(w.Snapshot(p, scs[k]))
					}
				})
			}
			wg.Wait()
			d.ack = w.Tick()
			out = append(out, bufs...)
		}
		return out
	}
	one, four := build(1), build(4)
	for i := range one {
		if !bytes.Equal(one[i], four[i]) {
			t.Fatalf("snapshot %d differs between 1 and 4 workers", i)
		}
	}
}

func TestSelectSmallest(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for range 2000 {
		n := 1 + rng.IntN(300)
		a := make([]uint64, n)
		for i := range a {
			a[i] = uint64(rng.IntN(4))<<32 | uint64(rng.Uint32()) // few distinct ticks, like real keys
		}
		if rng.IntN(3) == 0 {
			slices.Sort(a) // sorted and reversed inputs too
			if rng.IntN(2) == 0 {
				slices.Reverse(a)
			}
		}
		k := rng.IntN(n + 1)
		want := slices.Clone(a)
		slices.Sort(want)
		selectSmallest(a, k)
		got := slices.Clone(a[:k])
		slices.Sort(got)
		if !slices.Equal(got, want[:k]) {
			t.Fatalf("n=%d k=%d: wrong selection", n, k)
		}
	}
}

// The tick rate turns into a period and back in one place: a period that
// does not divide one second is refused instead of becoming another rate
// (a 30 s respawn silently turning into 60 s).
func TestTickHzOf(t *testing.T) {
	for _, c := range []struct {
		period time.Duration
		hz     uint32
		ok     bool
	}{
		{50 * time.Millisecond, 20, true},
		{100 * time.Millisecond, 10, true},
		{time.Millisecond, 1000, true},
		{30 * time.Millisecond, 0, false},
		{0, 0, false},
		{-time.Second, 0, false},
	} {
		hz, err := TickHzOf(c.period)
		if (err == nil) != c.ok || hz != c.hz {
			t.Errorf("TickHzOf(%v) = %d, %v", c.period, hz, err)
		}
		if c.ok {
			cfg := DefaultConfig()
			cfg.TickHz = hz
			if cfg.TickPeriod() != c.period || cfg.Ticks(30*time.Second) != 30*hz || cfg.Ticks(-time.Second) != 0 {
				t.Errorf("%d Hz: period %v, 30 s = %d ticks", hz, cfg.TickPeriod(), cfg.Ticks(30*time.Second))
			}
		}
	}
}

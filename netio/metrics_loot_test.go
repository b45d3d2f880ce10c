package netio

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// overflowWorld is a tickWorld whose engine reports dropped loot deliveries.
type overflowWorld struct {
	tickWorld
	dropped uint64
}

func (w *overflowWorld) LootOverflow() uint64 { return w.dropped }

// scrapeLoot returns the exported value of treasured_loot_undeliverable_total.
func scrapeLoot(t *testing.T, s *Server) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(lootCollector{s: s})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 1 || mfs[0].GetName() != "treasured_loot_undeliverable_total" || len(mfs[0].GetMetric()) != 1 {
		t.Fatalf("gathered %v", mfs)
	}
	return mfs[0].GetMetric()[0].GetCounter().GetValue()
}

// TestLootUndeliverableMetric: what the world counts after a tick is what
// /metrics exports; a world without the method exports 0.
func TestLootUndeliverableMetric(t *testing.T) {
	s := &Server{world: &overflowWorld{dropped: 7}}
	s.publishLoot()
	if got := scrapeLoot(t, s); got != 7 {
		t.Fatalf("exported %v, want 7", got)
	}
	plain := &Server{world: &tickWorld{}}
	plain.publishLoot()
	if got := scrapeLoot(t, plain); got != 0 {
		t.Fatalf("a world without LootOverflow exports %v", got)
	}
}

// TestPublishLootNoAlloc: the per-tick copy of the engine's count allocates
// nothing (it runs on the tick goroutine every tick).
func TestPublishLootNoAlloc(t *testing.T) {
	w, _ := newSmallWorld(t)
	s := &Server{world: w}
	if _, ok := w.(lootOverflower); !ok {
		t.Fatal("EngineWorld does not report loot overflow")
	}
	if n := testing.AllocsPerRun(100, s.publishLoot); n != 0 {
		t.Fatalf("publishLoot allocates %v times per tick", n)
	}
}

// BenchmarkPublishLoot is the per-tick cost the loot metric adds to the
// tick goroutine: one copy of the engine's Stats and one atomic store.
func BenchmarkPublishLoot(b *testing.B) {
	w, _ := newSmallWorld(b)
	s := &Server{world: w}
	b.ReportAllocs()
	for b.Loop() {
		s.publishLoot()
	}
}

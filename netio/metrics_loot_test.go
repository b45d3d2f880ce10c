package netio

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/treasured/treasured/engine"
)

// overflowWorld is a tickWorld whose engine reports dropped loot deliveries.
type overflowWorld struct {
	tickWorld
	dropped uint64
}

func (w *overflowWorld) Stats() engine.Stats { return engine.Stats{EventOverflow: w.dropped} }

// gatherLoot returns the exported treasured_loot_undeliverable_total, and
// whether it was exported at all.
func gatherLoot(t *testing.T, e *EngineStats) (float64, bool) {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(engineCollector{e: e})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "treasured_loot_undeliverable_total" {
			if len(mf.GetMetric()) != 1 {
				t.Fatalf("gathered %v", mf)
			}
			return mf.GetMetric()[0].GetCounter().GetValue(), true
		}
	}
	return 0, false
}

// TestLootUndeliverableMetric: what the engine counts after a tick is what
// /metrics exports, published with the other engine counters (one copy of
// engine.Stats per tick); a world that does not count exports no engine
// counter, this one included.
func TestLootUndeliverableMetric(t *testing.T) {
	e := newEngineStats(&overflowWorld{dropped: 7}, 0)
	e.publish()
	if got, ok := gatherLoot(t, &e); !ok || got != 7 {
		t.Fatalf("exported %v (present %v), want 7", got, ok)
	}
	plain := newEngineStats(&tickWorld{}, 0)
	plain.publish()
	if got, ok := gatherLoot(t, &plain); ok {
		t.Fatalf("a world without counters exports %v", got)
	}
}

// TestPublishEngineStatsNoAlloc: the per-tick copy of the engine's counters
// allocates nothing (it runs on the tick goroutine every tick).
func TestPublishEngineStatsNoAlloc(t *testing.T) {
	w, _ := newSmallWorld(t)
	e := newEngineStats(w, 0)
	if e.src == nil {
		t.Fatal("EngineWorld does not report its counters")
	}
	if n := testing.AllocsPerRun(100, e.publish); n != 0 {
		t.Fatalf("publish allocates %v times per tick", n)
	}
}

// BenchmarkPublishEngineStats is the per-tick cost of exporting the engine's
// counters, the loot-lost alert among them: one copy of engine.Stats and
// one atomic store per counter.
func BenchmarkPublishEngineStats(b *testing.B) {
	w, _ := newSmallWorld(b)
	e := newEngineStats(w, 0)
	b.ReportAllocs()
	for b.Loop() {
		e.publish()
	}
}

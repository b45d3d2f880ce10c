package netio

import "github.com/prometheus/client_golang/prometheus"

// Lost loot as the server sees it. Each loot event is delivered to a player
// by repeating it until acknowledged (docs/PROTOCOL.md "Loot events"). The
// server gives one up in two ways: a delivery pool was empty (this counter,
// engine.Stats.EventOverflow; the pools are sized so it cannot happen, so
// alert on any increase), or the player stopped acknowledging and was
// resynced (treasured_engine_events_dropped_total, enginestats.go: its own
// doing). A client that never shows an event has lost loot; this counter is
// the server-side half of that measure (the client's half is
// treasure-bench's lost_loot).

// lootOverflower is the optional World method behind the counter; worlds
// without it (test fakes) export 0.
type lootOverflower interface {
	// LootOverflow is the number of (player, loot event) deliveries dropped
	// since start. Tick goroutine only.
	LootOverflow() uint64
}

// LootOverflow implements lootOverflower for the engine.
func (e engineWorld) LootOverflow() uint64 { return e.World.Stats().EventOverflow }

// publishLoot copies the world's count into TickStats, where the scrape can
// read it. Tick goroutine, after Step.
func (s *Server) publishLoot() {
	if lo, ok := s.world.(lootOverflower); ok {
		s.TickStats.LootOverflow.v.Store(lo.LootOverflow())
	}
}

var dLootOverflow = desc("treasured_loot_undeliverable_total",
	"ALERT on any increase: loot event deliveries the engine dropped because a delivery pool was empty, loot that player will never be shown. The pools are sized so this cannot happen.")

// lootCollector exports treasured_loot_undeliverable_total.
type lootCollector struct{ s *Server }

func (c lootCollector) Describe(ch chan<- *prometheus.Desc) { ch <- dLootOverflow }

func (c lootCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(dLootOverflow, prometheus.CounterValue, float64(c.s.TickStats.LootOverflow.Load()))
}

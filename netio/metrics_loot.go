package netio

import "github.com/prometheus/client_golang/prometheus"

// Lost loot as the server sees it. Each loot event is delivered to a player
// by repeating it until acknowledged (docs/PROTOCOL.md "Loot events"); the
// only way the server itself gives one up is a player's pending queue (or
// the shared pools) being full, which the engine counts. A client that
// never shows such an event has lost loot; this counter is the server-side
// half of that measure (the client's half is treasure-bench's lost_loot).

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
	"Loot event deliveries the engine dropped because a player's pending queue or the delivery pools were full: loot that player will never be shown.")

// lootCollector exports treasured_loot_undeliverable_total.
type lootCollector struct{ s *Server }

func (c lootCollector) Describe(ch chan<- *prometheus.Desc) { ch <- dLootOverflow }

func (c lootCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(dLootOverflow, prometheus.CounterValue, float64(c.s.TickStats.LootOverflow.Load()))
}

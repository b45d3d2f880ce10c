package netio

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/cpu"

	"github.com/treasured/treasured/engine"
	"github.com/treasured/treasured/netio/metricname"
)

// The engine's counters (engine.Stats) and each fan-out worker's snapshot
// counters (engine.SnapshotStats) are plain integers owned by the tick
// goroutine and by each worker. After every tick's fan-out, when every worker
// has finished (fanout.send waits for them), the tick goroutine copies them
// into EngineStats: single-writer atomics, read at scrape time like every
// other counter here (stats.go). The copy is a few dozen stores per tick and
// allocates nothing.
//
// The alert-worthy one, engine.Stats.EventOverflow (a loot event some player
// in view never gets; the pools are sized so that it cannot happen), is
// exported under its own name, treasured_loot_undeliverable_total (dLootLost):
// ALERT on any increase. treasured_engine_events_dropped_total is different:
// events owed to players that stopped acknowledging and were resynced (their
// own doing). Lost loot as a whole is this counter on the server's side and
// treasure-bench's lost_loot on the client's (docs/PROTOCOL.md "Loot
// events").

// engineStatSource is what the tick goroutine reads the counters from:
// engineWorld has it (its *engine.World), a test's fake World need not.
type engineStatSource interface{ Stats() engine.Stats }

// snapshotStatSource is a Snapshotter that counts its snapshots.
type snapshotStatSource interface{ SnapshotStats() engine.SnapshotStats }

// SnapshotStats is engine.SnapshotStats of the worker's Scratch.
func (e *engineSnapshotter) SnapshotStats() engine.SnapshotStats { return e.s.Stats }

// engineStat is one exported engine counter: its family (desc), its label
// value within it ("" when the family has no label), and how to read it.
type engineStat struct {
	desc  *prometheus.Desc
	label string
	gauge bool
	get   func(*engine.Stats) uint64
}

var (
	dEngTicks      = desc(metricname.EngineTicks, "Engine Steps.")
	dEngRecords    = desc(metricname.EngineRecords, "Records the engine took: applied, bad (player out of range, unknown kind), stale (old session generation or slot not active).", metricname.LabelResult)
	dEngJoins      = desc(metricname.EngineJoins, "Join records: joined, duplicate (same generation active), replaced (other generation active), bad_region.", metricname.LabelResult)
	dEngLeaves     = desc(metricname.EngineLeaves, "Leave records applied.")
	dEngAcksFuture = desc(metricname.EngineAcksFuture, "Acks of a tick not snapshotted yet (ignored).")
	dEngActions    = desc(metricname.EngineActions, "Actions by action_seq verdict: applied (admitted by the window), duplicate, stale (below the window), zero_seq.", metricname.LabelResult)
	dEngRejects    = desc(metricname.EngineActionRejects, "Admitted actions without effect, by reason; loot_full means no free loot slot.", metricname.LabelReason)
	dEngMoves      = desc(metricname.EngineMoves, "Moves applied.")
	dEngZones      = desc(metricname.EngineZoneChanges, "Players changing zone.")
	dEngLoot       = desc(metricname.EngineLoot, "Loot events by kind.", metricname.LabelKind)
	dEngRespawns   = desc(metricname.EngineChestsRespawned, "Chests closed again for their next generation.")
	dEngQueued     = desc(metricname.EngineEventsQueued, "(player, loot event) deliveries queued.")
	dEngAcked      = desc(metricname.EngineEventsAcked, "(player, loot event) deliveries acknowledged.")
	dEngDropped    = desc(metricname.EngineEventsDropped, "Undelivered loot events dropped when their player was resynced for not acknowledging.")
	dEngGone       = desc(metricname.EngineGone, "Gone ids: queued, acked, withdrawn (back in view), overflow (not queued; the viewer was resynced instead, nothing lost).", metricname.LabelResult)
	dEngResyncs    = desc(metricname.EngineResyncs, "Players whose delivery state was dropped for a full snapshot: stale (oldest event older than the liveness bound), event_queue_full, gone_queue_full.", metricname.LabelReason)
	dEngNodes      = desc(metricname.EngineNodesInUse, "Queue nodes holding undelivered events and Gone ids.")
	dEngEvents     = desc(metricname.EngineEventsInUse, "Distinct loot events awaiting delivery.")
	dEngLootLive   = desc(metricname.EngineLootLive, "Loot lying in the world.")
	dEngRehashed   = desc(metricname.EngineRehashed, "Entity hashes recomputed by the incremental state hash.")
	dLootLost      = desc(metricname.LootUndeliverable,
		"ALERT on any increase: loot event deliveries the engine dropped because a delivery pool was empty, loot that player will never be shown. The pools are sized so this cannot happen.")
)

func engineStatTable() []engineStat {
	c := func(d *prometheus.Desc, label string, get func(*engine.Stats) uint64) engineStat {
		return engineStat{desc: d, label: label, get: get}
	}
	g := func(d *prometheus.Desc, get func(*engine.Stats) uint64) engineStat {
		return engineStat{desc: d, gauge: true, get: get}
	}
	t := []engineStat{
		c(dLootLost, "", func(s *engine.Stats) uint64 { return s.EventOverflow }),
		c(dEngTicks, "", func(s *engine.Stats) uint64 { return s.Ticks }),
		c(dEngRecords, "applied", func(s *engine.Stats) uint64 { return s.RecordsApplied }),
		c(dEngRecords, "bad", func(s *engine.Stats) uint64 { return s.BadRecords }),
		c(dEngRecords, "stale", func(s *engine.Stats) uint64 { return s.StaleRecords }),
		c(dEngJoins, "joined", func(s *engine.Stats) uint64 { return s.Joins }),
		c(dEngJoins, "duplicate", func(s *engine.Stats) uint64 { return s.JoinDup }),
		c(dEngJoins, "replaced", func(s *engine.Stats) uint64 { return s.JoinReplaced }),
		c(dEngJoins, "bad_region", func(s *engine.Stats) uint64 { return s.JoinBadRegion }),
		c(dEngLeaves, "", func(s *engine.Stats) uint64 { return s.Leaves }),
		c(dEngAcksFuture, "", func(s *engine.Stats) uint64 { return s.AcksFuture }),
		c(dEngActions, "applied", func(s *engine.Stats) uint64 { return s.ActionsApplied }),
		c(dEngActions, "duplicate", func(s *engine.Stats) uint64 { return s.ActionsDuplicate }),
		c(dEngActions, "stale", func(s *engine.Stats) uint64 { return s.ActionsStale }),
		c(dEngActions, "zero_seq", func(s *engine.Stats) uint64 { return s.ActionsZeroSeq }),
		c(dEngRejects, "kind", func(s *engine.Stats) uint64 { return s.RejectKind }),
		c(dEngRejects, "speed", func(s *engine.Stats) uint64 { return s.RejectSpeed }),
		c(dEngRejects, "target", func(s *engine.Stats) uint64 { return s.RejectTarget }),
		c(dEngRejects, "region", func(s *engine.Stats) uint64 { return s.RejectRegion }),
		c(dEngRejects, "reach", func(s *engine.Stats) uint64 { return s.RejectReach }),
		c(dEngRejects, "opened", func(s *engine.Stats) uint64 { return s.RejectOpened }),
		c(dEngRejects, "loot_gone", func(s *engine.Stats) uint64 { return s.RejectLootGone }),
		c(dEngRejects, "loot_full", func(s *engine.Stats) uint64 { return s.RejectLootFull }),
		c(dEngMoves, "", func(s *engine.Stats) uint64 { return s.Moves }),
		c(dEngZones, "", func(s *engine.Stats) uint64 { return s.ZoneChanges }),
		c(dEngLoot, "generated", func(s *engine.Stats) uint64 { return s.LootGenerated }),
		c(dEngLoot, "picked_up", func(s *engine.Stats) uint64 { return s.LootPickedUp }),
		c(dEngLoot, "expired", func(s *engine.Stats) uint64 { return s.LootExpired }),
		c(dEngRespawns, "", func(s *engine.Stats) uint64 { return s.ChestsRespawned }),
		c(dEngQueued, "", func(s *engine.Stats) uint64 { return s.EventsQueued }),
		c(dEngAcked, "", func(s *engine.Stats) uint64 { return s.EventsAcked }),
		c(dEngDropped, "", func(s *engine.Stats) uint64 { return s.EventsDropped }),
		c(dEngGone, "queued", func(s *engine.Stats) uint64 { return s.GoneQueued }),
		c(dEngGone, "acked", func(s *engine.Stats) uint64 { return s.GoneAcked }),
		c(dEngGone, "withdrawn", func(s *engine.Stats) uint64 { return s.GoneWithdrawn }),
		c(dEngGone, "overflow", func(s *engine.Stats) uint64 { return s.GoneOverflow }),
		g(dEngNodes, func(s *engine.Stats) uint64 { return s.NodesInUse }),
		g(dEngEvents, func(s *engine.Stats) uint64 { return s.EventsInUse }),
		g(dEngLootLive, func(s *engine.Stats) uint64 { return s.LootLive }),
		c(dEngRehashed, "", func(s *engine.Stats) uint64 { return s.DirtyRehashed }),
	}
	for r := range engine.NumResyncReasons {
		t = append(t, c(dEngResyncs, r.String(), func(s *engine.Stats) uint64 { return s.Resyncs[r] }))
	}
	return t
}

// snapStat is one exported per-worker snapshot counter.
type snapStat struct {
	desc  *prometheus.Desc
	label string
	get   func(*engine.SnapshotStats) uint64
}

var (
	dSnapBuilt   = desc(metricname.EngineSnapshots, "Snapshots the engine built, per fan-out worker: full (no baseline) or delta.", metricname.LabelWorker, metricname.LabelKind)
	dSnapMore    = desc(metricname.EngineSnapshotsMore, "Snapshots that left something for the next tick, per fan-out worker.", metricname.LabelWorker)
	dSnapBytes   = desc(metricname.EngineSnapshotBytes, "Bytes of snapshots built, per fan-out worker.", metricname.LabelWorker)
	dSnapItems   = desc(metricname.EngineSnapshotItems, "Items carried in snapshots, per fan-out worker.", metricname.LabelWorker, metricname.LabelItem)
	dSnapSkipped = desc(metricname.EngineSnapshotsSkipped, "Snapshot calls that built nothing (player not active, or already built this tick), per fan-out worker.", metricname.LabelWorker)
)

var snapStatTable = [...]snapStat{
	{dSnapBuilt, "full", func(s *engine.SnapshotStats) uint64 { return s.Full }},
	{dSnapBuilt, "delta", func(s *engine.SnapshotStats) uint64 { return s.Snapshots - s.Full }},
	{dSnapMore, "", func(s *engine.SnapshotStats) uint64 { return s.More }},
	{dSnapBytes, "", func(s *engine.SnapshotStats) uint64 { return s.Bytes }},
	{dSnapItems, "chests", func(s *engine.SnapshotStats) uint64 { return s.Chests }},
	{dSnapItems, "players", func(s *engine.SnapshotStats) uint64 { return s.Players }},
	{dSnapItems, "gone", func(s *engine.SnapshotStats) uint64 { return s.Gone }},
	{dSnapItems, "events", func(s *engine.SnapshotStats) uint64 { return s.Events }},
	{dSnapSkipped, "", func(s *engine.SnapshotStats) uint64 { return s.Skipped }},
}

// workerSnapStats is one fan-out worker's copy, padded so two workers' rows
// do not share a cache line (the tick goroutine writes them all, but a
// scrape reads while it writes).
type workerSnapStats struct {
	v [len(snapStatTable)]counter
	_ cpu.CacheLinePad
}

// EngineStats are the engine's and the snapshot builders' counters as the
// tick goroutine last published them (single writer: the tick goroutine).
type EngineStats struct {
	table []engineStat // read-only after newEngineStats
	v     []counter    // v[i] is table[i]; gauges are stored as their value
	snap  []workerSnapStats

	src      engineStatSource     // nil: the World does not count
	snappers []snapshotStatSource // per worker; nil entries do not count

	// Copies read by publish. Fields, not locals: the getters are called
	// through func values, so a local's address would escape (an allocation
	// per tick).
	st     engine.Stats
	snapSt engine.SnapshotStats
}

func newEngineStats(w World, workers int) EngineStats {
	t := engineStatTable()
	e := EngineStats{table: t, v: make([]counter, len(t)), snap: make([]workerSnapStats, workers)}
	e.src, _ = w.(engineStatSource)
	return e
}

// bind records the fan-out workers' snapshotters (once they exist).
func (e *EngineStats) bind(ws []*fanWorker) {
	e.snappers = make([]snapshotStatSource, len(ws))
	for i, w := range ws {
		e.snappers[i], _ = w.snap.(snapshotStatSource)
	}
}

// publish copies the counters (tick goroutine, after the fan-out).
func (e *EngineStats) publish() {
	if e.src != nil {
		e.st = e.src.Stats()
		for i := range e.table {
			e.v[i].v.Store(e.table[i].get(&e.st))
		}
	}
	for w, src := range e.snappers {
		if src == nil || w >= len(e.snap) {
			continue
		}
		e.snapSt = src.SnapshotStats()
		row := &e.snap[w]
		for i := range snapStatTable {
			row.v[i].v.Store(snapStatTable[i].get(&e.snapSt))
		}
	}
}

// Load returns the published value of the engine counter named by its
// family and label ("" for none), and whether there is one. For tests.
func (e *EngineStats) Load(d *prometheus.Desc, label string) (uint64, bool) {
	for i := range e.table {
		if e.table[i].desc == d && e.table[i].label == label {
			return e.v[i].Load(), true
		}
	}
	return 0, false
}

// engineCollector exports EngineStats.
type engineCollector struct{ e *EngineStats }

func (c engineCollector) Describe(ch chan<- *prometheus.Desc) {
	seen := make(map[*prometheus.Desc]bool)
	for i := range c.e.table {
		if d := c.e.table[i].desc; !seen[d] {
			seen[d] = true
			ch <- d
		}
	}
	for i := range snapStatTable {
		if d := snapStatTable[i].desc; !seen[d] {
			seen[d] = true
			ch <- d
		}
	}
}

func (c engineCollector) Collect(ch chan<- prometheus.Metric) {
	if c.e.src != nil {
		for i := range c.e.table {
			st := &c.e.table[i]
			kind, v := prometheus.CounterValue, float64(c.e.v[i].Load())
			if st.gauge {
				kind = prometheus.GaugeValue
			}
			if st.label == "" {
				ch <- prometheus.MustNewConstMetric(st.desc, kind, v)
			} else {
				ch <- prometheus.MustNewConstMetric(st.desc, kind, v, st.label)
			}
		}
	}
	for w := range c.e.snap {
		worker := strconv.Itoa(w)
		for i := range snapStatTable {
			st := &snapStatTable[i]
			v := float64(c.e.snap[w].v[i].Load())
			if st.label == "" {
				ch <- prometheus.MustNewConstMetric(st.desc, prometheus.CounterValue, v, worker)
			} else {
				ch <- prometheus.MustNewConstMetric(st.desc, prometheus.CounterValue, v, worker, st.label)
			}
		}
	}
}

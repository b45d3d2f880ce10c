// Package metricname names the Prometheus families that more than one
// program reads or writes: the treasured server exports them, the
// baselines (perf/baseline) export the subset they can, and treasure-bench
// reads them from /metrics. One list, so that a rename cannot leave a
// reader silently looking for a family nobody exports: the deploy tests
// check that a running server exports every name Bench lists.
//
// netio still spells its names itself; it adopts these constants after its
// restructure lands (the names are the same strings).
package metricname

// Families exported by treasured and the baselines.
const (
	Ticks              = "treasured_ticks_total"
	TickOverruns       = "treasured_tick_overruns_total"
	TickWork           = "treasured_tick_work_seconds"   // histogram
	TickJitter         = "treasured_tick_jitter_seconds" // histogram
	TickMaxJitter      = "treasured_tick_max_jitter_seconds"
	TickEpoch          = "treasured_tick_epoch_unix_seconds" // tick T starts at epoch + T*period
	TickPeriod         = "treasured_tick_period_seconds"
	Inputs             = "treasured_inputs_total"
	Pongs              = "treasured_pongs_total"
	Drops              = "treasured_drops_total" // by LabelReason
	SessionsActive     = "treasured_sessions_active"
	DatagramsSent      = "treasured_datagrams_sent_total" // by LabelKind
	SnapshotSendErrors = "treasured_snapshot_send_errors_total"
	ReplySendErrors    = "treasured_reply_send_errors_total"
	SnapshotDropped    = "treasured_snapshot_dropped_total"
	SnapshotEAGAIN     = "treasured_snapshot_eagain_total"
	GCPauses           = "treasured_gc_pauses_seconds" // histogram
	GCCycles           = "treasured_gc_cycles_total"
	AllocBytes         = "treasured_alloc_bytes_total"
	AllocObjects       = "treasured_alloc_objects_total"
	HeapLive           = "treasured_heap_live_bytes"
	ProcessCPU         = "process_cpu_seconds_total"

	// Identity (issue 11): Connects whose token was refused, by
	// LabelReason; PathChallenges sent to a session's new address; and
	// sessions moved there after the answer.
	TokenRefusals  = "treasured_token_refusals_total"
	PathChallenges = "treasured_path_challenges_total"
	Migrations     = "treasured_migrations_total"
)

// Labels and label values the readers select on.
const (
	LabelReason  = "reason"
	LabelKind    = "kind"
	KindSnapshot = "snapshot" // LabelKind of DatagramsSent
)

// Bench lists every family treasure-bench reads from a server's /metrics.
func Bench() []string {
	return []string{
		Ticks, TickOverruns, TickWork, TickJitter, TickMaxJitter, TickEpoch, TickPeriod,
		Inputs, Drops, SessionsActive, DatagramsSent,
		SnapshotSendErrors, ReplySendErrors, SnapshotDropped, SnapshotEAGAIN,
		GCPauses, GCCycles, AllocBytes, AllocObjects, HeapLive, ProcessCPU,
	}
}

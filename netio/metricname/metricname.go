// Package metricname names every Prometheus family treasured exports: netio
// exports them, the baselines (perf/baseline) export the subset they can,
// treasure-bench reads some from /metrics, and the dashboard
// (deploy/grafana) charts them. One list, so that a rename cannot leave a
// reader silently looking for a family nobody exports: the deploy tests
// check that a running server exports every name Bench lists and every name
// the dashboard queries, and that every name here is exported.
package metricname

// Families of the tick scheduler.
const (
	Ticks             = "treasured_ticks_total"
	TickOverruns      = "treasured_tick_overruns_total"
	TickWork          = "treasured_tick_work_seconds"   // histogram
	TickJitter        = "treasured_tick_jitter_seconds" // histogram
	TickMaxJitter     = "treasured_tick_max_jitter_seconds"
	TickEpoch         = "treasured_tick_epoch_unix_seconds" // tick T starts at epoch + T*period
	TickPeriod        = "treasured_tick_period_seconds"
	Tick              = "treasured_tick"
	TickRecords       = "treasured_tick_records_total"
	JournalErrors     = "treasured_journal_errors_total" // only with a journal
	JournalSyncedTick = "treasured_journal_synced_tick"  // only with a journal
)

// Families of the event loops (receive side, sessions, admission).
const (
	DatagramsReceived = "treasured_datagrams_received_total" // by LabelLoop
	ReceivedBytes     = "treasured_received_bytes_total"     // by LabelLoop
	Drops             = "treasured_drops_total"              // by LabelReason
	Rejects           = "treasured_rejects_total"            // by LabelReason
	Handshakes        = "treasured_handshakes_total"         // by LabelStep
	SessionsActive    = "treasured_sessions_active"
	SessionsEnded     = "treasured_sessions_ended_total"    // by LabelReason
	AdmissionRefused  = "treasured_admission_refused_total" // by LabelReason
	Flooders          = "treasured_flooders_total"
	Inputs            = "treasured_inputs_total"
	Pongs             = "treasured_pongs_total"
	ReplySendErrors   = "treasured_reply_send_errors_total"
	LeaveRetries      = "treasured_leave_retries_total"
	RingDepth         = "treasured_ring_depth" // by LabelLoop
	RingCapacity      = "treasured_ring_capacity"
	// The kernel filter (netio/sockfilter): 1 when the loops' sockets
	// have it, and updates of its session table that failed. Its drops
	// are in Drops, under the loops' reasons.
	KernelFilter       = "treasured_kernel_filter"
	KernelFilterErrors = "treasured_kernel_filter_errors_total"
	// Wake-ups of the poll layout's loops, by LabelReason: "pace" (the
	// end of a paced sleep) or "arrival" (a datagram woke a parked loop).
	LoopWakeups = "treasured_loop_wakeups_total"
	// Datagrams the poll layout read from its urgent socket: the ones
	// clients marked urgent (Pings), read between the fan-out's batches.
	UrgentDatagrams = "treasured_urgent_datagrams_total"

	// Identity: Connects whose token was refused (by LabelReason),
	// PathChallenges sent to a session's new address, and sessions moved
	// there after the answer.
	TokenRefusals  = "treasured_token_refusals_total"
	PathChallenges = "treasured_path_challenges_total"
	Migrations     = "treasured_migrations_total"
)

// Families of the fan-out (send side).
const (
	DatagramsSent          = "treasured_datagrams_sent_total" // by LabelKind
	SentBytes              = "treasured_sent_bytes_total"     // by LabelKind
	SnapshotSendErrors     = "treasured_snapshot_send_errors_total"
	SnapshotEAGAIN         = "treasured_snapshot_eagain_total"
	SnapshotDropped        = "treasured_snapshot_dropped_total"
	SnapshotPartialSends   = "treasured_snapshot_partial_sends_total"
	SendmmsgCalls          = "treasured_sendmmsg_calls_total"
	SnapshotEncodeErrors   = "treasured_snapshot_encode_errors_total"
	SnapshotNoAddress      = "treasured_snapshot_no_address_total"
	EngineSnapshots        = "treasured_engine_snapshots_total" // by LabelWorker, LabelKind
	EngineSnapshotsMore    = "treasured_engine_snapshots_more_total"
	EngineSnapshotBytes    = "treasured_engine_snapshot_bytes_total"
	EngineSnapshotItems    = "treasured_engine_snapshot_items_total" // by LabelWorker, LabelItem
	EngineSnapshotsSkipped = "treasured_engine_snapshots_skipped_total"
)

// Families of the engine's own counters (engine.Stats).
const (
	LootUndeliverable     = "treasured_loot_undeliverable_total" // ALERT on any increase
	EngineTicks           = "treasured_engine_ticks_total"
	EngineRecords         = "treasured_engine_records_total" // by LabelResult
	EngineJoins           = "treasured_engine_joins_total"   // by LabelResult
	EngineLeaves          = "treasured_engine_leaves_total"
	EngineAcksFuture      = "treasured_engine_acks_future_total"
	EngineActions         = "treasured_engine_actions_total"        // by LabelResult
	EngineActionRejects   = "treasured_engine_action_rejects_total" // by LabelReason
	EngineMoves           = "treasured_engine_moves_total"
	EngineZoneChanges     = "treasured_engine_zone_changes_total"
	EngineLoot            = "treasured_engine_loot_total" // by LabelKind
	EngineChestsRespawned = "treasured_engine_chests_respawned_total"
	EngineEventsQueued    = "treasured_engine_events_queued_total"
	EngineEventsAcked     = "treasured_engine_events_acked_total"
	EngineEventsDropped   = "treasured_engine_events_dropped_total"
	EngineGone            = "treasured_engine_gone_total"    // by LabelResult
	EngineResyncs         = "treasured_engine_resyncs_total" // by LabelReason
	EngineNodesInUse      = "treasured_engine_delivery_nodes_in_use"
	EngineEventsInUse     = "treasured_engine_delivery_events_in_use"
	EngineLootLive        = "treasured_engine_loot_live"
	EngineRehashed        = "treasured_engine_rehashed_total"
)

// Families of the Go runtime, as BENCHMARKS.md reports them.
const (
	GCPauses     = "treasured_gc_pauses_seconds" // histogram
	GCCycles     = "treasured_gc_cycles_total"
	AllocBytes   = "treasured_alloc_bytes_total"
	AllocObjects = "treasured_alloc_objects_total"
	HeapLive     = "treasured_heap_live_bytes"
	ProcessCPU   = "process_cpu_seconds_total" // the standard process collector's
)

// Families of cmd/treasured's checkpointer (not netio's: a server without a
// data directory has none).
const (
	Checkpoints           = "treasured_checkpoints_total"
	CheckpointsSkipped    = "treasured_checkpoints_skipped_total"
	CheckpointErrors      = "treasured_checkpoint_errors_total"
	CheckpointTick        = "treasured_checkpoint_tick"
	CheckpointTickSeconds = "treasured_checkpoint_tick_seconds"
)

// Labels and label values the readers select on.
const (
	LabelReason  = "reason"
	LabelKind    = "kind"
	LabelLoop    = "loop"
	LabelStep    = "step"
	LabelResult  = "result"
	LabelWorker  = "worker"
	LabelItem    = "item"
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

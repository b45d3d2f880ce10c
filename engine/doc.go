// Package engine is treasured's deterministic world: regions of zones, chests,
// loot, players; one Step per 50 ms tick; per-player delta snapshots with
// exactly-once loot events. It owns no socket, no clock and no goroutine:
// netio drains its rings into Step and fans the snapshots out.
//
// Driving it (the tick goroutine, every 50 ms):
//
//	w.Step(records)            // any order; see Record
//	journal.Append(w.LastOrdered())
//	for each active player p, on fan-out worker k (distinct players):
//	        buf := w.Snapshot(p, scratch[k])  // <= schema.MaxDatagram bytes
//
// Files, by concern:
//
//	config.go     Config, DefaultConfig, Validate
//	world.go      World and its arenas, New, read accessors
//	order.go      deterministic ordering of a tick's records (radix sort)
//	step.go       Step phases: apply, move, open, pick up, respawn, expire, queue events
//	seqwin/       the action_seq exactly-once window (RFC 4303), a leaf
//	              package netio/auth shares for its datagram window
//	interest.go   zone lists, visibility changes, Gone
//	delivery.go   per-player queues of pending events / Gone, ack handling
//	resume.go     parked players: a Leave keeps the state for GraceTicks,
//	              a Join with the same player key reattaches it
//	checkpoint.go the state of a tick as a file (format, writing)
//	checkpoint_load.go  loading it back, section by section, checking
//	              every invariant
//	configcodec.go  the portable encoding of Config (journal, checkpoint)
//	snapshot.go   delta snapshots: watermark, packing, Scratch
//	hash.go       incremental 64-bit state hash
//	mix.go        integer mixing, loot ids and contents
package engine

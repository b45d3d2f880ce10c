// Package journal is treasured's append-only record of every tick's ordered
// inputs (docs/ARCHITECTURE.md "Journal and checkpoints"). The state after tick N is a
// pure function of (config, the ordered inputs of ticks <= N), so a journal
// holding the config and each tick's records, plus the state hash the live
// engine computed after that tick, lets treasure-replay rebuild the world
// offline and name the first tick whose hash differs.
//
// Driving it, on the engine's tick goroutine (the only goroutine that may
// call Append, Sync or Close):
//
//	jw, err := journal.Create(path, w.Config(), w.Tick(), journal.Options{})
//	...
//	w.Step(recs)
//	if err := jw.Append(w.Tick(), w.LastOrdered(), w.Hash()); err != nil { ... }
//	...
//	jw.Close()
//
// A server runs it through a data directory (Open, datadir.go): journal
// segments and checkpoints, recovery at start. See "Data directory" below.
//
// Files: format.go (layout constants, header, record codec), writer.go
// (Writer and its fsync policy), reader.go (Reader and how a journal ends),
// replay.go (Replay, ReplayWorld, ReplayFrom), datadir.go (Dir: segments,
// checkpoints, recovery, ReplayDir).
//
// # File format (version 3, all integers little-endian)
//
// Header, HeaderSize (128) bytes:
//
//	off  size  field
//	  0     8  magic "TRSRJRNL"
//	  8     2  format version (3; 2 ordered a tick's records by kind before
//	           generation, 1 had no tick rate and grace in the config)
//	 10     2  header size in bytes (128), checked: a reader never guesses
//	 12     4  start tick S: the first frame is tick S+1; S = 0 is a fresh
//	           engine.New world, S > 0 needs a checkpoint of tick S
//	 16   108  engine.Config as engine.AppendConfig encodes it: every field
//	           in declaration order, Go ints as i64 so the file is the same
//	           on every platform, TickHz and GraceTicks last
//	124     4  CRC-32C (Castagnoli) of bytes [0, 124)
//
// Then one frame per tick, ticks consecutive (S+1, S+2, ...; the tick loop
// never skips one, see netio/tick.go):
//
//	off  size  field
//	  0     4  frame size in bytes, this field and the CRC included (>= 24)
//	  4     4  tick
//	  8     4  record count
//	 12     8  engine state hash after the tick (World.Hash)
//	 20     .  the records, each encoded as below
//	 -4     4  CRC-32C of every byte of the frame before it
//
// A record is what engine.Record means, not its memory layout: a head byte,
// then only the fields that are non-zero.
//
//	head   1  bits 0-1 kind (1 Leave, 2 Join, 3 Input); bit 2 region, bit 3
//	          ack tick, bit 4 key, bit 5 actions follow; bits 6-7 zero
//	player 4  int32
//	gen    4  uint32
//	region 1  if bit 2
//	ack    4  if bit 3
//	key    8  if bit 4
//	n      1  if bit 5: 1..8 actions, each:
//	          seq u32, kind u8, flags u8 (bit 0 target, bit 1 pos, others
//	          zero), target u64 if bit 0, pos x i32 y i32 if bit 1
//
// The encoding is canonical (a flag is set exactly when its field is
// non-zero), so equal records are equal bytes and a reader rejects anything
// else. Only Actions[:N] are stored: the engine ignores the rest and zeroes
// them in LastOrdered. A Leave costs 9 bytes and an acknowledging Input with
// one Move 28, where the in-memory engine.Record is over 200.
//
// Bounds: a frame holds at most max(Config.MaxPlayers*RecordsPerPlayer,
// MinRecordCap) records and MaxFrameSize bytes. The writer refuses a tick
// beyond them and the reader rejects a frame that claims more. Within them
// the reader still does not trust a length from the file: it grows its frame
// buffer at most 1 MiB ahead of the bytes that actually arrived, and sizes
// the record slice only after the count is checked against the frame's
// bytes (a record is at least 9).
//
// # Durability and crashes
//
// Append encodes the frame into a reused buffer and hands it to the file in
// one write(2), so once Append returns the frame is in the kernel's page
// cache: a crash of the process loses nothing that was appended. Every
// Options.SyncEvery ticks a background goroutine fsyncs the file (off the
// tick goroutine, because an fsync can take longer than a whole tick); Sync
// and Close fsync inline. A crash of the machine loses at most the ticks
// after the last completed fsync (SyncedTick), and may leave the last frame
// torn. The reader reports such a tail (a frame cut short, a final frame
// whose checksum fails, zero bytes where a frame should start) as
// ErrTruncatedTail with its offset: everything before it is the valid
// journal. Damage followed by intact data is ErrCorrupt instead, which no
// crash explains.
//
// # Data directory
//
// Open(dir, cfg, opts) holds a world's segments ("journal-T.seg", frames
// T+1, T+2, ...) and checkpoints ("checkpoint-T.ckpt", the engine state of
// tick T) in one directory. Every DirOptions.CheckpointEvery ticks (default
// 10 s) Dir.Append, on the tick goroutine, encodes a checkpoint into a
// reused buffer and swaps the journal to a segment that starts at that
// tick (created ahead by the writer goroutine), allocating nothing; the
// writer goroutine then closes (fsyncs) the previous segment, writes the
// checkpoint atomically (temporary file, fsync, rename, directory fsync),
// deletes the checkpoints older than the Keep newest (default 2) and the
// segments only they needed, and creates the next segment ahead. A
// checkpoint still being written when the next is due makes that one be
// skipped (counted), never the tick wait.
//
// Start = recover: Open on a directory with data loads the newest
// checkpoint that loads (a corrupt one is skipped and logged, the one
// before is used), replays the segments after it (every frame checksummed,
// every replayed hash compared with the journaled one, each segment
// starting where the previous ended), cuts a torn tail off the last
// segment (logged), removes segments that hold no frame, starts a new
// segment at the recovered tick and journals one tick of Leaves for the
// players whose sessions died with the process (they park, and resume by
// player key when they reconnect). Tick numbers and chest generations go
// on, so no loot id is ever issued twice. Open refuses (ErrRefused, exit 2
// in treasured, the directory untouched) another world's data (any config
// field: seed, regions, max players, tick rate...), a future format version
// of a segment or a checkpoint, a gap, a broken hash chain, or damage
// inside a segment; it never starts empty over existing data. A new or
// empty directory starts a fresh world at tick 0.
//
// # What a crash loses
//
// Write policy: every tick's frame is handed to the kernel in one write(2)
// before any snapshot of that tick is sent (netio journals right after
// Step and before the fan-out), and fsynced in the background every
// Options.SyncEvery ticks (default 20, one second at 20 Hz); a checkpoint
// is fsynced before it is renamed into place, and a segment is fsynced
// before the checkpoint that ends it is written.
//
//   - kill -9, an OOM kill, a panic: nothing. Every frame a client could
//     have seen the effect of is in the page cache, and the restart
//     recovers to the last tick the process wrote.
//   - Power loss or a kernel crash: at most the ticks after the last
//     completed fsync, about one second by default (plus a torn last
//     frame, cut off at recovery). Clients may have seen those ticks; their
//     effects are gone after the restart. A power loss that tears a segment
//     which a newer segment follows is refused as a gap rather than
//     silently skipped.
//
// # Checkpoints
//
// A checkpoint (engine.WriteCheckpoint: the engine arenas "as of tick T")
// resumes from the journal like this: engine.LoadCheckpoint gives a World
// whose Tick() is T, and ReplayFrom(world, journal, onTick) checks that the
// journal has the same config and reaches T, compares the hash the journal
// recorded for tick T (when it holds that frame) with the checkpoint's,
// skips the frames before it with Reader.SkipTo (checksummed, not decoded)
// and continues with frame T+1 as ReplayWorld does. A journal segment
// started by a restarted server records its start tick in the header for
// the same reason; ReplayFrom accepts any segment that starts at or before
// T.
package journal

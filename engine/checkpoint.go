package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// Checkpoints (docs/ARCHITECTURE.md "Journal and checkpoints"). A checkpoint is the
// simulation state "as of tick T": LoadCheckpoint of it, then the journal's
// frames T+1, T+2, ... replayed through Step (journal.ReplayFrom), reproduce
// the original run's hash at every following tick.
//
// # What is in it, and what is not
//
// In: everything a future Step or Hash reads. The tick; the config; every
// player slot that is active or parked (region, generation, key, position,
// items, inventory, change tick, action_seq window, zone-list link, grace
// deadline); every zone-list head (list order decides the order of fan-out,
// Gone queues and snapshot contents, so it is kept, not rebuilt); every
// chest (status, generation, loot id, opener, opening and change ticks, live
// loot slot); every loot slot (liveness, slot generation, id, chest,
// contents, expiry, free-list link) and the free-list head; the respawn and
// expiry queues in FIFO order. The state hash is not stored term by term:
// LoadCheckpoint recomputes it from the state and rejects the file unless it
// equals the hash stored in the header, which makes the hash a check of the
// whole decoded state.
//
// Also in: every loot event still owed to an active or parked player, in
// queue order, because a restart must not lose what a player was not yet
// shown (players reconnect and resume by player key, resume.go). The parked
// list is implied (sorted by grace deadline, then slot).
//
// Out, deliberately: which snapshots carried which event (the spans of the
// delivery nodes), the acknowledged tick, the Gone queues, the ring of sent
// snapshots, the rotation cursor and the zone entry ticks. They describe
// what the clients of this process were told, and a restart ends every
// session: a loaded world owes every queued event again (the client's
// de-duplication shows each once), starts every player with no
// acknowledgement and no sent snapshot (the next one is full) and zone entry
// ticks of T (everything in view is news). Players who join after the load
// get exactly the snapshots the original world would have built for them
// (the test checks this byte for byte), provided the delivery pools did not
// overflow in the original.
//
// Also out: Stats (process counters, they restart at zero; LootLive is
// recomputed) and per-tick scratch (the move budget, dirty marks, ordered
// records, tick events): at a tick boundary they hold nothing that the next
// Step reads.
//
// # File format (version 2, every integer little-endian)
//
// Encoded field by field with encoding/binary, never as a memory image, so
// it is the same on every platform and independent of struct layout.
//
// Header, checkpointHeaderSize (152) bytes:
//
//	off  size  field
//	  0     8  magic "TRSRCKPT"
//	  8     2  format version (2)
//	 10     2  header size (152)
//	 12     4  tick T
//	 16     8  World.Hash() at T
//	 24   108  Config, normalized, as AppendConfig encodes it (the journal
//	           header carries the same bytes)
//	132     4  loot free-list head (i32, -1 when empty)
//	136     4  live loot count
//	140     4  respawn queue length R (<= chests)
//	144     4  expiry queue length E (<= chests)
//	148     4  queued loot events Q (<= NodePool)
//
// Then fixed-size arrays whose lengths the config implies:
//
//	zones      x 4   zone-list head (i32 player, -1 empty)
//	MaxPlayers x 88  player: flag u8 (1 active, 2 parked), region u8, 0 u16,
//	                 gen u32, key u64, pos x i32, y i32, items u32, changed
//	                 u32, zone-list next i32 (-1 when parked), window high
//	                 u32, window mask u64, inventory 8 x u32, grace deadline
//	                 u32 (0 when active), 0 u32. A free slot has only its
//	                 newest gen set.
//	chests     x 32  chest: status u8, 0 u8, 0 u16, gen u32, loot id u64,
//	                 opened by u32, opened tick u32, changed u32, loot slot i32
//	MaxLoot    x 32  loot: alive u8, 0 u8, item u16, gen u32, id u64, chest
//	                 i32, qty u16, 0 u16, expires u32, next free i32. A dead
//	                 slot has only gen and next free set.
//	R          x 4   respawn queue, oldest first: chest i32
//	E          x 8   expiry queue, oldest first: loot slot i32, gen u32
//	Q          x 40  owed loot events, by player then oldest first: player
//	                 i32, loot id u64, kind u8, 0 u8, item u16, qty u16, 0
//	                 u16, chest u32, event player u32, tick u32, pos x i32 y
//	                 i32
//	           4     CRC-32C (Castagnoli) of every byte before it
//
// The encoding is canonical: LoadCheckpoint accepts a file only if every
// reserved byte is zero, the config from the file passes Validate and is
// already normalized, the state satisfies the engine's invariants (zone
// lists, free list, queues, chest/loot cross-links, loot ids and contents
// derived from the seed, ticks not in the future, grace deadlines within
// the grace period, events of occupied slots within the pools) and its hash
// equals the stored one. A file it accepts is byte for byte what
// WriteCheckpoint writes for the loaded world. Nothing is allocated by a
// length from the file before its checksum is verified except the bytes
// that actually arrived; then New(config) allocates what the config implies.
//
// # Cost and ownership
//
// AppendCheckpoint (and WriteCheckpoint) read only state that Step writes
// and Snapshot only reads (of the delivery queues: their links and events,
// never the spans Snapshot writes into the nodes), so they
// run on the tick goroutine between two Steps, and may overlap the fan-out
// workers' Snapshot calls of that tick (TestCheckpointDuringSnapshots checks
// it under the race detector). With the default config and 4,200 players a
// checkpoint is 2.3 MB, encoded in 1.1-1.8 ms on a shared 2-core EPYC into
// a reused buffer without allocating (BenchmarkCheckpoint; BENCHMARKS.md).
// fsync takes milliseconds or more, so a server (journal.Dir) encodes with
// AppendCheckpoint between Steps and hands the bytes to
// another goroutine that calls WriteFileAtomic.

const (
	checkpointMagic      = "TRSRCKPT"
	checkpointVersion    = 2
	checkpointHeaderSize = 152

	cpPlayerSize = 88
	cpChestSize  = 32
	cpLootSize   = 32
	cpEventSize  = 40

	cpActive = 1 // player record flag
	cpParked = 2
)

// CheckpointVersion is the checkpoint format version this build writes and
// reads.
const CheckpointVersion = checkpointVersion

// ErrCheckpoint is wrapped by every error LoadCheckpoint returns about the
// file's contents (not a checkpoint, another version, a bad checksum, a
// short or long file, an invalid config, inconsistent state).
var ErrCheckpoint = errors.New("engine: bad checkpoint")

var (
	cpLE         = binary.LittleEndian
	cpCastagnoli = crc32.MakeTable(crc32.Castagnoli)
)

// Normalized returns c with every "0 means derived" field filled in, as
// World.Config reports it: two configs build the same world exactly when
// their Normalized values are equal.
func (c Config) Normalized() Config { return c.normalized() }

// checkpointSize is the file size for a normalized cfg, queue lengths and
// number of queued loot events.
func checkpointSize(cfg *Config, resp, exp, evs int64) int64 {
	zones := int64(cfg.Regions) * int64(cfg.ZonesX) * int64(cfg.ZonesY)
	chests := zones * int64(cfg.ChestsPerZone)
	return checkpointHeaderSize + zones*4 + int64(cfg.MaxPlayers)*cpPlayerSize +
		chests*cpChestSize + int64(cfg.MaxLoot)*cpLootSize + resp*4 + exp*8 + evs*cpEventSize + 4
}

// CheckpointSize is the size in bytes of the checkpoint of w's current state.
func (w *World) CheckpointSize() int {
	return int(checkpointSize(&w.cfg, int64(w.respawnQ.n), int64(w.expireQ.n), int64(w.queuedEvents())))
}

// queuedEvents is the number of (player, loot event) deliveries pending for
// active and parked players: the checkpoint's event section.
func (w *World) queuedEvents() int {
	n := 0
	for i := range w.players {
		if p := &w.players[i]; p.active || p.parked {
			n += int(p.evQ.n)
		}
	}
	return n
}

// AppendCheckpoint appends the checkpoint of w's current state to dst and
// returns the extended slice. It allocates only if dst lacks the room
// (CheckpointSize). Call it between two Steps, from the tick goroutine; it
// may run while fan-out workers build snapshots (see the package comment in
// checkpoint.go).
func (w *World) AppendCheckpoint(dst []byte) []byte {
	evs := w.queuedEvents()
	size := int(checkpointSize(&w.cfg, int64(w.respawnQ.n), int64(w.expireQ.n), int64(evs)))
	dst = slices.Grow(dst, size)
	start := len(dst)
	b := dst[start : start+size]

	copy(b, checkpointMagic)
	cpLE.PutUint16(b[8:], checkpointVersion)
	cpLE.PutUint16(b[10:], checkpointHeaderSize)
	cpLE.PutUint32(b[12:], w.tick)
	cpLE.PutUint64(b[16:], w.Hash())
	AppendConfig(b[24:24], &w.cfg)
	cpLE.PutUint32(b[132:], uint32(w.lootFree))
	cpLE.PutUint32(b[136:], uint32(w.lootLive))
	cpLE.PutUint32(b[140:], uint32(w.respawnQ.n))
	cpLE.PutUint32(b[144:], uint32(w.expireQ.n))
	cpLE.PutUint32(b[148:], uint32(evs))
	off := checkpointHeaderSize
	for _, h := range w.zoneHead {
		cpLE.PutUint32(b[off:], uint32(h))
		off += 4
	}
	off = w.putPlayers(b, off)
	off = w.putChests(b, off)
	off = w.putLoots(b, off)
	off = w.putQueues(b, off)
	off = w.putEvents(b, off)
	cpLE.PutUint32(b[off:], crc32.Checksum(b[:off], cpCastagnoli))
	return dst[:start+size]
}

// putPlayers writes the player section at b[off:] and returns its end.
func (w *World) putPlayers(b []byte, off int) int {
	for i := range w.players {
		r := b[off : off+cpPlayerSize]
		off += cpPlayerSize
		p := &w.players[i]
		if !p.active && !p.parked {
			// The newest generation of a free slot is kept so that netio
			// never reuses a (slot, generation) after a restart.
			clear(r)
			cpLE.PutUint32(r[4:], p.gen)
			continue
		}
		hot := &w.pHot[i]
		zNext, flag := hot.zNext, byte(cpActive)
		if p.parked {
			zNext, flag = -1, cpParked // out of every zone list
		}
		r[0], r[1], r[2], r[3] = flag, p.region, 0, 0
		cpLE.PutUint32(r[4:], p.gen)
		cpLE.PutUint64(r[8:], p.key)
		cpLE.PutUint32(r[16:], uint32(hot.pos.X))
		cpLE.PutUint32(r[20:], uint32(hot.pos.Y))
		cpLE.PutUint32(r[24:], hot.items)
		cpLE.PutUint32(r[28:], hot.changed)
		cpLE.PutUint32(r[32:], uint32(zNext))
		cpLE.PutUint32(r[36:], p.win.High())
		cpLE.PutUint64(r[40:], p.win.Mask())
		for k, n := range p.inv {
			cpLE.PutUint32(r[48+4*k:], n)
		}
		cpLE.PutUint32(r[80:], p.parkedUntil)
		cpLE.PutUint32(r[84:], 0)
	}
	return off
}

// putChests writes the chest section at b[off:] and returns its end.
func (w *World) putChests(b []byte, off int) int {
	for i := range w.chests {
		r := b[off : off+cpChestSize]
		off += cpChestSize
		c := &w.chests[i]
		r[0], r[1], r[2], r[3] = c.status, 0, 0, 0
		cpLE.PutUint32(r[4:], c.gen)
		cpLE.PutUint64(r[8:], c.lootID)
		cpLE.PutUint32(r[16:], c.openedBy)
		cpLE.PutUint32(r[20:], c.openedTick)
		cpLE.PutUint32(r[24:], c.changed)
		cpLE.PutUint32(r[28:], uint32(c.loot))
	}
	return off
}

// putLoots writes the loot slot section at b[off:] and returns its end.
func (w *World) putLoots(b []byte, off int) int {
	for i := range w.loots {
		r := b[off : off+cpLootSize]
		off += cpLootSize
		l := &w.loots[i]
		clear(r)
		cpLE.PutUint32(r[4:], l.gen)
		cpLE.PutUint32(r[28:], uint32(l.nextFree))
		if !l.alive {
			continue // the rest of a dead slot is stale and never read
		}
		r[0] = 1
		cpLE.PutUint16(r[2:], l.item)
		cpLE.PutUint64(r[8:], l.id)
		cpLE.PutUint32(r[16:], uint32(l.chest))
		cpLE.PutUint16(r[20:], l.qty)
		cpLE.PutUint32(r[24:], l.expires)
	}
	return off
}

// putQueues writes the respawn and expiry queues, oldest first, at b[off:]
// and returns their end.
func (w *World) putQueues(b []byte, off int) int {
	for k := range w.respawnQ.n {
		cpLE.PutUint32(b[off:], uint32(w.respawnQ.ref(k).chest))
		off += 4
	}
	for k := range w.expireQ.n {
		ref := *w.expireQ.ref(k)
		cpLE.PutUint32(b[off:], uint32(ref.slot))
		cpLE.PutUint32(b[off+4:], ref.gen)
		off += 8
	}
	return off
}

// putEvents writes the event section at b[off:]: every pending loot event
// of every active or parked player, by player, oldest first. Which
// snapshots carried them is not kept: after a load each is owed again, and
// the client's de-duplication hides a second copy.
func (w *World) putEvents(b []byte, off int) int {
	for i := range w.players {
		p := &w.players[i]
		if !p.active && !p.parked {
			continue
		}
		for n := p.evQ.head; n >= 0; n = w.q.nodes[n].next {
			r := b[off : off+cpEventSize]
			off += cpEventSize
			ev := &w.q.events[w.q.nodes[n].ref].ev
			cpLE.PutUint32(r[0:], uint32(i))
			cpLE.PutUint64(r[4:], ev.LootID)
			r[12], r[13] = ev.Kind, 0
			cpLE.PutUint16(r[14:], ev.Item)
			cpLE.PutUint16(r[16:], ev.Qty)
			cpLE.PutUint16(r[18:], 0)
			cpLE.PutUint32(r[20:], ev.Chest)
			cpLE.PutUint32(r[24:], ev.Player)
			cpLE.PutUint32(r[28:], ev.Tick)
			cpLE.PutUint32(r[32:], uint32(ev.Pos.X))
			cpLE.PutUint32(r[36:], uint32(ev.Pos.Y))
		}
	}
	return off
}

// WriteCheckpoint writes the checkpoint of w's current state to dst in one
// Write. Same rules as AppendCheckpoint; it allocates the file's size.
func (w *World) WriteCheckpoint(dst io.Writer) error {
	b := w.AppendCheckpoint(make([]byte, 0, w.CheckpointSize()))
	if _, err := dst.Write(b); err != nil {
		return fmt.Errorf("engine: write checkpoint: %w", err)
	}
	return nil
}

// WriteCheckpointFile writes the checkpoint of w's current state to path
// atomically (WriteFileAtomic). It encodes on the calling goroutine and
// fsyncs there too: on a live server, prefer AppendCheckpoint between Steps
// and WriteFileAtomic on another goroutine.
func (w *World) WriteCheckpointFile(path string) error {
	return WriteFileAtomic(path, w.AppendCheckpoint(nil))
}

// WriteFileAtomic replaces path with data so that a crash at any point
// leaves either the old file or the complete new one: it writes a temporary
// file in the same directory, fsyncs it, renames it over path and fsyncs
// the directory (so the rename itself is durable).
func WriteFileAtomic(path string, data []byte) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("engine: checkpoint: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = f.Chmod(0o644); err != nil {
		return fmt.Errorf("engine: checkpoint: %w", err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("engine: checkpoint: %w", err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("engine: checkpoint: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("engine: checkpoint: %w", err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("engine: checkpoint: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("engine: checkpoint: %w", err)
	}
	defer d.Close()
	if err = d.Sync(); err != nil {
		return fmt.Errorf("engine: checkpoint: sync %s: %w", dir, err)
	}
	return nil
}

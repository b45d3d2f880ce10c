package engine

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
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
		cpLE.PutUint32(r[36:], p.win.high)
		cpLE.PutUint64(r[40:], p.win.mask)
		for k, n := range p.inv {
			cpLE.PutUint32(r[48+4*k:], n)
		}
		cpLE.PutUint32(r[80:], p.parkedUntil)
		cpLE.PutUint32(r[84:], 0)
	}
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
	for k := range w.respawnQ.n {
		cpLE.PutUint32(b[off:], uint32(w.respawnQ.at(k).chest))
		off += 4
	}
	for k := range w.expireQ.n {
		ref := w.expireQ.at(k)
		cpLE.PutUint32(b[off:], uint32(ref.slot))
		cpLE.PutUint32(b[off+4:], ref.gen)
		off += 8
	}
	off = w.putEvents(b, off)
	cpLE.PutUint32(b[off:], crc32.Checksum(b[:off], cpCastagnoli))
	return dst[:start+size]
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

// at is the k-th oldest element (k < n).
func (r *ring[T]) at(k int) T {
	i := r.head + k
	if i >= len(r.buf) {
		i -= len(r.buf)
	}
	return r.buf[i]
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

// LoadCheckpointFile is LoadCheckpoint of the file at path.
func LoadCheckpointFile(path string) (*World, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	defer f.Close()
	return LoadCheckpoint(f)
}

// LoadCheckpoint reads a checkpoint written by WriteCheckpoint and returns
// the world it describes, ready for the journal's next frame (tick T+1). It
// reads r to its end and rejects (errors.Is ErrCheckpoint) anything but
// exactly one valid, consistent checkpoint; an error of r itself is returned
// wrapped, not as ErrCheckpoint.
func LoadCheckpoint(r io.Reader) (*World, error) {
	var hdr [checkpointHeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, cpErr("file shorter than the %d-byte header", checkpointHeaderSize)
		}
		return nil, fmt.Errorf("engine: read checkpoint: %w", err)
	}
	h, err := parseCheckpointHeader(hdr[:])
	if err != nil {
		return nil, err
	}
	// Read the rest, one byte more than expected to detect trailing data.
	// io.ReadAll grows with the bytes that arrive, not with the size the
	// header claims.
	want := checkpointSize(&h.cfg, int64(h.resp), int64(h.exp), int64(h.evs))
	rest, err := io.ReadAll(io.LimitReader(r, want-checkpointHeaderSize+1))
	if err != nil {
		return nil, fmt.Errorf("engine: read checkpoint: %w", err)
	}
	if got := checkpointHeaderSize + int64(len(rest)); got != want {
		if got < want {
			return nil, cpErr("truncated: %d bytes, the header implies %d", got, want)
		}
		return nil, cpErr("trailing data after the %d bytes the header implies", want)
	}
	sum := crc32.Update(crc32.Checksum(hdr[:], cpCastagnoli), cpCastagnoli, rest[:len(rest)-4])
	if stored := cpLE.Uint32(rest[len(rest)-4:]); sum != stored {
		return nil, cpErr("checksum %08x, stored %08x", sum, stored)
	}
	return h.decode(rest[:len(rest)-4])
}

func cpErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCheckpoint}, args...)...)
}

// cpHeader is the decoded fixed header.
type cpHeader struct {
	tick      uint32
	hash      uint64
	cfg       Config
	lootFree  int32
	lootLive  int32
	resp, exp int32
	evs       int32 // queued loot events
}

func parseCheckpointHeader(b []byte) (cpHeader, error) {
	var h cpHeader
	if string(b[:8]) != checkpointMagic {
		return h, cpErr("magic %q is not %q (not a checkpoint)", b[:8], checkpointMagic)
	}
	if v := cpLE.Uint16(b[8:]); v != checkpointVersion {
		return h, cpErr("format version %d, this build reads %d", v, checkpointVersion)
	}
	if n := cpLE.Uint16(b[10:]); n != checkpointHeaderSize {
		return h, cpErr("header size %d, want %d", n, checkpointHeaderSize)
	}
	h.tick = cpLE.Uint32(b[12:])
	h.hash = cpLE.Uint64(b[16:])
	cfg, err := ParseConfig(b[24 : 24+ConfigSize])
	if err != nil {
		return h, fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	if err := cfg.Validate(); err != nil {
		return h, fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	if cfg.normalized() != cfg {
		return h, cpErr("config is not normalized")
	}
	h.cfg = cfg
	chests := int64(cfg.Regions) * int64(cfg.ZonesX) * int64(cfg.ZonesY) * int64(cfg.ChestsPerZone)
	h.lootFree = int32(cpLE.Uint32(b[132:]))
	live := cpLE.Uint32(b[136:])
	resp, exp := cpLE.Uint32(b[140:]), cpLE.Uint32(b[144:])
	evs := cpLE.Uint32(b[148:])
	switch {
	case h.lootFree < -1 || int64(h.lootFree) >= int64(cfg.MaxLoot):
		return h, cpErr("loot free-list head %d out of range", h.lootFree)
	case int64(live) > int64(cfg.MaxLoot):
		return h, cpErr("%d live loot > MaxLoot %d", live, cfg.MaxLoot)
	case int64(resp) > chests || int64(exp) > chests:
		return h, cpErr("queue lengths %d, %d exceed the %d chests", resp, exp, chests)
	case int64(evs) > int64(cfg.NodePool):
		return h, cpErr("%d queued loot events > NodePool %d", evs, cfg.NodePool)
	}
	h.lootLive, h.resp, h.exp, h.evs = int32(live), int32(resp), int32(exp), int32(evs)
	return h, nil
}

// decode builds the world from the checksummed body (header excluded,
// trailer excluded), checking every invariant the engine relies on.
func (h *cpHeader) decode(b []byte) (*World, error) {
	w, err := New(h.cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	T := h.tick
	g := &w.geo
	np, nl := int32(len(w.players)), int32(len(w.loots))
	w.tick = T

	for z := range w.zoneHead {
		v := int32(cpLE.Uint32(b))
		b = b[4:]
		if v < -1 || v >= np {
			return nil, cpErr("zone %d: head %d out of range", z, v)
		}
		w.zoneHead[z] = v
	}

	// Players. zPrev = -2 marks "active, not yet seen in a zone list".
	active := int32(0)
	for i := range w.players {
		r := b[:cpPlayerSize]
		b = b[cpPlayerSize:]
		p := &w.players[i]
		p.dirty, p.moveTick = T, T
		if r[0] == 0 {
			if !allZero(r[:4]) || !allZero(r[8:]) {
				return nil, cpErr("player %d: free slot with data", i)
			}
			p.gen = cpLE.Uint32(r[4:])
			continue
		}
		hot := &w.pHot[i]
		p.active, p.parked = r[0] == cpActive, r[0] == cpParked
		p.region = r[1]
		p.gen = cpLE.Uint32(r[4:])
		p.key = cpLE.Uint64(r[8:])
		hot.pos = schema.Vec2{X: int32(cpLE.Uint32(r[16:])), Y: int32(cpLE.Uint32(r[20:]))}
		hot.items = cpLE.Uint32(r[24:])
		hot.changed = cpLE.Uint32(r[28:])
		hot.zNext = int32(cpLE.Uint32(r[32:]))
		p.win = seqWindow{high: cpLE.Uint32(r[36:]), mask: cpLE.Uint64(r[40:])}
		sum := uint32(0)
		for k := range p.inv {
			p.inv[k] = cpLE.Uint32(r[48+4*k:])
			sum += p.inv[k]
		}
		p.parkedUntil = cpLE.Uint32(r[80:])
		switch {
		case (!p.active && !p.parked) || r[2] != 0 || r[3] != 0 || cpLE.Uint32(r[84:]) != 0:
			return nil, cpErr("player %d: bad flags", i)
		case p.active && p.parkedUntil != 0:
			return nil, cpErr("player %d: active with a grace deadline", i)
		case p.parked && (p.parkedUntil <= T || uint64(p.parkedUntil) > uint64(T)+uint64(w.cfg.GraceTicks) || hot.zNext != -1):
			return nil, cpErr("player %d: parked until tick %d, not in (%d, %d] or in a zone list", i, p.parkedUntil, T, uint64(T)+uint64(w.cfg.GraceTicks))
		case int(p.region) >= w.cfg.Regions:
			return nil, cpErr("player %d: region %d out of range", i, p.region)
		case hot.pos.X < 0 || hot.pos.Y < 0 || hot.pos.X >= g.w || hot.pos.Y >= g.h:
			return nil, cpErr("player %d: position %v outside the region", i, hot.pos)
		case hot.changed > T:
			return nil, cpErr("player %d: changed at tick %d > %d", i, hot.changed, T)
		case hot.zNext < -1 || hot.zNext >= np:
			return nil, cpErr("player %d: zone link %d out of range", i, hot.zNext)
		case sum != hot.items:
			return nil, cpErr("player %d: %d items but inventory sums to %d", i, hot.items, sum)
		}
		hot.zone = g.zoneOf(p.region, hot.pos)
		for c := range p.zoneEnt {
			p.zoneEnt[c] = T
		}
		if p.parked {
			continue
		}
		p.zPrev = -2
		active++
	}
	w.relinkParked()
	// Zone lists: each active player exactly once, in the list of its zone.
	linked := int32(0)
	for z, head := range w.zoneHead {
		prev := int32(-1)
		for x := head; x >= 0; x = w.pHot[x].zNext {
			p := &w.players[x]
			if !p.active || p.zPrev != -2 || w.pHot[x].zone != int32(z) {
				return nil, cpErr("zone %d: list reaches player %d, free, listed twice or of another zone", z, x)
			}
			p.zPrev = prev
			prev = x
			linked++
		}
	}
	if linked != active {
		return nil, cpErr("%d active players, %d in zone lists", active, linked)
	}

	// Chests, then loot, then the cross-links between them.
	opened := int32(0)
	for i := range w.chests {
		r := b[:cpChestSize]
		b = b[cpChestSize:]
		c := &w.chests[i]
		c.status = r[0]
		c.gen = cpLE.Uint32(r[4:])
		c.lootID = cpLE.Uint64(r[8:])
		c.openedBy = cpLE.Uint32(r[16:])
		c.openedTick = cpLE.Uint32(r[20:])
		c.changed = cpLE.Uint32(r[24:])
		c.loot = int32(cpLE.Uint32(r[28:]))
		c.dirty = T
		bad := r[1] != 0 || r[2] != 0 || r[3] != 0 || c.changed > T
		switch wire.ChestStatus(c.status) {
		case wire.ChestStatusClosed:
			bad = bad || c.lootID != 0 || c.openedBy != schema.NoPlayer || c.openedTick != 0 || c.loot != -1
		case wire.ChestStatusOpened:
			opened++
			bad = bad || c.openedTick == 0 || c.openedTick > T ||
				uint64(c.openedTick)+uint64(w.cfg.RespawnTicks) <= uint64(T) ||
				(c.openedBy >= uint32(np) && c.openedBy != schema.NoPlayer) || c.lootID != makeLootID(w.lootKey, int32(i), c.gen) ||
				c.loot < -1 || c.loot >= nl
		default:
			bad = true
		}
		if bad {
			return nil, cpErr("chest %d: inconsistent state", i)
		}
	}
	alive := int32(0)
	for i := range w.loots {
		r := b[:cpLootSize]
		b = b[cpLootSize:]
		l := &w.loots[i]
		l.gen = cpLE.Uint32(r[4:])
		l.nextFree = int32(cpLE.Uint32(r[28:]))
		l.dirty = T
		if r[0] == 0 {
			// -2: dead, not yet seen on the free list.
			l.chest = -2
			if !allZero(r[:4]) || !allZero(r[8:28]) || l.nextFree < -1 || l.nextFree >= nl {
				return nil, cpErr("loot slot %d: dead slot with data", i)
			}
			continue
		}
		alive++
		l.alive = true
		l.item = cpLE.Uint16(r[2:])
		l.id = cpLE.Uint64(r[8:])
		l.chest = int32(cpLE.Uint32(r[16:]))
		l.qty = cpLE.Uint16(r[20:])
		l.expires = cpLE.Uint32(r[24:])
		bad := r[0] != 1 || r[1] != 0 || r[22] != 0 || r[23] != 0 || l.nextFree != -1 ||
			l.chest < 0 || l.chest >= g.nchests
		if !bad {
			c := &w.chests[l.chest]
			item, qty := lootContents(w.cfg.Seed, l.chest, c.gen)
			bad = c.loot != int32(i) || c.lootID != l.id || c.status != uint8(wire.ChestStatusOpened) ||
				l.item != item || l.qty != qty ||
				uint64(l.expires) != uint64(c.openedTick)+uint64(w.cfg.LootTTLTicks) || l.expires <= T
		}
		if bad {
			return nil, cpErr("loot slot %d: inconsistent state", i)
		}
	}
	if alive != h.lootLive {
		return nil, cpErr("%d live loot, header says %d", alive, h.lootLive)
	}
	w.lootLive = alive
	for i := range w.chests {
		if s := w.chests[i].loot; s >= 0 && w.loots[s].chest != int32(i) {
			return nil, cpErr("chest %d: loot slot %d is not its loot", i, s)
		}
	}
	// The free list holds every dead slot exactly once.
	free := int32(0)
	for s := h.lootFree; s >= 0; s = w.loots[s].nextFree {
		if w.loots[s].chest != -2 {
			return nil, cpErr("loot free list reaches slot %d: live or listed twice", s)
		}
		w.loots[s].chest = -1
		free++
	}
	if free != nl-alive {
		return nil, cpErr("%d slots on the loot free list, %d dead", free, nl-alive)
	}
	w.lootFree = h.lootFree

	// Respawn queue: every opened chest exactly once, in opening order.
	seen := make([]uint64, (max(g.nchests, nl)+63)/64)
	last := uint32(0)
	for range h.resp {
		c := int32(cpLE.Uint32(b))
		b = b[4:]
		if c < 0 || c >= g.nchests || seen[c/64]&(1<<(c%64)) != 0 ||
			w.chests[c].status != uint8(wire.ChestStatusOpened) || w.chests[c].openedTick < last {
			return nil, cpErr("respawn queue: chest %d closed, listed twice or out of order", c)
		}
		seen[c/64] |= 1 << (c % 64)
		last = w.chests[c].openedTick
		w.respawnQ.push(opening{chest: c, by: w.chests[c].openedBy})
	}
	if h.resp != opened {
		return nil, cpErr("%d opened chests, %d in the respawn queue", opened, h.resp)
	}
	// Expiry queue: every live loot exactly once, in expiry order; entries
	// of loot picked up since (another slot generation, or dead) are kept
	// as they are, the engine skips them.
	clear(seen)
	last, live := 0, int32(0)
	for range h.exp {
		ref := lootRef{slot: int32(cpLE.Uint32(b)), gen: cpLE.Uint32(b[4:])}
		b = b[8:]
		if ref.slot < 0 || ref.slot >= nl {
			return nil, cpErr("expiry queue: loot slot %d out of range", ref.slot)
		}
		if l := &w.loots[ref.slot]; l.alive && l.gen == ref.gen {
			if seen[ref.slot/64]&(1<<(ref.slot%64)) != 0 || l.expires < last {
				return nil, cpErr("expiry queue: loot slot %d listed twice or out of order", ref.slot)
			}
			seen[ref.slot/64] |= 1 << (ref.slot % 64)
			last = l.expires
			live++
		}
		w.expireQ.push(ref)
	}
	if live != alive {
		return nil, cpErr("%d live loot, %d in the expiry queue", alive, live)
	}
	if err := w.loadEvents(b[:int(h.evs)*cpEventSize]); err != nil {
		return nil, err
	}
	for i := range w.players {
		w.restartLiveness(int32(i))
	}
	b = b[int(h.evs)*cpEventSize:]
	if len(b) != 0 {
		panic("engine: checkpoint size accounting") // checkpointSize disagrees with decode
	}

	// Derived state: hash terms, the public chest states, the zone index.
	w.sum = 0
	for i := range w.players {
		w.players[i].hash = w.hashPlayer(int32(i))
		w.sum += w.players[i].hash
	}
	for i := range w.chests {
		w.chests[i].hash = w.hashChest(int32(i))
		w.sum += w.chests[i].hash
		w.chestPub[i] = w.chestState(int32(i))
	}
	for i := range w.loots {
		w.loots[i].hash = w.hashLoot(int32(i))
		w.sum += w.loots[i].hash
	}
	if got := w.Hash(); got != h.hash {
		return nil, cpErr("state hash %#016x, stored %#016x", got, h.hash)
	}
	w.index()
	return w, nil
}

// relinkParked rebuilds the parked list of a loaded world: it is sorted by
// (parkedUntil, slot) by construction (resume.go), so the order is implied.
func (w *World) relinkParked() {
	var idx []int32
	for i := range w.players {
		if w.players[i].parked {
			idx = append(idx, int32(i))
		}
	}
	slices.SortStableFunc(idx, func(a, b int32) int {
		return cmp.Compare(w.players[a].parkedUntil, w.players[b].parkedUntil)
	})
	for _, i := range idx {
		until := w.players[i].parkedUntil
		w.park(i)
		w.players[i].parkedUntil = until
	}
}

// loadEvents decodes the event section into the delivery queues of their
// players, one event slot per distinct (loot id, kind), as fanOut shares
// them, so a load never needs more of the pools than the original used.
func (w *World) loadEvents(b []byte) error {
	type evKey struct {
		id   uint64
		kind uint8
	}
	slots := make(map[evKey]int32)
	prev := int32(-1)
	for len(b) > 0 {
		r := b[:cpEventSize]
		b = b[cpEventSize:]
		i := int32(cpLE.Uint32(r[0:]))
		ev := schema.LootEvent{
			LootID: cpLE.Uint64(r[4:]), Kind: r[12], Item: cpLE.Uint16(r[14:]), Qty: cpLE.Uint16(r[16:]),
			Chest: cpLE.Uint32(r[20:]), Player: cpLE.Uint32(r[24:]), Tick: cpLE.Uint32(r[28:]),
			Pos: schema.Vec2{X: int32(cpLE.Uint32(r[32:])), Y: int32(cpLE.Uint32(r[36:]))},
		}
		switch {
		case i < prev || i >= int32(len(w.players)) || (!w.players[i].active && !w.players[i].parked):
			return cpErr("event of player %d: out of order, or the slot is free", i)
		case r[13] != 0 || r[18] != 0 || r[19] != 0 || ev.Tick > w.tick || ev.Chest >= uint32(w.geo.nchests):
			return cpErr("event of player %d: bad fields", i)
		case ev.Kind > uint8(wire.LootEventKindExpired):
			return cpErr("event of player %d: kind %d", i, ev.Kind)
		}
		prev = i
		k := evKey{ev.LootID, ev.Kind}
		s, ok := slots[k]
		if !ok {
			if s = w.q.newEvent(&ev); s < 0 {
				return cpErr("more distinct events than EventPool %d", len(w.q.events))
			}
			slots[k] = s
		} else if w.q.events[s].ev != ev {
			return cpErr("event %#x kind %d: two different contents", ev.LootID, ev.Kind)
		}
		if !w.q.push(&w.players[i].evQ, s, true) {
			return cpErr("player %d: more than MaxPending events, or NodePool exhausted", i)
		}
		w.q.events[s].refs++
	}
	return nil
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

package engine

import (
	"cmp"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"slices"

	"github.com/treasured/treasured/engine/seqwin"
	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// Loading a checkpoint (the format is described in checkpoint.go).

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
// trailer excluded), section by section in file order, checking every
// invariant the engine relies on.
func (h *cpHeader) decode(b []byte) (*World, error) {
	w, err := New(h.cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	w.tick = h.tick
	if b, err = w.decodeZoneHeads(b); err != nil {
		return nil, err
	}
	if b, err = w.decodePlayers(b); err != nil {
		return nil, err
	}
	opened, b, err := w.decodeChests(b)
	if err != nil {
		return nil, err
	}
	if b, err = w.decodeLoots(b, h); err != nil {
		return nil, err
	}
	if b, err = w.decodeQueues(b, h, opened); err != nil {
		return nil, err
	}
	if err := w.loadEvents(b[:int(h.evs)*cpEventSize]); err != nil {
		return nil, err
	}
	for i := range w.players {
		w.restartLiveness(int32(i))
	}
	if len(b) != int(h.evs)*cpEventSize {
		panic("engine: checkpoint size accounting") // checkpointSize disagrees with decode
	}
	if got := w.hashAll(); got != h.hash {
		return nil, cpErr("state hash %#016x, stored %#016x", got, h.hash)
	}
	w.index()
	return w, nil
}

// decodeZoneHeads reads the head of every zone's player list.
func (w *World) decodeZoneHeads(b []byte) ([]byte, error) {
	np := int32(len(w.players))
	for z := range w.zoneHead {
		v := int32(cpLE.Uint32(b))
		b = b[4:]
		if v < -1 || v >= np {
			return nil, cpErr("zone %d: head %d out of range", z, v)
		}
		w.zoneHead[z] = v
	}
	return b, nil
}

// decodePlayers reads every player slot, then rebuilds the parked list and
// checks the zone lists against the players.
func (w *World) decodePlayers(b []byte) ([]byte, error) {
	b, active, err := decodeSection(b, len(w.players), cpPlayerSize, w.decodePlayer)
	if err != nil {
		return nil, err
	}
	w.relinkParked()
	return b, w.checkZoneLists(active)
}

// decodePlayer reads player slot i from its record r and reports whether
// the player is active. An active player's zPrev is left at -2, "not yet
// seen in a zone list", for checkZoneLists.
func (w *World) decodePlayer(i int32, r []byte) (bool, error) {
	T, g := w.tick, &w.geo
	p := &w.players[i]
	p.dirty, p.moveTick = T, T
	if r[0] == 0 {
		if !allZero(r[:4]) || !allZero(r[8:]) {
			return false, cpErr("player %d: free slot with data", i)
		}
		p.gen = cpLE.Uint32(r[4:])
		w.setActive(i, false)
		return false, nil
	}
	hot := &w.pHot[i]
	w.setActive(i, r[0] == cpActive)
	p.parked = r[0] == cpParked
	p.region = r[1]
	p.gen = cpLE.Uint32(r[4:])
	p.key = cpLE.Uint64(r[8:])
	hot.pos = schema.Vec2{X: int32(cpLE.Uint32(r[16:])), Y: int32(cpLE.Uint32(r[20:]))}
	hot.items = cpLE.Uint32(r[24:])
	hot.changed = cpLE.Uint32(r[28:])
	hot.zNext = int32(cpLE.Uint32(r[32:]))
	p.win = seqwin.Restore(cpLE.Uint32(r[36:]), cpLE.Uint64(r[40:]))
	sum := uint32(0)
	for k := range p.inv {
		p.inv[k] = cpLE.Uint32(r[48+4*k:])
		sum += p.inv[k]
	}
	p.parkedUntil = cpLE.Uint32(r[80:])
	switch {
	case (!p.active && !p.parked) || r[2] != 0 || r[3] != 0 || cpLE.Uint32(r[84:]) != 0:
		return false, cpErr("player %d: bad flags", i)
	case p.active && p.parkedUntil != 0:
		return false, cpErr("player %d: active with a grace deadline", i)
	case p.parked && (p.parkedUntil <= T || uint64(p.parkedUntil) > uint64(T)+uint64(w.cfg.GraceTicks) || hot.zNext != -1):
		return false, cpErr("player %d: parked until tick %d, not in (%d, %d] or in a zone list", i, p.parkedUntil, T, uint64(T)+uint64(w.cfg.GraceTicks))
	case int(p.region) >= w.cfg.Regions:
		return false, cpErr("player %d: region %d out of range", i, p.region)
	case hot.pos.X < 0 || hot.pos.Y < 0 || hot.pos.X >= g.w || hot.pos.Y >= g.h:
		return false, cpErr("player %d: position %v outside the region", i, hot.pos)
	case hot.changed > T:
		return false, cpErr("player %d: changed at tick %d > %d", i, hot.changed, T)
	case hot.zNext < -1 || hot.zNext >= int32(len(w.players)):
		return false, cpErr("player %d: zone link %d out of range", i, hot.zNext)
	case sum != hot.items:
		return false, cpErr("player %d: %d items but inventory sums to %d", i, hot.items, sum)
	}
	hot.zone = g.zoneOf(p.region, hot.pos)
	for c := range p.zoneEnt {
		p.zoneEnt[c] = T
	}
	if p.parked {
		return false, nil
	}
	p.zPrev = -2
	return true, nil
}

// checkZoneLists links zPrev along every zone list and checks that the lists
// hold each of the active players exactly once, in the list of its zone.
func (w *World) checkZoneLists(active int32) error {
	linked := int32(0)
	for z, head := range w.zoneHead {
		prev := int32(-1)
		for x := head; x >= 0; x = w.pHot[x].zNext {
			p := &w.players[x]
			if !p.active || p.zPrev != -2 || w.pHot[x].zone != int32(z) {
				return cpErr("zone %d: list reaches player %d, free, listed twice or of another zone", z, x)
			}
			p.zPrev = prev
			prev = x
			linked++
		}
	}
	if linked != active {
		return cpErr("%d active players, %d in zone lists", active, linked)
	}
	return nil
}

// decodeChests reads every chest and returns how many are opened.
func (w *World) decodeChests(b []byte) (int32, []byte, error) {
	T := w.tick
	np, nl := uint32(len(w.players)), int32(len(w.loots))
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
				(c.openedBy >= np && c.openedBy != schema.NoPlayer) || c.lootID != makeLootID(w.lootKey, int32(i), c.gen) ||
				c.loot < -1 || c.loot >= nl
		default:
			bad = true
		}
		if bad {
			return 0, nil, cpErr("chest %d: inconsistent state", i)
		}
	}
	return opened, b, nil
}

// decodeLoots reads every loot slot, then checks the cross-links between
// chests and loot and rebuilds the free list.
func (w *World) decodeLoots(b []byte, h *cpHeader) ([]byte, error) {
	b, alive, err := decodeSection(b, len(w.loots), cpLootSize, w.decodeLoot)
	if err != nil {
		return nil, err
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
	return b, w.linkLootFree(h.lootFree)
}

// decodeLoot reads loot slot i from its record r and reports whether it is
// alive. A dead slot's chest is left at -2, "not yet seen on the free list",
// for linkLootFree.
func (w *World) decodeLoot(i int32, r []byte) (bool, error) {
	T, nl := w.tick, int32(len(w.loots))
	l := &w.loots[i]
	l.gen = cpLE.Uint32(r[4:])
	l.nextFree = int32(cpLE.Uint32(r[28:]))
	l.dirty = T
	if r[0] == 0 {
		l.chest = -2
		if !allZero(r[:4]) || !allZero(r[8:28]) || l.nextFree < -1 || l.nextFree >= nl {
			return false, cpErr("loot slot %d: dead slot with data", i)
		}
		return false, nil
	}
	l.alive = true
	l.item = cpLE.Uint16(r[2:])
	l.id = cpLE.Uint64(r[8:])
	l.chest = int32(cpLE.Uint32(r[16:]))
	l.qty = cpLE.Uint16(r[20:])
	l.expires = cpLE.Uint32(r[24:])
	bad := r[0] != 1 || r[1] != 0 || r[22] != 0 || r[23] != 0 || l.nextFree != -1 ||
		l.chest < 0 || l.chest >= w.geo.nchests
	if !bad {
		c := &w.chests[l.chest]
		item, qty := lootContents(w.cfg.Seed, l.chest, c.gen)
		bad = c.loot != i || c.lootID != l.id || c.status != uint8(wire.ChestStatusOpened) ||
			l.item != item || l.qty != qty ||
			uint64(l.expires) != uint64(c.openedTick)+uint64(w.cfg.LootTTLTicks) || l.expires <= T
	}
	if bad {
		return false, cpErr("loot slot %d: inconsistent state", i)
	}
	return true, nil
}

// linkLootFree checks that the free list from head holds every dead slot
// exactly once, and makes it the world's.
func (w *World) linkLootFree(head int32) error {
	free := int32(0)
	for s := head; s >= 0; s = w.loots[s].nextFree {
		if w.loots[s].chest != -2 {
			return cpErr("loot free list reaches slot %d: live or listed twice", s)
		}
		w.loots[s].chest = -1
		free++
	}
	if dead := int32(len(w.loots)) - w.lootLive; free != dead {
		return cpErr("%d slots on the loot free list, %d dead", free, dead)
	}
	w.lootFree = head
	return nil
}

// decodeQueues reads the respawn queue (every one of the opened chests
// exactly once, in opening order) and the expiry queue (every live loot
// exactly once, in expiry order; entries of loot picked up since, another
// slot generation or dead, are kept as they are: the engine skips them).
func (w *World) decodeQueues(b []byte, h *cpHeader, opened int32) ([]byte, error) {
	nch, nl := w.geo.nchests, int32(len(w.loots))
	seen := make([]uint64, (max(nch, nl)+63)/64)
	last := uint32(0)
	for range h.resp {
		c := int32(cpLE.Uint32(b))
		b = b[4:]
		if c < 0 || c >= nch || seen[c/64]&(1<<(c%64)) != 0 ||
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
	if live != w.lootLive {
		return nil, cpErr("%d live loot, %d in the expiry queue", w.lootLive, live)
	}
	return b, nil
}

// hashAll recomputes the derived state of a loaded world (hash terms, the
// public chest states) and returns its state hash.
func (w *World) hashAll() uint64 {
	w.sum = 0
	for i := range w.players {
		w.players[i].hash = w.hashPlayer(int32(i))
		w.sum += w.players[i].hash
	}
	for i := range w.chests {
		w.chests[i].hash = w.hashChest(int32(i))
		w.sum += w.chests[i].hash
		w.publishChest(int32(i))
	}
	for i := range w.loots {
		w.loots[i].hash = w.hashLoot(int32(i))
		w.sum += w.loots[i].hash
	}
	return w.Hash()
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
// players, one event slot per distinct (loot id, kind), as queueEvents shares
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

// decodeSection hands each of the n records of size bytes at the start of b
// to decode, and returns the rest of b and how many records decode counted
// (active players, live loot). The caller has checked b's length.
func decodeSection(b []byte, n, size int, decode func(i int32, r []byte) (bool, error)) ([]byte, int32, error) {
	counted := int32(0)
	for i := range n {
		yes, err := decode(int32(i), b[:size])
		if err != nil {
			return nil, 0, err
		}
		if yes {
			counted++
		}
		b = b[size:]
	}
	return b, counted, nil
}

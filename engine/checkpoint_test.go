package engine

import (
	"bytes"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// checkpointConfig: 2 regions of 6x6 zones of 10 m, 3 chests per zone, 160
// slots (chaos keeps about half active), fast respawn, so that at any tick
// chests are open, loot lies around and both queues are non-empty.
func checkpointConfig() Config {
	c := DefaultConfig()
	c.Seed = 0xc4ec
	c.Regions, c.ZonesX, c.ZonesY, c.ZoneSize = 2, 6, 6, 10_000
	c.ChestsPerZone = 3
	c.MaxPlayers = 160
	c.RespawnTicks, c.LootTTLTicks = 120, 60
	c.MaxPending = 64
	c.EventPool = 4096
	return c
}

// tinyCheckpointConfig is the fuzz target's world: a checkpoint of it is
// about 1.5 KB.
func tinyCheckpointConfig() Config {
	c := DefaultConfig()
	c.Seed = 0x71
	c.Regions, c.ZonesX, c.ZonesY, c.ZoneSize = 1, 3, 3, 4_000
	c.ChestsPerZone = 2
	c.MaxPlayers = 8
	c.RespawnTicks, c.LootTTLTicks = 30, 15
	c.ReachMM = 4_000
	c.MaxPending = 16
	c.NodePool, c.EventPool = 128, 64
	return c
}

// runTiny drives a tiny world with chaos for ticks ticks, building every
// snapshot, and returns it.
func runTiny(t testing.TB, ticks int, seed uint64) *World {
	t.Helper()
	w, err := New(tinyCheckpointConfig())
	if err != nil {
		t.Fatal(err)
	}
	gen := newChaos(w, w.cfg.MaxPlayers, seed)
	sc := NewScratch()
	for range ticks {
		w.Step(gen.records())
		for _, p := range w.ActivePlayers(nil) {
			w.Snapshot(p, sc)
		}
	}
	return w
}

// TestCheckpointReplay: chaos (random joins, leaves, honest and hostile
// inputs) for 1,500 ticks; at tick 700 the world is checkpointed and loaded.
// From then on the original, the loaded world fed the same raw records, and
// a second loaded world fed the original's ordered records (the journal)
// have the same hash at every tick; the loaded world's snapshots for every
// session that joined after the load are byte-identical to the original's;
// the checkpoints of the original and of the loaded world stay identical.
func TestCheckpointReplay(t *testing.T) {
	checkCheckpointReplay(t, checkpointConfig(), 0)
}

// TestCheckpointReplayWithResume is TestCheckpointReplay with a grace
// period and few keys: the checkpoint holds parked players and their
// undelivered events, and parked players of the checkpoint resume (or
// expire) after the load exactly as in the original.
func TestCheckpointReplayWithResume(t *testing.T) {
	cfg := checkpointConfig()
	cfg.GraceTicks = 200
	st := checkCheckpointReplay(t, cfg, 60)
	if st.Resumes == 0 || st.ParkedExpired == 0 {
		t.Fatalf("resumes %d, expired %d: the parked paths were not taken", st.Resumes, st.ParkedExpired)
	}
}

func checkCheckpointReplay(t *testing.T, cfg Config, keys uint64) Stats {
	const total, at = 1500, 700
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	gen := newChaos(a, cfg.MaxPlayers, 0xc0ffee)
	gen.keys = keys
	scA, scB := NewScratch(), NewScratch()
	var b, j *World
	loadGen := map[int32]uint32{} // sessions active at the load
	compared, preLoad := 0, 0
	var ps []int32
	for tick := uint32(1); tick <= total; tick++ {
		recs := gen.records()
		a.Step(recs)
		if b != nil {
			b.Step(recs)
			j.Step(a.LastOrdered())
			if h := a.Hash(); b.Hash() != h || j.Hash() != h {
				t.Fatalf("tick %d: hash %x, loaded %x, loaded+journal %x", tick, h, b.Hash(), j.Hash())
			}
		}
		for _, w := range []*World{a, b, j} {
			checkActiveBits(t, w, tick)
		}
		ps = a.ActivePlayers(ps[:0])
		for _, p := range ps {
			sa := a.Snapshot(p, scA)
			if b == nil {
				continue
			}
			sb := b.Snapshot(p, scB)
			if sa == nil || sb == nil {
				t.Fatalf("tick %d: player %d: no snapshot (%v, %v)", tick, p, sa == nil, sb == nil)
			}
			if g, ok := loadGen[p]; ok && g == a.players[p].gen {
				preLoad++ // delivery state reset by the load: not comparable
				continue
			}
			if !bytes.Equal(sa, sb) {
				t.Fatalf("tick %d: snapshots of player %d (joined after the load) differ", tick, p)
			}
			compared++
		}

		if tick == at {
			if a.respawnQ.n == 0 || a.expireQ.n == 0 || a.lootLive == 0 || a.q.nodesUsed == 0 ||
				(cfg.GraceTicks > 0 && a.NumParked() == 0) {
				t.Fatalf("checkpoint of a boring world: respawn %d expire %d loot %d nodes %d parked %d",
					a.respawnQ.n, a.expireQ.n, a.lootLive, a.q.nodesUsed, a.NumParked())
			}
			var buf bytes.Buffer
			if err := a.WriteCheckpoint(&buf); err != nil {
				t.Fatal(err)
			}
			img := buf.Bytes()
			if len(img) != a.CheckpointSize() {
				t.Fatalf("checkpoint of %d bytes, CheckpointSize %d", len(img), a.CheckpointSize())
			}
			if b, err = LoadCheckpoint(bytes.NewReader(img)); err != nil {
				t.Fatal(err)
			}
			if j, err = LoadCheckpoint(bytes.NewReader(img)); err != nil {
				t.Fatal(err)
			}
			if b.Tick() != at || b.Hash() != a.Hash() || b.fullHash() != a.Hash() || b.Config() != a.Config() {
				t.Fatalf("loaded tick %d hash %x full %x, want %d %x", b.Tick(), b.Hash(), b.fullHash(), at, a.Hash())
			}
			if again := b.AppendCheckpoint(nil); !bytes.Equal(again, img) {
				t.Fatal("the loaded world's checkpoint differs from the file it was loaded from")
			}
			if b.Stats().LootLive != a.Stats().LootLive {
				t.Fatalf("LootLive %d, want %d", b.Stats().LootLive, a.Stats().LootLive)
			}
			for _, p := range ps {
				loadGen[p] = a.players[p].gen
				if pa, _ := a.Player(p); pa != must(b.Player(p)) {
					t.Fatalf("player %d: %+v, loaded %+v", p, pa, must(b.Player(p)))
				}
			}
			for c := range uint32(a.NumChests()) {
				if must(a.Chest(c)) != must(b.Chest(c)) {
					t.Fatalf("chest %d differs", c)
				}
			}
			t.Logf("checkpoint at tick %d: %d bytes, %d players, %d open chests, %d loot, %d queued deliveries",
				at, len(img), len(ps), a.respawnQ.n, a.lootLive, a.q.nodesUsed)
		}
		if b != nil && tick%100 == 0 {
			if !bytes.Equal(a.AppendCheckpoint(nil), b.AppendCheckpoint(nil)) {
				t.Fatalf("tick %d: checkpoints of the original and the loaded world differ", tick)
			}
			if f := b.fullHash(); f != b.Hash() {
				t.Fatalf("tick %d: loaded world's incremental hash %x != full %x", tick, b.Hash(), f)
			}
		}
	}
	st := a.Stats()
	t.Logf("snapshots compared byte for byte: %d (and %d of pre-load sessions built); %+v", compared, preLoad, st)
	if compared < 10_000 || preLoad == 0 {
		t.Fatalf("only %d snapshots compared, %d pre-load", compared, preLoad)
	}
	if st.EventOverflow != 0 || st.GoneOverflow != 0 {
		t.Fatalf("delivery pools overflowed (%d, %d): the snapshot comparison assumes they do not", st.EventOverflow, st.GoneOverflow)
	}
	for name, v := range map[string]uint64{
		"joins": st.Joins, "leaves": st.Leaves, "generated": st.LootGenerated, "picked": st.LootPickedUp,
		"expired": st.LootExpired, "respawned": st.ChestsRespawned, "zones": st.ZoneChanges,
	} {
		if v == 0 {
			t.Errorf("path %s never taken", name)
		}
	}
	return st
}

// checkActiveBits checks ActivePlayers, which walks activeBits, against
// every slot's own active field: joins, leaves, parks, resumes in place and
// in another slot, and checkpoint loads all keep the two equal.
func checkActiveBits(t *testing.T, w *World, tick uint32) {
	t.Helper()
	if w == nil {
		return
	}
	want := activeByScan(w, nil)
	if got := w.ActivePlayers(nil); !slices.Equal(got, want) {
		t.Fatalf("tick %d: ActivePlayers %v, active slots %v", tick, got, want)
	}
}

// activeByScan is ActivePlayers the way it was before activeBits: a look at
// every slot's own active field.
func activeByScan(w *World, dst []int32) []int32 {
	for i := range w.players {
		if w.players[i].active {
			dst = append(dst, int32(i))
		}
	}
	return dst
}

func must[T any](v T, ok bool) T {
	if !ok {
		panic("must")
	}
	return v
}

// refixCheckpoint recomputes the trailer of a checkpoint image.
func refixCheckpoint(img []byte) {
	n := len(img) - 4
	cpLE.PutUint32(img[n:], crc32.Checksum(img[:n], crc32.MakeTable(crc32.Castagnoli)))
}

// TestCheckpointCorruption: every single flipped byte, every truncation and
// any trailing byte is rejected as ErrCheckpoint.
func TestCheckpointCorruption(t *testing.T) {
	w := runTiny(t, 100, 3)
	img := w.AppendCheckpoint(nil)
	if _, err := LoadCheckpoint(bytes.NewReader(img)); err != nil {
		t.Fatal(err)
	}
	reject := func(what string, b []byte) {
		t.Helper()
		if _, err := LoadCheckpoint(bytes.NewReader(b)); !errors.Is(err, ErrCheckpoint) {
			t.Fatalf("%s: error %v, want ErrCheckpoint", what, err)
		}
	}
	bad := slices.Clone(img)
	for i := range bad {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			bad[i] ^= x
			reject("flip", bad)
			bad[i] ^= x
		}
	}
	for n := range len(img) {
		reject("truncated", img[:n])
	}
	reject("trailing byte", append(slices.Clone(img), 0))
	reject("doubled", append(slices.Clone(img), img...))
}

// TestCheckpointInconsistent: edits with a valid checksum, each breaking one
// rule, are rejected (never panic, never load).
func TestCheckpointInconsistent(t *testing.T) {
	var w *World
	// A tiny world with an open chest, live loot and an active player.
	for seed := uint64(1); ; seed++ {
		w = runTiny(t, 50, seed)
		if w.lootLive > 0 && w.respawnQ.n > 1 && len(w.ActivePlayers(nil)) > 1 && w.lootFree >= 0 {
			break
		}
		if seed > 50 {
			t.Fatal("no interesting tiny world")
		}
	}
	img := w.AppendCheckpoint(nil)
	g := &w.geo
	playerOff := func(i int32) int { return checkpointHeaderSize + int(g.zones)*4 + int(i)*cpPlayerSize }
	chestOff := func(i int32) int { return playerOff(int32(w.cfg.MaxPlayers)) + int(i)*cpChestSize }
	lootOff := func(i int32) int { return chestOff(g.nchests) + int(i)*cpLootSize }
	respOff := lootOff(int32(w.cfg.MaxLoot))

	act := w.ActivePlayers(nil)
	p0, p1 := act[0], act[1]
	free := int32(-1)
	for i := range w.players {
		if !w.players[i].active {
			free = int32(i)
			break
		}
	}
	var openC, liveL int32 = -1, -1
	for i := range w.loots {
		if w.loots[i].alive {
			liveL, openC = int32(i), w.loots[i].chest
			break
		}
	}
	closedC := int32(-1)
	for i := range w.chests {
		if w.chests[i].status == uint8(wire.ChestStatusClosed) {
			closedC = int32(i)
			break
		}
	}
	if free < 0 || closedC < 0 {
		t.Fatal("tiny world without a free slot or a closed chest")
	}
	u32 := func(off int, v uint32) func(b []byte) { return func(b []byte) { cpLE.PutUint32(b[off:], v) } }
	u64 := func(off int, v uint64) func(b []byte) { return func(b []byte) { cpLE.PutUint64(b[off:], v) } }
	for _, tc := range []struct {
		name string
		edit func(b []byte)
	}{
		{"magic", func(b []byte) { b[0] = 'X' }},
		{"version", func(b []byte) { cpLE.PutUint16(b[8:], checkpointVersion+1) }},
		{"header size", func(b []byte) { cpLE.PutUint16(b[10:], checkpointHeaderSize+1) }},
		{"hash", u64(16, w.Hash()+1)},
		{"tick later", u32(12, w.tick+1)},
		{"tick earlier", u32(12, w.tick-20)},
		{"invalid config", u64(24+8, 0)},                    // Regions 0
		{"config not normalized", u64(24+52, 0)},            // MaxLoot 0
		{"config changed", u64(24, w.cfg.Seed+1)},           // chests elsewhere
		{"huge config", u64(24+44, 1<<22)},                  // MaxPlayers: file too short
		{"int overflow", u64(24+44, 1<<40)},                 // MaxPlayers beyond int32 range
		{"loot free head", u32(132, uint32(w.cfg.MaxLoot))}, // out of range
		{"loot live count", u32(136, uint32(w.lootLive+1))},
		{"respawn length", u32(140, uint32(g.nchests+1))},
		{"zone head", u32(checkpointHeaderSize, uint32(w.cfg.MaxPlayers))},
		{"free slot with data", func(b []byte) { b[playerOff(free)+8] = 1 }},
		{"player flag 3", func(b []byte) { b[playerOff(p0)] = 3 }},
		{"active player parked", func(b []byte) { b[playerOff(p0)] = cpParked }},
		{"reserved", func(b []byte) { b[playerOff(p0)+2] = 1 }},
		{"region", func(b []byte) { b[playerOff(p0)+1] = 1 }},
		{"position", u32(playerOff(p0)+16, uint32(g.w))},
		{"items", u32(playerOff(p0)+24, w.pHot[p0].items+1)},
		{"changed in the future", u32(playerOff(p0)+28, w.tick+1)},
		{"zone list cycle", u32(playerOff(p0)+32, uint32(p0))},
		{"zone list to a free slot", u32(playerOff(p0)+32, uint32(free))},
		{"player left out of zone lists", func(b []byte) {
			z := w.pHot[p1].zone
			for x := w.zoneHead[z]; x >= 0; x = w.pHot[x].zNext {
				if w.pHot[x].zNext == p1 {
					cpLE.PutUint32(b[playerOff(x)+32:], uint32(w.pHot[p1].zNext))
					return
				}
			}
			cpLE.PutUint32(b[checkpointHeaderSize+4*int(z):], uint32(w.pHot[p1].zNext))
		}},
		{"chest status", func(b []byte) { b[chestOff(closedC)] = 7 }},
		{"closed chest with loot id", u64(chestOff(closedC)+8, 1)},
		{"opened chest with a wrong loot id", u64(chestOff(openC)+8, w.chests[openC].lootID+1)},
		{"opened chest due to respawn", u32(chestOff(openC)+20, w.tick-w.cfg.RespawnTicks)},
		{"chest loot slot", u32(chestOff(openC)+28, uint32(w.cfg.MaxLoot))},
		{"chest loses its loot", u32(chestOff(openC)+28, ^uint32(0))},
		{"loot item", func(b []byte) { b[lootOff(liveL)+2] ^= 1 }},
		{"loot expiry", u32(lootOff(liveL)+24, w.loots[liveL].expires+1)},
		{"loot chest", u32(lootOff(liveL)+16, uint32(closedC))},
		{"live loot on the free list", u32(lootOff(liveL)+28, 0)},
		{"loot dies", func(b []byte) { clear(b[lootOff(liveL) : lootOff(liveL)+cpLootSize]) }},
		{"free list cycle", u32(lootOff(w.lootFree)+28, uint32(w.lootFree))},
		{"respawn queue duplicate", func(b []byte) { copy(b[respOff+4:respOff+8], b[respOff:respOff+4]) }},
		{"respawn queue closed chest", u32(respOff, uint32(closedC))},
		{"respawn queue order", func(b []byte) {
			x, y := slices.Clone(b[respOff:respOff+4]), slices.Clone(b[respOff+4:respOff+8])
			if w.chests[w.respawnQ.ref(0).chest].openedTick == w.chests[w.respawnQ.ref(1).chest].openedTick {
				cpLE.PutUint32(b[respOff:], ^uint32(0)) // same tick: out of range instead
				return
			}
			copy(b[respOff:], y)
			copy(b[respOff+4:], x)
		}},
		{"expiry queue slot", u32(respOff+4*w.respawnQ.n, uint32(w.cfg.MaxLoot))},
	} {
		b := slices.Clone(img)
		tc.edit(b)
		refixCheckpoint(b)
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("%s: panic %v", tc.name, r)
				}
			}()
			_, err := LoadCheckpoint(bytes.NewReader(b))
			if !errors.Is(err, ErrCheckpoint) {
				t.Errorf("%s: error %v, want ErrCheckpoint", tc.name, err)
			}
			t.Logf("%s: %v", tc.name, err)
		}()
	}
}

// failReader fails after its data.
type failReader struct{ data []byte }

func (f *failReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, errors.New("disk on fire")
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// TestCheckpointFile: the atomic file helpers round-trip, replace an
// existing file and leave no temporary behind; a reader's own error is not
// reported as a bad checkpoint.
func TestCheckpointFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "world.ckpt")
	w := runTiny(t, 40, 9)
	for range 2 { // the second write replaces the first
		if err := w.WriteCheckpointFile(path); err != nil {
			t.Fatal(err)
		}
		got, err := LoadCheckpointFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if got.Hash() != w.Hash() || got.Tick() != w.Tick() {
			t.Fatal("file round trip changed the world")
		}
		w.Step(nil)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 {
		t.Fatalf("%d entries in the directory, want 1", len(ents))
	}
	if err := w.WriteCheckpointFile(filepath.Join(dir, "no", "such", "dir")); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
	if _, err := LoadCheckpointFile(filepath.Join(dir, "nope")); err == nil || errors.Is(err, ErrCheckpoint) {
		t.Fatalf("missing file: %v", err)
	}
	img := w.AppendCheckpoint(nil)
	for _, n := range []int{10, len(img) - 10} {
		if _, err := LoadCheckpoint(&failReader{data: img[:n]}); err == nil || errors.Is(err, ErrCheckpoint) {
			t.Fatalf("failing reader after %d bytes: %v", n, err)
		}
	}
	// AppendCheckpoint appends, and reuses the room it is given.
	buf := make([]byte, 3, 3+len(img))
	out := w.AppendCheckpoint(buf)
	if !bytes.Equal(out[3:], img) || &out[0] != &buf[0] {
		t.Fatal("AppendCheckpoint did not append in place")
	}
	if n := testing.AllocsPerRun(10, func() { out = w.AppendCheckpoint(out[:0]) }); n != 0 {
		t.Fatalf("AppendCheckpoint into a big enough buffer: %v allocations", n)
	}
}

// FuzzLoadCheckpoint: any bytes. LoadCheckpoint never panics, rejects with
// ErrCheckpoint, and whatever it accepts re-encodes to exactly its input
// (the format is canonical) and is a world the engine can run: Steps
// through a whole respawn period, with a join and snapshots, keep the
// incremental hash equal to a full recomputation. Each input is also tried
// with its trailer checksum fixed, so the fuzzer gets past the CRC to the
// consistency checks.
//
//	go test -run '^$' -fuzz FuzzLoadCheckpoint -fuzztime 60s ./engine
func FuzzLoadCheckpoint(f *testing.F) {
	for i, ticks := range []int{0, 25, 70} {
		w := runTiny(f, ticks, uint64(i)+1)
		f.Add(w.AppendCheckpoint(nil))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkLoad(t, data)
		if len(data) < checkpointHeaderSize+4 {
			return
		}
		// Only small pools with a fixed CRC: they are the one allocation
		// the file's bytes do not pay for.
		if c, err := ParseConfig(data[24 : 24+ConfigSize]); err != nil || c.NodePool > 1<<12 || c.EventPool > 1<<12 {
			return
		}
		fixed := slices.Clone(data)
		refixCheckpoint(fixed)
		checkLoad(t, fixed)
	})
}

func checkLoad(t *testing.T, data []byte) {
	w, err := LoadCheckpoint(bytes.NewReader(data))
	if err != nil {
		if !errors.Is(err, ErrCheckpoint) {
			t.Fatalf("error %v is not ErrCheckpoint", err)
		}
		return
	}
	if !bytes.Equal(w.AppendCheckpoint(nil), data) {
		t.Fatal("accepted checkpoint does not re-encode to its bytes")
	}
	if w.fullHash() != w.Hash() {
		t.Fatal("loaded hash differs from a full recomputation")
	}
	sc := NewScratch()
	join := []Record{{Kind: RecJoin, Player: 0, Gen: w.players[0].gen + 1, Key: 5}}
	for k := range min(w.cfg.RespawnTicks+1, 64) {
		recs := join
		if k > 0 {
			r := Record{Kind: RecInput, Player: 0, Gen: join[0].Gen, AckTick: w.tick, N: 1}
			r.Actions[0] = schema.Action{Seq: uint32(k), Kind: uint8(wire.ActionKindOpenChest), Target: uint64(k) % uint64(max(w.geo.nchests, 1))}
			recs = []Record{r}
		}
		w.Step(recs)
		for _, p := range w.ActivePlayers(nil) {
			w.Snapshot(p, sc)
		}
	}
	if w.fullHash() != w.Hash() {
		t.Fatal("incremental hash differs from a full recomputation after stepping")
	}
}

// BenchmarkCheckpoint: the default world (16,384 player slots, 12,288
// chests) with 4,200 players of the standard mix, warmed (bench_test.go).
//
//	go test -run '^$' -bench Checkpoint -benchtime 50x ./engine
//
// append: encoding into a reused buffer, what the tick goroutine would pay
// between two Steps; write: WriteCheckpoint to io.Discard (allocates the
// buffer); file: WriteCheckpointFile (temp file, fsync, rename, dir fsync);
// load: LoadCheckpoint with every check.
func BenchmarkCheckpoint(b *testing.B) {
	bw := getBenchWorld(b, 4200)
	w := bw.w
	img := w.AppendCheckpoint(nil)
	b.Run("append", func(b *testing.B) {
		buf := slices.Clone(img)
		b.SetBytes(int64(len(img)))
		b.ReportAllocs()
		for b.Loop() {
			buf = w.AppendCheckpoint(buf[:0])
		}
		b.ReportMetric(float64(len(buf)), "bytes/ckpt")
	})
	b.Run("write", func(b *testing.B) {
		b.SetBytes(int64(len(img)))
		b.ReportAllocs()
		for b.Loop() {
			if err := w.WriteCheckpoint(io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("file", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), "ckpt")
		b.SetBytes(int64(len(img)))
		for b.Loop() {
			if err := w.WriteCheckpointFile(path); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("load", func(b *testing.B) {
		b.SetBytes(int64(len(img)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := LoadCheckpoint(bytes.NewReader(img)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestCheckpointDuringSnapshots: AppendCheckpoint may run while fan-out
// workers build the tick's snapshots (run with -race), and loading what it
// wrote gives the world's hash.
func TestCheckpointDuringSnapshots(t *testing.T) {
	w, err := New(checkpointConfig())
	if err != nil {
		t.Fatal(err)
	}
	gen := newChaos(w, w.cfg.MaxPlayers, 5)
	const workers = 2
	sc := []*Scratch{NewScratch(), NewScratch()}
	var buf []byte
	for range 60 {
		w.Step(gen.records())
		ps := w.ActivePlayers(nil)
		done := make(chan struct{})
		for k := range workers {
			go func() {
				defer func() { done <- struct{}{} }()
				for i := k; i < len(ps); i += workers {
					w.Snapshot(ps[i], sc[k])
				}
			}()
		}
		buf = w.AppendCheckpoint(buf[:0])
		for range workers {
			<-done
		}
		got, err := LoadCheckpoint(bytes.NewReader(buf))
		if err != nil || got.Hash() != w.Hash() {
			t.Fatalf("tick %d: %v", w.Tick(), err)
		}
	}
}

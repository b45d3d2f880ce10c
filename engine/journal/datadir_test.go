package journal

import (
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/treasured/treasured/engine"
)

// dirConfig is testConfig with a grace period, as a server runs it.
func dirConfig() engine.Config {
	c := testConfig()
	c.GraceTicks = 200
	return c
}

// runDir opens dir, plays ticks ticks of the random driver, checkpointing
// every `every` ticks, and stops without a clean shutdown of the game (Close
// only waits for the checkpoint goroutine and closes the files: what
// write(2) handed to the kernel is what a kill -9 leaves too). It returns
// the world's hash and tick at the end.
func runDir(t *testing.T, dir string, cfg engine.Config, every uint32, ticks int, seed uint64) (uint64, uint32, Recovery) {
	t.Helper()
	d, rec, err := Open(dir, cfg, DirOptions{CheckpointEvery: every, Keep: 2})
	if err != nil {
		t.Fatal(err)
	}
	w := d.World()
	dr := newDriver(w, seed)
	for range ticks {
		w.Step(dr.records())
		if err := d.Append(w.Tick(), w.LastOrdered(), w.Hash()); err != nil {
			t.Fatal(err)
		}
		if w.Tick()%every == 0 {
			waitCheckpoint(t, d, w.Tick())
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if d.Stats().CheckpointErrors.Load() != 0 {
		t.Fatalf("%d checkpoint errors", d.Stats().CheckpointErrors.Load())
	}
	return w.Hash(), w.Tick(), rec
}

// waitCheckpoint waits until the checkpoint of tick is durable: a test
// plays ticks far faster than 20 Hz, and a checkpoint still being written
// makes the next one be skipped.
func waitCheckpoint(t *testing.T, d *Dir, tick uint32) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for d.Stats().LastCheckpoint.Load() != tick {
		if time.Now().After(deadline) {
			t.Fatalf("checkpoint of tick %d not written within a minute", tick)
		}
		time.Sleep(time.Millisecond)
	}
}

// recoverDir opens dir again and returns the recovered world and report.
func recoverDir(t *testing.T, dir string, cfg engine.Config) (*engine.World, Recovery) {
	t.Helper()
	d, rec, err := Open(dir, cfg, DirOptions{CheckpointEvery: 50, Keep: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	return d.World(), rec
}

// checkRecovered opens dir as a restarted server does and checks that it
// arrives at the crashed run's last written tick, and (by an independent
// replay of the directory) at its state hash there.
func checkRecovered(t *testing.T, dir string, cfg engine.Config, wantHash uint64, wantTick uint32) Recovery {
	t.Helper()
	d, rec, err := Open(dir, cfg, DirOptions{CheckpointEvery: 50, Keep: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	w := d.World()
	switch {
	case rec.Ended > 0 && w.Tick() != wantTick+1:
		t.Fatalf("recovered at tick %d after ending %d sessions, want %d+1", w.Tick(), rec.Ended, wantTick)
	case rec.Ended == 0 && w.Tick() != wantTick:
		t.Fatalf("recovered at tick %d, want %d", w.Tick(), wantTick)
	}
	if got := replayedHash(t, dir, cfg, wantTick); got != wantHash {
		t.Fatalf("recovered hash at tick %d %#x, the crashed run had %#x", wantTick, got, wantHash)
	}
	return rec
}

// replayedHash replays dir's newest checkpoint and segments up to tick and
// returns the hash there, the way treasure-replay does.
func replayedHash(t *testing.T, dir string, cfg engine.Config, tick uint32) uint64 {
	t.Helper()
	var h uint64
	_, err := ReplayDir(dir, DirReplay{OnTick: func(_ *engine.World, tk uint32, want, got uint64) bool {
		if tk == tick {
			h = got
		}
		return tk < tick
	}})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestDirRecovers: a new directory starts fresh at tick 0; after a crash the
// next Open loads the newest checkpoint, replays the segments after it and
// arrives at exactly the crashed run's state (hash) and tick, ends the
// crashed run's sessions in one journaled tick (parking the players), and
// old checkpoints and segments are pruned to the Keep newest.
func TestDirRecovers(t *testing.T) {
	dir := t.TempDir()
	cfg := dirConfig()
	hash, tick, rec := runDir(t, dir, cfg, 50, 237, 1)
	if !rec.Fresh || tick != 237 {
		t.Fatalf("first open: %+v, tick %d", rec, tick)
	}
	files, _ := listDir(dir)
	if len(files.ckpts) != 2 || files.ckpts[0] != 200 || files.segs[0] != 150 {
		t.Fatalf("after pruning: checkpoints %v segments %v, want [200 150] and segments from 150", files.ckpts, files.segs)
	}
	rec = checkRecovered(t, dir, cfg, hash, tick)
	if rec.Fresh || rec.CheckpointTick != 200 || rec.Replayed != 37 || rec.Ended == 0 {
		t.Fatalf("recovery %+v: want checkpoint 200, 37 frames replayed, sessions ended", rec)
	}
	w, _ := recoverDir(t, dir, cfg)
	if w.NumParked() == 0 || len(w.ActivePlayers(nil)) != 0 {
		t.Fatalf("after recovery: %d parked, %d active; the crashed run's players should be parked", w.NumParked(), len(w.ActivePlayers(nil)))
	}
}

// TestDirTornTail: a crash in the middle of a write leaves half a frame at
// the end of the last segment. Open cuts it off (and says so) and
// recovers everything before it.
func TestDirTornTail(t *testing.T) {
	dir := t.TempDir()
	cfg := dirConfig()
	hash, tick, _ := runDir(t, dir, cfg, 50, 120, 2)
	files, _ := listDir(dir)
	seg := filepath.Join(dir, SegmentName(files.segs[len(files.segs)-1]))
	st, _ := os.Stat(seg)
	f, err := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte{200, 0, 0, 0, byte(tick + 1), 0, 0, 0, 7}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	rec := checkRecovered(t, dir, cfg, hash, tick)
	if rec.Truncated != seg || rec.TruncatedAt != st.Size() {
		t.Fatalf("recovery %+v: want %s cut back to %d bytes", rec, seg, st.Size())
	}
	if st2, _ := os.Stat(seg); st2.Size() != st.Size() {
		t.Fatalf("torn segment is %d bytes, want %d", st2.Size(), st.Size())
	}
}

// TestDirCorruptCheckpoint: a damaged newest checkpoint is skipped (and
// reported); recovery starts from the one before and replays further.
func TestDirCorruptCheckpoint(t *testing.T) {
	dir := t.TempDir()
	cfg := dirConfig()
	hash, tick, _ := runDir(t, dir, cfg, 50, 130, 3)
	newest := filepath.Join(dir, CheckpointName(100))
	b, err := os.ReadFile(newest)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(newest, b, 0o644); err != nil {
		t.Fatal(err)
	}
	rec := checkRecovered(t, dir, cfg, hash, tick)
	if rec.CheckpointTick != 50 || len(rec.Skipped) != 1 || !strings.Contains(rec.Skipped[0], "checksum") {
		t.Fatalf("recovery %+v: want checkpoint 50 after skipping the corrupt 100", rec)
	}
}

// dirState is every file's name and content hash: "files untouched".
func dirState(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][32]byte{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = sha256.Sum256(b)
	}
	return m
}

// TestDirRefuses: data of another world (seed, regions, max players, tick
// rate), a future format version (segment or checkpoint), a gap between
// segments and a broken hash chain are refused with a message that names
// the problem, and the directory is left exactly as it was.
func TestDirRefuses(t *testing.T) {
	cfg := dirConfig()
	base := t.TempDir()
	runDir(t, base, cfg, 40, 130, 4) // checkpoints 120, 80; segments 80, 120
	copyDir := func(t *testing.T) string {
		dir := t.TempDir()
		for name := range dirState(t, base) {
			b, _ := os.ReadFile(filepath.Join(base, name))
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	edit := func(name string, f func(b []byte)) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			p := filepath.Join(dir, name)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			f(b)
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	other := func(f func(c *engine.Config)) engine.Config {
		c := cfg
		f(&c)
		return c
	}
	for _, tc := range []struct {
		name  string
		cfg   engine.Config
		setup func(t *testing.T, dir string)
		want  string
	}{
		{"seed", other(func(c *engine.Config) { c.Seed++ }), nil, "another world"},
		{"regions", other(func(c *engine.Config) { c.Regions = 3 }), nil, "another world"},
		{"max players", other(func(c *engine.Config) { c.MaxPlayers = 64 }), nil, "another world"},
		{"tick rate", other(func(c *engine.Config) { c.TickHz = 30 }), nil, "another world"},
		{"future segment", cfg, edit(SegmentName(120), func(b []byte) { b[8] = byte(Version + 1) }), "format version"},
		{"future checkpoint", cfg, edit(CheckpointName(120), func(b []byte) { b[8] = byte(engine.CheckpointVersion + 1) }), "checkpoint format version"},
		{"gap", cfg, func(t *testing.T, dir string) {
			// Lose segment 80 and checkpoint 120: from checkpoint 80 the
			// journal of ticks 81..120 is missing.
			os.Remove(filepath.Join(dir, SegmentName(80)))
			os.Remove(filepath.Join(dir, CheckpointName(120)))
		}, "gap: no journal segment covers tick 80"},
		{"gap between segments", cfg, func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, CheckpointName(120)))
			b, _ := os.ReadFile(filepath.Join(dir, SegmentName(120)))
			os.Remove(filepath.Join(dir, SegmentName(120)))
			// The same segment claimed to start later: a hole of 5 ticks.
			le.PutUint32(b[12:], 125)
			le.PutUint32(b[HeaderSize-4:], checksum(b[:HeaderSize-4]))
			os.WriteFile(filepath.Join(dir, SegmentName(125)), b, 0o644)
		}, "journal-0000000125.seg starts at tick 125, the journal before it ends at tick 120"},
		{"hash chain", cfg, edit(SegmentName(120), func(b []byte) {
			// The first frame's stored hash, checksum fixed: a journal that
			// disagrees with the state it claims to follow.
			b[HeaderSize+12] ^= 1
			fixCRC(b, HeaderSize)
		}), "hash chain broken"},
		{"no start", cfg, func(t *testing.T, dir string) {
			for _, c := range []uint32{80, 120} {
				os.Remove(filepath.Join(dir, CheckpointName(c)))
			}
		}, "does not start at tick 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDir(t)
			if tc.setup != nil {
				tc.setup(t, dir)
			}
			before := dirState(t, dir)
			d, _, err := Open(dir, tc.cfg, DirOptions{CheckpointEvery: 40})
			if err == nil {
				d.Close()
				t.Fatal("Open accepted the directory")
			}
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q: want ErrRefused mentioning %q", err, tc.want)
			}
			after := dirState(t, dir)
			if len(after) != len(before) {
				t.Fatalf("files changed: %d before, %d after", len(before), len(after))
			}
			for name, h := range before {
				if after[name] != h {
					t.Fatalf("%s changed", name)
				}
			}
		})
	}
}

// TestCheckpointTickNoAllocs: the tick goroutine's whole share of a
// checkpoint (the journal frame, the encoding into the reused buffer and the
// rotation to the segment the writer goroutine created ahead) allocates
// nothing in steady state. The writer goroutine is held while measuring:
// its file work allocates, on its own goroutine, and would be counted.
func TestCheckpointTickNoAllocs(t *testing.T) {
	d, _, err := Open(t.TempDir(), dirConfig(), DirOptions{CheckpointEvery: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	w := d.World()
	dr := newDriver(w, 6)
	step := func() {
		w.Step(dr.records())
		if err := d.Append(w.Tick(), w.LastOrdered(), w.Hash()); err != nil {
			t.Fatal(err)
		}
	}
	for w.Tick() < 198 { // one checkpoint (100) and rotation to warm up
		step()
		if w.Tick() == 100 {
			waitCheckpoint(t, d, 100)
		}
	}
	d.hold = make(chan struct{})
	// AllocsPerRun runs step once to warm up (tick 199), then measures one
	// run: tick 200, a checkpoint tick.
	n := testing.AllocsPerRun(1, step)
	close(d.hold)
	if w.Tick() != 200 {
		t.Fatalf("measured up to tick %d, want the checkpoint tick 200", w.Tick())
	}
	waitCheckpoint(t, d, 200)
	if n != 0 {
		t.Fatalf("a checkpoint tick allocates %.0f times on the tick goroutine", n)
	}
	if st := d.Stats(); st.CheckpointSkipped.Load() != 0 || st.CheckpointErrors.Load() != 0 {
		t.Fatalf("skipped %d, errors %d", st.CheckpointSkipped.Load(), st.CheckpointErrors.Load())
	}
}

// TestDirAppendNoAllocs: between checkpoints, journaling a tick through the
// data directory allocates nothing, and the checkpoint's encoding into the
// reused buffer allocates nothing either.
func TestDirAppendNoAllocs(t *testing.T) {
	dir := t.TempDir()
	d, _, err := Open(dir, dirConfig(), DirOptions{CheckpointEvery: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	w := d.World()
	dr := newDriver(w, 5)
	for range 100 { // warm up the buffers
		w.Step(dr.records())
		if err := d.Append(w.Tick(), w.LastOrdered(), w.Hash()); err != nil {
			t.Fatal(err)
		}
	}
	recs := w.LastOrdered()
	tick := w.Tick()
	if n := testing.AllocsPerRun(50, func() {
		tick++
		if err := d.Append(tick, recs, 1); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("Append allocates %.1f times per tick", n)
	}
	buf := w.AppendCheckpoint(nil)
	if n := testing.AllocsPerRun(10, func() { buf = w.AppendCheckpoint(buf[:0]) }); n != 0 {
		t.Fatalf("checkpoint encoding allocates %.1f times", n)
	}
}

// TestDirEmptySegments: a crash leaves segments without a frame behind (one
// created ahead for the next checkpoint; one whose header was cut short).
// Recovery replays around them and removes them; a clean Close leaves none.
func TestDirEmptySegments(t *testing.T) {
	dir := t.TempDir()
	cfg := dirConfig()
	hash, tick, _ := runDir(t, dir, cfg, 50, 120, 7)
	files, _ := listDir(dir)
	for _, s := range files.segs {
		if st, _ := os.Stat(filepath.Join(dir, SegmentName(s))); st.Size() <= HeaderSize {
			t.Fatalf("a clean Close left the empty segment %d", s)
		}
	}
	ahead, err := createSegment(filepath.Join(dir, SegmentName(150)), cfg.Normalized(), 150, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ahead.Close()
	if err := os.WriteFile(filepath.Join(dir, SegmentName(200)), []byte("TRSRJRNL"), 0o644); err != nil {
		t.Fatal(err)
	}
	checkRecovered(t, dir, cfg, hash, tick)
	for _, s := range []uint32{150, 200} {
		if _, err := os.Stat(filepath.Join(dir, SegmentName(s))); err == nil {
			t.Errorf("empty segment %d not removed", s)
		}
	}
}

package journal

import (
	"bytes"
	"strings"
	"testing"

	"github.com/treasured/treasured/engine"
)

// checkpointRun drives a world of testConfig for ticks ticks with a journal
// from tick 0 and a second journal segment started at tick at (what a
// server restarted from the checkpoint of tick at would write), and returns
// both journals, the checkpoint of tick at and the live hash of every tick.
func checkpointRun(t *testing.T, ticks, at int) (full, seg, ckpt []byte, hashes []uint64) {
	t.Helper()
	w, err := engine.New(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	var fb, sb bytes.Buffer
	jw, err := NewWriter(&fb, w.Config(), 0, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var sw *Writer
	d := newDriver(w, 77)
	for range ticks {
		w.Step(d.records())
		if err := jw.Append(w.Tick(), w.LastOrdered(), w.Hash()); err != nil {
			t.Fatal(err)
		}
		if sw != nil {
			if err := sw.Append(w.Tick(), w.LastOrdered(), w.Hash()); err != nil {
				t.Fatal(err)
			}
		}
		hashes = append(hashes, w.Hash())
		if int(w.Tick()) == at {
			ckpt = w.AppendCheckpoint(nil)
			if sw, err = NewWriter(&sb, w.Config(), w.Tick(), Options{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	jw.Close()
	sw.Close()
	return fb.Bytes(), sb.Bytes(), ckpt, hashes
}

// TestReplayFromCheckpoint: a checkpoint of tick 250 plus the journal (from
// tick 0, or a segment from tick 250) reproduces every later hash; a
// checkpoint that does not match the journal, a journal that ends before
// it, starts after it or has another config is refused.
func TestReplayFromCheckpoint(t *testing.T) {
	const ticks, at = 600, 250
	full, seg, ckpt, hashes := checkpointRun(t, ticks, at)
	load := func() *engine.World {
		w, err := engine.LoadCheckpoint(bytes.NewReader(ckpt))
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	for name, file := range map[string][]byte{"full journal": full, "segment": seg} {
		next := uint32(at + 1)
		res, err := ReplayFrom(load(), bytes.NewReader(file), func(tick uint32, want, got uint64) bool {
			if tick != next || want != hashes[tick-1] || got != want {
				t.Fatalf("%s: tick %d (expected %d): journal %x live %x replay %x", name, tick, next, want, hashes[tick-1], got)
			}
			next++
			return true
		})
		if err != nil || res.Diverged || res.Truncated || res.FromTick != at || res.FirstTick != at+1 ||
			res.Ticks != ticks-at || res.LastTick != ticks || res.FinalHash != hashes[ticks-1] {
			t.Fatalf("%s: %+v, %v", name, res, err)
		}
		if want := name == "full journal"; res.CheckpointVerified != want {
			t.Fatalf("%s: CheckpointVerified %v", name, res.CheckpointVerified)
		}
	}

	// The checkpoint of another run: a divergence at its own tick.
	w, err := engine.LoadCheckpoint(bytes.NewReader(otherCheckpoint(t, at)))
	if err != nil {
		t.Fatal(err)
	}
	res, err := ReplayFrom(w, bytes.NewReader(full), nil)
	if err != nil || !res.Diverged || res.DivergedTick != at || res.Want != hashes[at-1] || res.Ticks != 0 {
		t.Fatalf("foreign checkpoint: %+v, %v", res, err)
	}

	// A journal that ends before the checkpoint.
	short, _, _, _ := checkpointRun(t, at-10, at-20)
	if _, err := ReplayFrom(load(), bytes.NewReader(short), nil); err == nil || !strings.Contains(err.Error(), "ends before the checkpoint's tick 250") {
		t.Fatalf("short journal: %v", err)
	}
	// A segment that starts after the checkpoint.
	_, late, _, _ := checkpointRun(t, at+20, at+10)
	if _, err := ReplayFrom(load(), bytes.NewReader(late), nil); err == nil || !strings.Contains(err.Error(), "later than the checkpoint's tick") {
		t.Fatalf("late segment: %v", err)
	}
	// Another config.
	var ob bytes.Buffer
	cfg := testConfig()
	cfg.Seed++
	jw, err := NewWriter(&ob, cfg, 0, Options{})
	if err != nil {
		t.Fatal(err)
	}
	jw.Close()
	if _, err := ReplayFrom(load(), bytes.NewReader(ob.Bytes()), nil); err == nil || !strings.Contains(err.Error(), "config differs") {
		t.Fatalf("other config: %v", err)
	}
}

// otherCheckpoint is the checkpoint of tick at of a run with another driver.
func otherCheckpoint(t *testing.T, at int) []byte {
	t.Helper()
	w, err := engine.New(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	d := newDriver(w, 78)
	for range at {
		w.Step(d.records())
	}
	return w.AppendCheckpoint(nil)
}

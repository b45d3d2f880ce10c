package journal

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/treasured/treasured/engine"
)

// TestReplayEngine: a real World driven by random sessions for 2,000 ticks
// is journaled; Replay rebuilds it from the file alone and gets the live
// hash at every single tick.
func TestReplayEngine(t *testing.T) {
	const ticks = 2000
	file, hashes, live := engineJournal(t, ticks, 1)
	st := live.Stats()
	// The driver must have reached the paths that make replay non-trivial.
	for name, v := range map[string]uint64{
		"joins": st.Joins, "leaves": st.Leaves, "badRegion": st.JoinBadRegion,
		"dups": st.ActionsDuplicate, "moves": st.Moves, "zones": st.ZoneChanges,
		"generated": st.LootGenerated, "picked": st.LootPickedUp, "gone": st.RejectLootGone,
		"respawned": st.ChestsRespawned,
	} {
		if v == 0 {
			t.Errorf("driver never took path %s", name)
		}
	}
	distinct := map[uint64]bool{}
	next := uint32(1)
	res, err := Replay(bytes.NewReader(file), func(tick uint32, want, got uint64) bool {
		if tick != next || want != hashes[tick-1] || got != want {
			t.Fatalf("tick %d (expected %d): journal %x live %x replay %x", tick, next, want, hashes[tick-1], got)
		}
		distinct[got] = true
		next++
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Result{Header: Header{Version: Version, Config: live.Config()}, Ticks: ticks, FirstTick: 1, LastTick: ticks, FinalHash: live.Hash()}
	if res != want {
		t.Fatalf("result %+v, want %+v", res, want)
	}
	if len(distinct) != ticks {
		t.Fatalf("%d distinct hashes in %d ticks: the comparison would prove little", len(distinct), ticks)
	}
}

// firstInput returns the offset in file of the first Input record with
// actions in the frame at off, and the offset of its first action's seq.
func firstInput(t *testing.T, file []byte, off int64) (rec, seq int64) {
	t.Helper()
	size := int64(le.Uint32(file[off:]))
	p := off + frameHead
	for p < off+size-4 {
		var r engine.Record
		n, err := decodeRecord(file[p:off+size-4], &r)
		if err != nil {
			t.Fatal(err)
		}
		if r.Kind == engine.RecInput && r.N > 0 {
			head := file[p]
			s := p + minRecordSize
			if head&recRegion != 0 {
				s++
			}
			if head&recAck != 0 {
				s += 4
			}
			if head&recKey != 0 {
				s += 8
			}
			return p, s + 1 // past n
		}
		p += int64(n)
	}
	t.Fatal("no Input record in the frame")
	return 0, 0
}

// frameOffsets lists each frame's offset by walking the size fields.
func frameOffsets(file []byte) []int64 {
	var offs []int64
	for off := int64(HeaderSize); off+4 <= int64(len(file)); off += int64(le.Uint32(file[off:])) {
		offs = append(offs, off)
	}
	return offs
}

// TestReplayDetectsTamper: one byte of one action in frame T changed, and
// the checksum fixed so the reader cannot notice: the file is valid, and
// Replay says the world diverges at exactly tick T, with the journal's hash
// and its own.
func TestReplayDetectsTamper(t *testing.T) {
	const ticks, at = 400, 271
	file, hashes, _ := engineJournal(t, ticks, 2)
	offs := frameOffsets(file)
	if len(offs) != ticks {
		t.Fatalf("%d frames", len(offs))
	}
	// Every Input the driver sends is from an active session of the right
	// generation, so its first action is applied. Its action_seq is below
	// 2^16 (one per tick); +2^16 is still admitted, with another window
	// high mark, which the state hash covers.
	_, seq := firstInput(t, file, offs[at-1])
	if file[seq+2] != 0 || file[seq+3] != 0 {
		t.Fatalf("action seq %d not below 2^16", le.Uint32(file[seq:]))
	}
	f := bytes.Clone(file)
	f[seq+2] ^= 1
	fixCRC(f, offs[at-1])

	res, err := Replay(bytes.NewReader(f), func(tick uint32, want, got uint64) bool {
		if tick < at && got != want {
			t.Fatalf("tick %d diverged before the tampered tick %d", tick, at)
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Diverged || res.DivergedTick != at || res.Want != hashes[at-1] || res.Got == res.Want || res.Ticks != ticks {
		t.Fatalf("result %+v, want divergence at %d (journal hash %x)", res, at, hashes[at-1])
	}

	// Tampering with the recorded hash instead is caught the same way.
	f = bytes.Clone(file)
	f[offs[at-1]+12] ^= 0x40
	fixCRC(f, offs[at-1])
	res, err = Replay(bytes.NewReader(f), nil)
	if err != nil || !res.Diverged || res.DivergedTick != at || res.Got != hashes[at-1] {
		t.Fatalf("hash tamper: %+v, %v", res, err)
	}
}

// TestReplayEnds: a torn tail is not an error (what is there is verified,
// Truncated says the rest is gone); corruption in the middle is, after the
// frames before it were verified; onTick can stop the replay.
func TestReplayEnds(t *testing.T) {
	file, hashes, _ := engineJournal(t, 120, 3)
	offs := frameOffsets(file)

	res, err := Replay(bytes.NewReader(file[:len(file)-3]), nil)
	if err != nil || !res.Truncated || res.Tail == nil || res.Tail.Offset != offs[119] || res.Ticks != 119 || res.Diverged || res.FinalHash != hashes[118] {
		t.Fatalf("torn tail: %+v, %v", res, err)
	}

	f := bytes.Clone(file)
	f[offs[60]+30] ^= 0xff
	res, err = Replay(bytes.NewReader(f), nil)
	var fe *FrameError
	if !errors.As(err, &fe) || !errors.Is(err, ErrCorrupt) || fe.Offset != offs[60] || res.Ticks != 60 || res.LastTick != 60 || res.Truncated {
		t.Fatalf("corrupt middle: %+v, %v", res, err)
	}

	res, err = Replay(bytes.NewReader(file), func(tick uint32, _, _ uint64) bool { return tick < 50 })
	if err != nil || !res.Stopped || res.Ticks != 50 || res.LastTick != 50 || res.FinalHash != hashes[49] {
		t.Fatalf("stop at 50: %+v, %v", res, err)
	}

	if _, err := Replay(bytes.NewReader(file[:HeaderSize-1]), nil); !errors.Is(err, ErrHeader) {
		t.Fatalf("short header: %v", err)
	}
	// An empty journal (header only) replays zero ticks, cleanly.
	res, err = Replay(bytes.NewReader(file[:HeaderSize]), nil)
	if err != nil || res.Ticks != 0 || res.LastTick != 0 || res.Truncated || res.Diverged {
		t.Fatalf("empty journal: %+v, %v", res, err)
	}
}

// TestCheckpointHook: the path a checkpoint will take. A world restored "as
// of tick 300" (here: rebuilt by replaying frames 1..300, standing in for a
// loaded arena dump) continues from a reader that SkipTo(300), and matches
// every hash to the end. A world at another tick is refused.
func TestCheckpointHook(t *testing.T) {
	file, hashes, live := engineJournal(t, 600, 4)
	w, err := engine.New(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	rd, err := NewReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	res, err := ReplayWorld(w, rd, func(tick uint32, _, _ uint64) bool { return tick < 300 })
	if err != nil || res.LastTick != 300 || res.Diverged {
		t.Fatalf("to the checkpoint: %+v, %v", res, err)
	}

	rd2, err := NewReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	fresh, _ := engine.New(testConfig())
	if err := rd2.SkipTo(300); err != nil {
		t.Fatal(err)
	}
	if _, err := ReplayWorld(fresh, rd2, nil); err == nil || !strings.Contains(err.Error(), "tick 0") {
		t.Fatalf("world at tick 0 after SkipTo(300): %v", err)
	}
	res, err = ReplayWorld(w, rd2, func(tick uint32, want, got uint64) bool {
		if want != hashes[tick-1] || got != want {
			t.Fatalf("tick %d: journal %x live %x replay %x", tick, want, hashes[tick-1], got)
		}
		return true
	})
	if err != nil || res.Ticks != 300 || res.FirstTick != 301 || res.LastTick != 600 || res.FinalHash != live.Hash() || res.Diverged {
		t.Fatalf("from the checkpoint: %+v, %v", res, err)
	}

	// A journal segment that starts at a checkpoint says so, and Replay
	// (fresh world) refuses it rather than replaying onto the wrong state.
	var seg bytes.Buffer
	jw, err := NewWriter(&seg, testConfig(), 300, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := jw.Append(301, nil, 1); err != nil {
		t.Fatal(err)
	}
	jw.Close()
	if _, err := Replay(bytes.NewReader(seg.Bytes()), nil); err == nil || !strings.Contains(err.Error(), "checkpoint") {
		t.Fatalf("segment from tick 300: %v", err)
	}
}

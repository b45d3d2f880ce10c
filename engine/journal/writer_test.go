package journal

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/treasured/treasured/engine"
	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// TestRoundTrip: 400 ticks of up to 300 random records each read back as
// written: tick, hash, every record field, offsets, then a clean io.EOF.
func TestRoundTrip(t *testing.T) {
	file, want := randJournal(t, 42, 400, 300)
	got, err := readAll(t, file)
	if err != io.EOF {
		t.Fatalf("end: %v, want io.EOF", err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d frames, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if len(w.Records) == 0 {
			w.Records = nil // readAll copies an empty frame's records as nil
		}
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("frame %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

// tickRecords is a busy tick for benchmarks and the allocation test: n
// records, mostly Inputs of 1-4 actions (a Move plus retransmissions and
// chest actions), some Joins and Leaves, in the engine's order.
func tickRecords(n int, seed uint64) []engine.Record {
	rng := rand.New(rand.NewPCG(seed, 7))
	recs := make([]engine.Record, n)
	for i := range recs {
		r := &recs[i]
		r.Player, r.Gen = int32(i), 1+rng.Uint32N(4)
		switch k := rng.IntN(100); {
		case k < 1:
			r.Kind = engine.RecLeave
		case k < 2:
			r.Kind, r.Region, r.Key = engine.RecJoin, uint8(rng.IntN(3)), rng.Uint64()
		default:
			r.Kind, r.AckTick, r.N = engine.RecInput, 1000+rng.Uint32N(3), uint8(1+rng.IntN(4))
			for a := range r.N {
				act := &r.Actions[a]
				act.Seq = 5000 + uint32(a)
				if rng.IntN(8) == 0 {
					act.Kind, act.Target = uint8(wire.ActionKindOpenChest), rng.Uint64N(12288)
				} else {
					act.Kind, act.Pos = uint8(wire.ActionKindMove), schema.Vec2{X: rng.Int32N(1 << 20), Y: rng.Int32N(1 << 20)}
				}
			}
		}
	}
	return recs
}

// TestAppendNoAllocs: once the buffer has seen a tick of this size, Append
// to a real file allocates nothing, background fsyncs included.
func TestAppendNoAllocs(t *testing.T) {
	jw, err := Create(filepath.Join(t.TempDir(), "j"), engine.DefaultConfig(), 0, Options{SyncEvery: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer jw.Close()
	recs := tickRecords(1000, 1)
	tick := uint32(0)
	appendOne := func() {
		tick++
		if err := jw.Append(tick, recs, uint64(tick)); err != nil {
			t.Fatal(err)
		}
	}
	for range 10 {
		appendOne()
	}
	if n := testing.AllocsPerRun(100, appendOne); n != 0 {
		t.Fatalf("Append allocates %v times per tick", n)
	}
	// The measured ticks must have gone through the fsync path, or the
	// zero above says nothing about it.
	waitFor(t, func() bool { return jw.SyncedTick() > 10 })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestAppendRejects: a tick the journal cannot hold faithfully writes
// nothing and says why; the same tick can then be appended correctly.
func TestAppendRejects(t *testing.T) {
	cfg := testConfig()
	limit := maxRecords(&cfg)
	if limit != MinRecordCap {
		t.Fatalf("a 48-slot world's cap is %d, want the floor %d", limit, MinRecordCap)
	}
	var buf bytes.Buffer
	jw, err := NewWriter(&buf, cfg, 10, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ok := []engine.Record{{Kind: engine.RecLeave, Player: 1, Gen: 1}}
	tooMany := make([]engine.Record, limit+1)
	for i := range tooMany {
		tooMany[i] = ok[0]
	}
	for _, tc := range []struct {
		name string
		tick uint32
		recs []engine.Record
	}{
		{"tick 10 again", 10, ok},
		{"tick gap", 12, ok},
		{"kind 0", 11, []engine.Record{ok[0], {Kind: 0}}},
		{"kind 4", 11, []engine.Record{{Kind: 4}}},
		{"9 actions", 11, []engine.Record{{Kind: engine.RecInput, N: schema.MaxActions + 1}}},
		{"too many", 11, tooMany},
	} {
		before := buf.Len()
		if err := jw.Append(tc.tick, tc.recs, 1); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
		if buf.Len() != before {
			t.Errorf("%s: wrote %d bytes", tc.name, buf.Len()-before)
		}
	}
	if err := jw.Append(11, tooMany[:limit], 1); err != nil {
		t.Fatalf("tick 11 at the cap: %v", err)
	}
	if err := jw.Close(); err != nil {
		t.Fatal(err)
	}
	frames, err := readAll(t, buf.Bytes())
	if err != io.EOF || len(frames) != 1 || frames[0].Tick != 11 || len(frames[0].Records) != limit {
		t.Fatalf("read back %d frames, err %v", len(frames), err)
	}
	if _, err := NewWriter(&buf, engine.Config{}, 0, Options{}); err == nil {
		t.Fatal("invalid config accepted")
	}
}

// failWriter accepts limit bytes, then fails (writing a partial frame first,
// as a full disk does).
type failWriter struct {
	bytes.Buffer
	limit int
}

var errDiskFull = errors.New("disk full")

func (f *failWriter) Write(p []byte) (int, error) {
	if room := f.limit - f.Len(); len(p) > room {
		f.Buffer.Write(p[:max(room, 0)])
		return max(room, 0), errDiskFull
	}
	return f.Buffer.Write(p)
}

// TestWriteErrorSticky: after a failed write nothing more is written (the
// torn frame stays the tail), every call reports the error, and what was
// written reads back as valid frames plus a truncated tail.
func TestWriteErrorSticky(t *testing.T) {
	fw := &failWriter{limit: HeaderSize + 3*24 + 10}
	jw, err := NewWriter(fw, testConfig(), 0, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for tick := uint32(1); tick <= 3; tick++ {
		if err := jw.Append(tick, nil, 7); err != nil {
			t.Fatalf("tick %d: %v", tick, err)
		}
	}
	if err := jw.Append(4, nil, 7); !errors.Is(err, errDiskFull) {
		t.Fatalf("tick 4: %v, want disk full", err)
	}
	fw.limit = 1 << 20 // the disk has room again: the writer must not use it
	n := fw.Len()
	if err := jw.Append(5, nil, 7); !errors.Is(err, errDiskFull) {
		t.Fatalf("after failure: %v", err)
	}
	if err := jw.Close(); !errors.Is(err, errDiskFull) {
		t.Fatalf("Close: %v", err)
	}
	if fw.Len() != n {
		t.Fatalf("wrote %d bytes after the failure", fw.Len()-n)
	}
	frames, err := readAll(t, fw.Bytes())
	if len(frames) != 3 || !errors.Is(err, ErrTruncatedTail) {
		t.Fatalf("%d frames, %v", len(frames), err)
	}
}

// syncRecorder is a destination with Sync that records how much had been
// written at each Sync; Sync may fail on demand.
type syncRecorder struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	syncs   []int
	syncErr error
}

func (s *syncRecorder) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncRecorder) Sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.syncErr != nil {
		return s.syncErr
	}
	s.syncs = append(s.syncs, s.buf.Len())
	return nil
}

func (s *syncRecorder) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.syncs)
}

// TestSyncPolicy: with SyncEvery K the background goroutine fsyncs while
// the ticks go on, SyncedTick only ever names ticks written before a
// completed fsync, and Close makes every tick durable. With SyncEvery < 0
// nothing is synced before Close.
func TestSyncPolicy(t *testing.T) {
	recs := tickRecords(10, 3)
	frame := len(appendRecords(recs)) + frameOverhead

	s := &syncRecorder{}
	jw, err := NewWriter(s, testConfig(), 100, Options{SyncEvery: 4})
	if err != nil {
		t.Fatal(err)
	}
	if jw.SyncedTick() != 100 {
		t.Fatalf("SyncedTick before any append: %d", jw.SyncedTick())
	}
	for tick := uint32(101); tick <= 140; tick++ {
		if err := jw.Append(tick, recs, 1); err != nil {
			t.Fatal(err)
		}
		// SyncedTick never runs ahead of what a completed Sync covered.
		if st := jw.SyncedTick(); st > 100 {
			s.mu.Lock()
			covered := (s.syncs[len(s.syncs)-1] - HeaderSize) / frame
			s.mu.Unlock()
			if int(st-100) > covered {
				t.Fatalf("SyncedTick %d but the last sync covered %d frames", st, covered)
			}
		}
		if tick%4 == 0 {
			// Every 4th tick asks for an fsync; waiting for it here
			// keeps the requests from coalescing, so they can be counted.
			waitFor(t, func() bool { return jw.SyncedTick() == tick })
		}
	}
	if s.count() != 10 {
		t.Fatalf("%d background syncs for 40 ticks at SyncEvery 4, want 10", s.count())
	}
	if err := jw.Close(); err != nil {
		t.Fatal(err)
	}
	if jw.SyncedTick() != 140 || s.syncs[len(s.syncs)-1] != s.buf.Len() {
		t.Fatalf("after Close: SyncedTick %d, last sync at %d of %d bytes", jw.SyncedTick(), s.syncs[len(s.syncs)-1], s.buf.Len())
	}
	if err := jw.Append(141, recs, 1); err != ErrClosed {
		t.Fatalf("Append after Close: %v", err)
	}
	if err := jw.Close(); err != ErrClosed {
		t.Fatalf("second Close: %v", err)
	}

	s = &syncRecorder{}
	jw, err = NewWriter(s, testConfig(), 0, Options{SyncEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	for tick := uint32(1); tick <= 40; tick++ {
		if err := jw.Append(tick, recs, 1); err != nil {
			t.Fatal(err)
		}
	}
	if s.count() != 0 || jw.SyncedTick() != 0 {
		t.Fatalf("SyncEvery -1 synced: %d syncs, SyncedTick %d", s.count(), jw.SyncedTick())
	}
	if err := jw.Sync(); err != nil || jw.SyncedTick() != 40 || s.count() != 1 {
		t.Fatalf("Sync: %v, SyncedTick %d, %d syncs", err, jw.SyncedTick(), s.count())
	}
	if err := jw.Close(); err != nil {
		t.Fatal(err)
	}
}

func appendRecords(recs []engine.Record) []byte {
	var b []byte
	for i := range recs {
		b = appendRecord(b, &recs[i])
	}
	return b
}

// TestSyncErrorReported: a failed background fsync is not lost: the next
// Append returns it (the tick goroutine decides what to do), and so does
// Close.
func TestSyncErrorReported(t *testing.T) {
	errIO := errors.New("EIO")
	s := &syncRecorder{syncErr: errIO}
	jw, err := NewWriter(s, testConfig(), 0, Options{SyncEvery: 1})
	if err != nil {
		t.Fatal(err)
	}
	tick := uint32(0)
	waitFor(t, func() bool {
		tick++
		return errors.Is(jw.Append(tick, nil, 1), errIO)
	})
	if err := jw.Append(tick+1, nil, 1); !errors.Is(err, errIO) {
		t.Fatalf("error not sticky: %v", err)
	}
	if err := jw.Close(); !errors.Is(err, errIO) {
		t.Fatalf("Close: %v", err)
	}
}

// TestCreate: Create writes a readable journal file and refuses to replace
// an existing one, which is the only copy of that world's history.
func TestCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "world.journal")
	jw, err := Create(path, testConfig(), 0, Options{})
	if err != nil {
		t.Fatal(err)
	}
	recs := tickRecords(50, 9)
	for tick := uint32(1); tick <= 30; tick++ {
		if err := jw.Append(tick, recs, uint64(tick)*3); err != nil {
			t.Fatal(err)
		}
	}
	if err := jw.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Create(path, testConfig(), 0, Options{}); !errors.Is(err, os.ErrExist) {
		t.Fatalf("Create over an existing journal: %v", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("existing journal modified")
	}
	frames, err := readAll(t, after)
	if err != io.EOF || len(frames) != 30 || frames[29].Hash != 90 || len(frames[29].Records) != 50 {
		t.Fatalf("%d frames, %v", len(frames), err)
	}
}

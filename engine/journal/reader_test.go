package journal

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/treasured/treasured/engine"
)

// frameEnd checks that err is a *FrameError of class want at the frame of
// tick, and returns its reason.
func frameEnd(t *testing.T, err error, want error, tick uint32, off int64) string {
	t.Helper()
	var fe *FrameError
	if !errors.As(err, &fe) || !errors.Is(err, want) || fe.Tick != tick || fe.Offset != off {
		t.Fatalf("got %v, want %v at tick %d offset %d", err, want, tick, off)
	}
	return fe.Reason
}

// TestTruncatedTailEveryByte: cutting the file anywhere inside its last frame
// is a truncated tail at that frame's offset, never corruption, and every
// frame before it still reads; cutting exactly before it is a clean end.
func TestTruncatedTailEveryByte(t *testing.T) {
	file, want := randJournal(t, 5, 20, 40)
	last := want[len(want)-1]
	for k := 0; k < last.Size; k++ {
		got, err := readAll(t, file[:last.Offset+int64(k)])
		if len(got) != len(want)-1 {
			t.Fatalf("cut %d: %d frames, want %d", k, len(got), len(want)-1)
		}
		if k == 0 {
			if err != io.EOF {
				t.Fatalf("cut at the frame boundary: %v, want io.EOF", err)
			}
			continue
		}
		frameEnd(t, err, ErrTruncatedTail, last.Tick, last.Offset)
	}
}

// TestZeroFilledTail: a crash can leave the file longer than what reached
// the disk, the rest zeros: zeros instead of the last frame, after it, or
// over its end are a truncated tail too.
func TestZeroFilledTail(t *testing.T) {
	file, want := randJournal(t, 6, 10, 40)
	last := want[len(want)-1]
	end := last.Offset + int64(last.Size)
	for _, n := range []int{1, 3, 4, 23, 24, 1000, 300_000} {
		f := append(bytes.Clone(file), make([]byte, n)...)
		got, err := readAll(t, f)
		if len(got) != len(want) {
			t.Fatalf("%d zeros after the end: %d frames", n, len(got))
		}
		frameEnd(t, err, ErrTruncatedTail, last.Tick+1, end)
	}
	for j := 0; j < last.Size; j += 7 {
		f := bytes.Clone(file)
		clear(f[last.Offset+int64(j):])
		got, err := readAll(t, f)
		if len(got) != len(want)-1 {
			t.Fatalf("last frame zeroed from byte %d: %d frames", j, len(got))
		}
		frameEnd(t, err, ErrTruncatedTail, last.Tick, last.Offset)
	}
}

// TestCorruptMiddleEveryByte: a flipped bit anywhere in a frame that has
// intact frames after it, its size field included, is ErrCorrupt at that
// frame; the frames before it read.
func TestCorruptMiddleEveryByte(t *testing.T) {
	file, want := randJournal(t, 7, 20, 40)
	mid := want[9]
	for j := 0; j < mid.Size; j++ {
		for _, bit := range []byte{0x01, 0x80} {
			f := bytes.Clone(file)
			f[mid.Offset+int64(j)] ^= bit
			got, err := readAll(t, f)
			if len(got) != 9 {
				t.Fatalf("byte %d^%#x: %d frames before the damage, want 9 (%v)", j, bit, len(got), err)
			}
			frameEnd(t, err, ErrCorrupt, mid.Tick, mid.Offset)
		}
	}
}

// TestBadChecksumFinalFrame: a final frame whose checksum fails is a torn
// tail (the write that never finished), and says so.
func TestBadChecksumFinalFrame(t *testing.T) {
	file, want := randJournal(t, 8, 10, 40)
	last := want[len(want)-1]
	for _, j := range []int{5, 21, last.Size / 2, last.Size - 1} {
		f := bytes.Clone(file)
		f[last.Offset+int64(j)] ^= 0x10
		got, err := readAll(t, f)
		if len(got) != len(want)-1 {
			t.Fatalf("byte %d: %d frames", j, len(got))
		}
		if r := frameEnd(t, err, ErrTruncatedTail, last.Tick, last.Offset); !strings.Contains(r, "checksum") {
			t.Fatalf("reason %q does not name the checksum", r)
		}
	}
}

// TestCorruptDecodable: a frame whose checksum is right but whose content no
// writer produces is corruption wherever it is, the last frame included.
func TestCorruptDecodable(t *testing.T) {
	file, want := randJournal(t, 9, 6, 40)
	for _, idx := range []int{2, 5} {
		fr := want[idx]
		for _, tc := range []struct {
			name, reason string
			edit         func(f []byte)
		}{
			{"tick", "frame holds tick", func(f []byte) { le.PutUint32(f[fr.Offset+4:], fr.Tick+1) }},
			{"count down", "bytes after", func(f []byte) {
				le.PutUint32(f[fr.Offset+8:], uint32(len(fr.Records)-1))
			}},
			{"count cap", "record count", func(f []byte) { le.PutUint32(f[fr.Offset+8:], 1<<31) }},
			{"record head", "record 0", func(f []byte) { f[fr.Offset+frameHead] |= 0x80 }},
		} {
			if len(fr.Records) < 2 {
				t.Fatal("test journal needs frames with records")
			}
			f := bytes.Clone(file)
			tc.edit(f)
			fixCRC(f, fr.Offset)
			got, err := readAll(t, f)
			if len(got) != idx {
				t.Fatalf("frame %d %s: %d frames", idx, tc.name, len(got))
			}
			if r := frameEnd(t, err, ErrCorrupt, fr.Tick, fr.Offset); !strings.Contains(r, tc.reason) {
				t.Fatalf("frame %d %s: reason %q, want %q", idx, tc.name, r, tc.reason)
			}
		}
	}
}

// TestBoundedAllocation: a frame that claims the largest size the config
// allows but brings a few bytes costs at most the 1 MiB read-ahead, not the
// claim; a claim beyond the cap is rejected; a count beyond the config's
// record cap is rejected even with the bytes to back it.
func TestBoundedAllocation(t *testing.T) {
	cfg := engine.DefaultConfig() // cap ~200 MB of frame
	hdr := appendHeader(nil, &Header{Version: Version, Config: cfg})
	maxSize := maxFrameSize(&cfg)
	if maxSize < 100<<20 {
		t.Fatalf("cap %d: test assumes a large cap", maxSize)
	}
	f := le.AppendUint32(bytes.Clone(hdr), uint32(maxSize))
	f = append(f, make([]byte, 500)...)
	f[len(f)-1] = 1 // not a zero tail
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := readAll(t, f)
	runtime.ReadMemStats(&after)
	frameEnd(t, err, ErrTruncatedTail, 1, HeaderSize)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Fatalf("a frame claiming %d bytes with 500 present allocated %d bytes", maxSize, alloc)
	}

	f = le.AppendUint32(bytes.Clone(hdr), uint32(maxSize+1))
	f = append(f, 1)
	_, err = readAll(t, f)
	frameEnd(t, err, ErrCorrupt, 1, HeaderSize)

	small := testConfig()
	small.MaxPlayers = 2000 // above the floor: the cap is MaxPlayers*RecordsPerPlayer
	if maxRecords(&small) != 2000*RecordsPerPlayer {
		t.Fatalf("cap %d", maxRecords(&small))
	}
	var buf bytes.Buffer
	jw, err := NewWriter(&buf, small, 0, Options{})
	if err != nil {
		t.Fatal(err)
	}
	jw.maxCount++ // a broken writer: one record over the cap
	recs := make([]engine.Record, maxRecords(&small)+1)
	for i := range recs {
		recs[i] = engine.Record{Kind: engine.RecLeave}
	}
	if err := jw.Append(1, recs, 0); err != nil {
		t.Fatal(err)
	}
	_, err = readAll(t, buf.Bytes())
	frameEnd(t, err, ErrCorrupt, 1, HeaderSize)
}

// TestSkipTo: skipping lands on the right frame, checks what it skips and
// refuses to go back.
func TestSkipTo(t *testing.T) {
	file, want := randJournal(t, 10, 50, 30)
	rd, err := NewReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if err := rd.SkipTo(0); err != nil || rd.NextTick() != 1 {
		t.Fatalf("SkipTo(0): %v, next %d", err, rd.NextTick())
	}
	if err := rd.SkipTo(20); err != nil {
		t.Fatal(err)
	}
	f, err := rd.Next()
	if err != nil || f.Tick != 21 || f.Offset != want[20].Offset || len(f.Records) != len(want[20].Records) {
		t.Fatalf("after SkipTo(20): tick %d, %v", f.Tick, err)
	}
	if err := rd.SkipTo(10); err == nil {
		t.Fatal("SkipTo backwards accepted")
	}
	if err := rd.SkipTo(60); err != io.EOF {
		t.Fatalf("SkipTo past the end: %v", err)
	}

	// Skipped frames are still checked: a frame with a good checksum and
	// the wrong tick is corruption.
	bad := bytes.Clone(file)
	le.PutUint32(bad[want[5].Offset+4:], 99)
	fixCRC(bad, want[5].Offset)
	rd, _ = NewReader(bytes.NewReader(bad))
	frameEnd(t, rd.SkipTo(30), ErrCorrupt, 6, want[5].Offset)
}

// errReader fails with a non-EOF error after n bytes.
type errReader struct {
	r   io.Reader
	n   int
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	if e.n <= 0 {
		return 0, e.err
	}
	p = p[:min(len(p), e.n)]
	n, err := e.r.Read(p)
	e.n -= n
	return n, err
}

// TestReadErrorIsNotCorruption: a failing disk is reported as such, not as
// a truncated tail or a corrupt frame.
func TestReadErrorIsNotCorruption(t *testing.T) {
	file, want := randJournal(t, 11, 5, 30)
	errIO := errors.New("EIO")
	for _, at := range []int{HeaderSize - 1, int(want[2].Offset) + 2, int(want[2].Offset) + 30} {
		rd, err := NewReader(&errReader{r: bytes.NewReader(file), n: at, err: errIO})
		if at < HeaderSize {
			if !errors.Is(err, errIO) || errors.Is(err, ErrHeader) {
				t.Fatalf("header read error: %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for err == nil {
			_, err = rd.Next()
		}
		if !errors.Is(err, errIO) || errors.Is(err, ErrTruncatedTail) || errors.Is(err, ErrCorrupt) {
			t.Fatalf("read error at %d: %v", at, err)
		}
	}
}

// TestNextNoAllocs: replaying a long journal does not feed the GC; once the
// buffers fit the biggest frame so far, Next allocates nothing.
func TestNextNoAllocs(t *testing.T) {
	var buf bytes.Buffer
	jw, err := NewWriter(&buf, engine.DefaultConfig(), 0, Options{})
	if err != nil {
		t.Fatal(err)
	}
	recs := tickRecords(500, 4)
	for tick := uint32(1); tick <= 40; tick++ {
		if err := jw.Append(tick, recs, uint64(tick)); err != nil {
			t.Fatal(err)
		}
	}
	rd, err := NewReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	next := func() {
		if f, err := rd.Next(); err != nil || len(f.Records) != len(recs) {
			t.Fatalf("tick %d: %v", f.Tick, err)
		}
	}
	next()
	if n := testing.AllocsPerRun(30, next); n != 0 {
		t.Fatalf("Next allocates %v times per frame", n)
	}
}

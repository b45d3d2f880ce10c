package journal

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/treasured/treasured/engine"
)

// benchRecords is the tick the brief sizes the journal for: 4,200 records,
// about 1,400 players in each of 3 regions sending one Input per tick.
const benchRecords = 4200

// discard is a destination without Sync: Append's cost without the kernel.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// rewindFile writes at a wrapping offset so a long benchmark does not fill
// the disk; every write is still a real pwrite(2) into the page cache, and
// Sync a real fsync.
type rewindFile struct {
	f   *os.File
	off int64
}

func (r *rewindFile) Write(p []byte) (int, error) {
	if r.off+int64(len(p)) > 64<<20 {
		r.off = 0
	}
	n, err := r.f.WriteAt(p, r.off)
	r.off += int64(n)
	return n, err
}

func (r *rewindFile) Sync() error { return r.f.Sync() }

// BenchmarkAppend: one tick of 4,200 records per op. "mem" is encoding and
// checksum alone; "file" adds the write(2) and, every 20 ticks, the
// background fsync (SetBytes: journal bytes per tick).
func BenchmarkAppend(b *testing.B) {
	recs := tickRecords(benchRecords, 1)
	size := len(appendRecords(recs)) + frameOverhead
	run := func(b *testing.B, dst io.Writer) {
		jw, err := NewWriter(dst, engine.DefaultConfig(), 0, Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(size))
		b.ReportAllocs()
		tick := uint32(0)
		for b.Loop() {
			tick++
			if err := jw.Append(tick, recs, uint64(tick)); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		if err := jw.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("mem", func(b *testing.B) { run(b, discard{}) })
	b.Run("file", func(b *testing.B) {
		f, err := os.Create(filepath.Join(b.TempDir(), "j"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		run(b, &rewindFile{f: f})
	})
}

var sinkHash uint64

// BenchmarkNext: reading back and decoding one 4,200-record frame per op,
// what treasure-replay pays per tick on top of the engine's Step.
func BenchmarkNext(b *testing.B) {
	recs := tickRecords(benchRecords, 2)
	const frames = 64
	var buf bytes.Buffer
	jw, err := NewWriter(&buf, engine.DefaultConfig(), 0, Options{})
	if err != nil {
		b.Fatal(err)
	}
	for tick := uint32(1); tick <= frames; tick++ {
		if err := jw.Append(tick, recs, uint64(tick)); err != nil {
			b.Fatal(err)
		}
	}
	file := buf.Bytes()
	b.SetBytes(int64(len(file)-HeaderSize) / frames)
	b.ReportAllocs()
	var rd *Reader
	for b.Loop() {
		if rd == nil || rd.NextTick() > frames {
			// A new Reader sizes its buffers on its first frame; that
			// one-off is kept out of the per-tick figure.
			b.StopTimer()
			if rd, err = NewReader(bytes.NewReader(file)); err != nil {
				b.Fatal(err)
			}
			if _, err := rd.Next(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		f, err := rd.Next()
		if err != nil {
			b.Fatal(err)
		}
		sinkHash += f.Hash + uint64(len(f.Records))
	}
}

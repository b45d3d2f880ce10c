package journal

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The seed corpora live in testdata/fuzz/<Fuzz name>/ and run with every
// `go test` (regenerate them with
// `go test -run TestSeedCorpus ./engine/journal -update-corpus`).
// Explore with e.g. `go test -run '^$' -fuzz FuzzReader -fuzztime 60s ./engine/journal`.

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed corpora in testdata/fuzz")

// FuzzReader: any bytes at all. The reader never panics, ends with one of
// its documented ends, never reports a frame outside the file, and every
// frame it accepts is exactly what the writer would have written for it
// (the encoding is canonical, so nothing unchecked slips through).
func FuzzReader(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		rd, err := NewReader(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrHeader) {
				t.Fatalf("header: %v is not ErrHeader", err)
			}
			return
		}
		for {
			fr, err := rd.Next()
			if err != nil {
				checkEnd(t, rd, err, len(data))
				return
			}
			if fr.Offset < HeaderSize || fr.Offset+int64(fr.Size) > int64(len(data)) {
				t.Fatalf("frame at %d+%d outside the %d-byte file", fr.Offset, fr.Size, len(data))
			}
			enc, bad := appendFrame(nil, fr.Tick, fr.Records, fr.Hash)
			if bad >= 0 || !bytes.Equal(enc, data[fr.Offset:fr.Offset+int64(fr.Size)]) {
				t.Fatalf("tick %d: accepted frame does not re-encode to its bytes (bad record %d)", fr.Tick, bad)
			}
		}
	})
}

func checkEnd(t *testing.T, rd *Reader, err error, size int) {
	t.Helper()
	if err == io.EOF {
		if rd.Offset() != int64(size) {
			t.Fatalf("clean EOF at %d of %d bytes", rd.Offset(), size)
		}
		return
	}
	var fe *FrameError
	if !errors.As(err, &fe) || !(errors.Is(err, ErrTruncatedTail) || errors.Is(err, ErrCorrupt)) {
		t.Fatalf("end %v is none of io.EOF, ErrTruncatedTail, ErrCorrupt", err)
	}
	if fe.Offset != rd.Offset() || fe.Offset > int64(size) || fe.Tick != rd.NextTick() {
		t.Fatalf("%v: reader at offset %d tick %d", err, rd.Offset(), rd.NextTick())
	}
	if _, again := rd.Next(); again != err {
		t.Fatalf("end not sticky: %v then %v", err, again)
	}
}

// FuzzReplay: any frames after a valid header of the small test world. The
// reader and the engine together never panic, whatever records a forged
// journal feeds Step; Replay ends as documented.
func FuzzReplay(f *testing.F) {
	hdr := appendHeader(nil, &Header{Version: Version, Config: testConfig()})
	f.Fuzz(func(t *testing.T, frames []byte) {
		res, err := Replay(bytes.NewReader(append(bytes.Clone(hdr), frames...)), nil)
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("replay: %v", err)
		}
		if res.Truncated != (res.Tail != nil) || (res.Ticks > 0 && res.LastTick != res.FirstTick+uint32(res.Ticks)-1) {
			t.Fatalf("inconsistent result %+v", res)
		}
	})
}

// seeds are the committed corpus: journals that end each documented way.
func seeds(t *testing.T) map[string]map[string][]byte {
	rnd, _ := randJournal(t, 100, 4, 6)
	eng, _, _ := engineJournal(t, 6, 5)
	engFrames := eng[HeaderSize:]
	offs := frameOffsets(eng)
	torn := eng[:len(eng)-5]
	corrupt := bytes.Clone(eng)
	corrupt[offs[2]+25] ^= 0x20
	forged := bytes.Clone(eng)
	forged[offs[3]+frameHead] = 0xff // bad record head, checksum fixed
	fixCRC(forged, offs[3])
	zeroTail := append(bytes.Clone(rnd), make([]byte, 40)...)
	hugeSize := append(le.AppendUint32(bytes.Clone(rnd[:HeaderSize]), MaxFrameSize), 1)
	return map[string]map[string][]byte{
		"FuzzReader": {
			"valid-random":  rnd,
			"valid-engine":  eng,
			"header-only":   rnd[:HeaderSize],
			"short-header":  rnd[:HeaderSize-9],
			"torn-tail":     torn,
			"zero-tail":     zeroTail,
			"corrupt-mid":   corrupt,
			"forged-record": forged,
			"huge-size":     hugeSize,
		},
		"FuzzReplay": {
			"valid-engine":  engFrames,
			"torn-tail":     torn[HeaderSize:],
			"corrupt-mid":   corrupt[HeaderSize:],
			"forged-record": forged[HeaderSize:],
			"empty":         nil,
		},
	}
}

// TestSeedCorpus checks that the committed corpora are there and that each
// seed still ends the way it is named after (so a format change that turns
// them all into "bad header" is noticed), or rewrites them with
// -update-corpus.
func TestSeedCorpus(t *testing.T) {
	all := seeds(t)
	if *updateCorpus {
		for fuzz, files := range all {
			dir := filepath.Join("testdata", "fuzz", fuzz)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for name, data := range files {
				content := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(data)))
				if err := os.WriteFile(filepath.Join(dir, "seed-"+name), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	hdr := appendHeader(nil, &Header{Version: Version, Config: testConfig()})
	want := map[string]error{
		"valid": io.EOF, "header": io.EOF, "empty": io.EOF, "short": ErrHeader, "torn": ErrTruncatedTail,
		"zero": ErrTruncatedTail, "corrupt": ErrCorrupt, "forged": ErrCorrupt, "huge": ErrCorrupt,
	}
	for fuzz, files := range all {
		for name := range files {
			path := filepath.Join("testdata", "fuzz", fuzz, "seed-"+name)
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (create the seeds with -update-corpus)", err)
			}
			lit, ok := strings.CutPrefix(string(raw), "go test fuzz v1\n[]byte(")
			lit, ok2 := strings.CutSuffix(lit, ")\n")
			data, err := strconv.Unquote(lit)
			if !ok || !ok2 || err != nil {
				t.Fatalf("%s: not a one-[]byte fuzz corpus file", path)
			}
			file := []byte(data)
			if fuzz == "FuzzReplay" {
				file = append(bytes.Clone(hdr), file...)
			}
			var end error
			rd, err := NewReader(bytes.NewReader(file))
			if err != nil {
				end = err
			} else {
				for end == nil {
					_, end = rd.Next()
				}
			}
			if w := want[strings.Split(name, "-")[0]]; !errors.Is(end, w) {
				t.Errorf("%s ends with %v, want %v", path, end, w)
			}
		}
	}
}

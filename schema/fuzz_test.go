package schema

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/treasured/treasured/schema/wire"
)

// FuzzDecode feeds arbitrary bytes to the decoder. Whatever it accepts must
// survive every accessor (walked by reflection over the generated method
// set, every vector element included) and must mean something: re-encoding
// the decoded frame and decoding that gives the same frame back.
//
//	go test -run='^$' -fuzz=FuzzDecode -fuzztime=10m -parallel=1 ./schema
//
// `go test` alone runs the committed seeds in testdata/fuzz/FuzzDecode
// (regenerate them with `go test -run TestSeedCorpus ./schema -update-corpus`).
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var d Decoder
		body, err := d.Decode(data)
		if err != nil {
			if _, ok := err.(Error); !ok || body != wire.BodyNONE || d.Body() != wire.BodyNONE || d.Message() != nil {
				t.Fatalf("error %v (%T) with body %v", err, err, body)
			}
			return
		}
		if len(data) > MaxDatagram || body == wire.BodyNONE || body != d.Body() {
			t.Fatalf("accepted %d bytes as %v", len(data), body)
		}
		walkDecoded(t, &d)
		fr := decodeFrame(&d)
		buf := encodeFrame(NewEncoder(), fr)
		if len(buf) > MaxDatagram {
			// Possible: vectors of a crafted message may share bytes,
			// which a re-encoding spells out.
			return
		}
		var d2 Decoder
		if _, err := d2.Decode(buf); err != nil {
			t.Fatalf("re-encoded %+v does not decode: %v", fr, err)
		}
		if got := decodeFrame(&d2); !frameEqual(got, fr) {
			t.Fatalf("re-encoding changed the frame:\n got %+v\nwant %+v", got, fr)
		}
	})
}

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed corpus in testdata/fuzz/FuzzDecode")

const corpusDir = "testdata/fuzz/FuzzDecode"

// seeds are valid messages of every body (full, zero and random), their
// truncations, and a few near misses.
func seeds() map[string][]byte {
	e := NewEncoder()
	out := map[string][]byte{}
	add := func(name string, b []byte) { out[name] = append([]byte(nil), b...) }
	for _, f := range fullFrames() {
		name := bodyOf(f).String()
		buf := encodeFrame(e, f)
		add("full-"+name, buf)
		add("trunc-half-"+name, buf[:len(buf)/2])
		add("trunc-last-"+name, buf[:len(buf)-1])
	}
	for _, b := range allBodies {
		add("zero-"+b.String(), encodeFrame(e, zeroFrame(b)))
	}
	r := rand.New(rand.NewPCG(7, 7))
	for i := range 2 {
		for _, b := range allBodies {
			add(fmt.Sprintf("rand%d-%v", i, b), encodeFrame(e, randFrame(r, b)))
		}
	}
	add("full-Snapshot-max", e.Snapshot(fullSnapshot()))
	ping := encodeFrame(e, &PingFrame{SessionID: 1, T: 2})
	add("bad-identifier", append([]byte{ping[0], ping[1], ping[2], ping[3], 'T', 'R', 'S', 'X'}, ping[8:]...))
	add("bad-oversized", append(append([]byte(nil), ping...), make([]byte, MaxDatagram+1-len(ping))...))
	add("bad-header-only", ping[:8])
	add("bad-unpadded-hello", e.hello(&HelloFrame{Version: Version}, 0))
	return out
}

// TestSeedCorpus checks the committed corpus covers every body type, or
// rewrites it with -update-corpus.
func TestSeedCorpus(t *testing.T) {
	if *updateCorpus {
		if err := os.MkdirAll(corpusDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range seeds() {
			content := "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n"
			if err := os.WriteFile(filepath.Join(corpusDir, "seed-"+name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	entries, err := os.ReadDir(corpusDir)
	if err != nil {
		t.Fatalf("%v (create the seeds with -update-corpus)", err)
	}
	var d Decoder
	accepted := map[wire.Body]bool{}
	rejected := 0
	for _, ent := range entries {
		raw, err := os.ReadFile(filepath.Join(corpusDir, ent.Name()))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitN(string(raw), "\n", 3)
		if len(lines) < 2 || lines[0] != "go test fuzz v1" || !strings.HasPrefix(lines[1], "[]byte(") {
			t.Fatalf("%s: not a fuzz corpus file", ent.Name())
		}
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", ent.Name(), err)
		}
		if body, err := d.Decode([]byte(s)); err == nil {
			accepted[body] = true
		} else {
			rejected++
		}
	}
	for _, b := range allBodies {
		if !accepted[b] {
			t.Errorf("no valid %v seed in %s", b, corpusDir)
		}
	}
	if rejected == 0 {
		t.Errorf("no invalid seeds in %s", corpusDir)
	}
}

package schema

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/treasured/treasured/schema/wire"
)

// mutantCheck decodes buf and, if accepted, reads everything and checks the
// decoded frame re-encodes to itself. It returns whether buf was accepted.
func mutantCheck(t *testing.T, d, d2 *Decoder, e *Encoder, buf []byte, what string, pos, val int) bool {
	t.Helper()
	if _, err := d.Decode(buf); err != nil {
		if _, ok := err.(Error); !ok {
			t.Fatalf("%s: byte %d = %#x: error %v is not a schema.Error", what, pos, val, err)
		}
		return false
	}
	fr := touchAll(d)
	re := encodeFrame(e, fr)
	if len(re) <= MaxDatagram {
		if _, err := d2.Decode(re); err != nil {
			t.Fatalf("%s: byte %d = %#x: accepted, but its re-encoding fails: %v", what, pos, val, err)
		}
		if got := decodeFrame(d2); !frameEqual(got, fr) {
			t.Fatalf("%s: byte %d = %#x: re-encoding changed the frame", what, pos, val)
		}
	}
	return true
}

func propertyMessages() map[string][]byte {
	e := NewEncoder()
	msgs := map[string][]byte{}
	for _, f := range fullFrames() {
		msgs["full "+bodyOf(f).String()] = append([]byte(nil), encodeFrame(e, f)...)
	}
	msgs["max Snapshot"] = append([]byte(nil), e.Snapshot(fullSnapshot())...)
	r := rand.New(rand.NewPCG(11, 13))
	for _, b := range []wire.Body{wire.BodyInput, wire.BodySnapshot, wire.BodyWelcome} {
		msgs["random "+b.String()] = append([]byte(nil), encodeFrame(e, randFrame(r, b))...)
	}
	return msgs
}

// TestEveryTruncation: every prefix of a valid message is rejected or safe.
func TestEveryTruncation(t *testing.T) {
	e := NewEncoder()
	var d, d2 Decoder
	for what, buf := range propertyMessages() {
		accepted := 0
		for n := range len(buf) {
			// A fresh copy of exactly n bytes, so reading past n would
			// be a real out-of-range access, not a read of the tail.
			cut := append([]byte(nil), buf[:n]...)
			if mutantCheck(t, &d, &d2, e, cut, what+" truncated", n, 0) {
				accepted++
			}
		}
		t.Logf("%s (%d bytes): %d of %d truncations accepted", what, len(buf), accepted, len(buf))
	}
}

// TestEverySingleByteChange writes all 256 values at every position of each
// full message (about 0.8 million decodes) and every 7th value into the
// random ones; every result is rejected or decodes safely and consistently.
// -short tries 16 values per position.
func TestEverySingleByteChange(t *testing.T) {
	e := NewEncoder()
	var d, d2 Decoder
	for what, orig := range propertyMessages() {
		step := 1
		if strings.HasPrefix(what, "random") {
			step = 7
		}
		if testing.Short() {
			step = 17
		}
		buf := append([]byte(nil), orig...)
		accepted, total := 0, 0
		for pos := range buf {
			for v := 0; v < 256; v += step {
				if byte(v) == orig[pos] {
					continue
				}
				buf[pos] = byte(v)
				if mutantCheck(t, &d, &d2, e, buf, what, pos, v) {
					accepted++
				}
				total++
			}
			buf[pos] = orig[pos]
		}
		t.Logf("%s (%d bytes): %d of %d single-byte changes accepted", what, len(orig), accepted, total)
	}
}

// TestRandomMutantsWalked: multi-byte random mutants, each accepted one
// walked through every accessor by reflection (slower than touchAll, so a
// sample).
func TestRandomMutantsWalked(t *testing.T) {
	var d Decoder
	r := rand.New(rand.NewPCG(3, 5))
	msgs := propertyMessages()
	n := 3000
	if testing.Short() {
		n = 300
	}
	accepted := 0
	for what, orig := range msgs {
		for range n / len(msgs) {
			buf := append([]byte(nil), orig...)
			for range 1 + r.IntN(4) {
				buf[r.IntN(len(buf))] = byte(r.Uint32())
			}
			if r.IntN(4) == 0 {
				buf = buf[:r.IntN(len(buf)+1)]
			}
			if _, err := d.Decode(buf); err == nil {
				accepted++
				walkDecoded(t, &d)
			} else if _, ok := err.(Error); !ok {
				t.Fatalf("%s: error %v", what, err)
			}
		}
	}
	t.Logf("%d of %d random mutants accepted and walked", accepted, n/len(msgs)*len(msgs))
}

package auth

import (
	"errors"
	"math/rand/v2"
	"testing"
)

func TestWindowRules(t *testing.T) {
	w := NewWindow()
	step := func(seq uint64, want error) {
		t.Helper()
		err := w.Check(seq)
		if !errors.Is(err, want) {
			t.Fatalf("Check(%d) = %v, want %v (high %d)", seq, err, want, w.High())
		}
		if err == nil {
			w.Accept(seq)
		}
	}
	step(0, ErrTooOld)
	step(1, nil)
	step(1, ErrReplayedDatagram)
	step(5, nil)
	step(3, nil) // reordered, inside the window
	step(3, ErrReplayedDatagram)
	step(2, nil)
	step(5, ErrReplayedDatagram)
	step(4, nil)
	step(200, nil)
	step(136, nil)              // 200-1-136 = 63: the oldest bit of the window
	step(135, ErrTooOld)        // one below it
	step(5, ErrTooOld)          // seen, but long gone: too old, not "replayed"
	step(1<<63+5, nil)          // a jump of more than 64 clears the window
	step(1<<63+5-64, nil)       // just inside it
	step(1<<63+5-65, ErrTooOld) // just outside
	step(^uint64(0), nil)
	step(^uint64(0), ErrReplayedDatagram)
}

// TestWindowMatchesModel runs random streams with duplicates and reordering
// through the window and through a set of every seq seen: the window must
// accept exactly the seqs the set has not seen and that are within 64 of
// the highest, and never accept one twice.
func TestWindowMatchesModel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for run := range 200 {
		w := NewWindow()
		seen := map[uint64]bool{}
		var high uint64
		next := uint64(1)
		for range 2000 {
			var seq uint64
			switch r.IntN(10) {
			case 0, 1: // a duplicate of something recent
				if next > 1 {
					seq = next - 1 - uint64(r.IntN(int(min(next-1, 100))))
				}
			case 2: // a jump forward
				next += uint64(r.IntN(150))
				seq = next
				next++
			default: // in order, sometimes swapped with the next
				seq = next + uint64(r.IntN(3))
				next++
			}
			want := seq != 0 && !seen[seq] && (seq > high || high-seq <= 64)
			err := w.Check(seq)
			if (err == nil) != want {
				t.Fatalf("run %d: seq %d high %d seen %v: Check = %v", run, seq, high, seen[seq], err)
			}
			if err == nil {
				w.Accept(seq)
				seen[seq] = true
				high = max(high, seq)
			}
			if w.High() != high {
				t.Fatalf("run %d: High %d, model %d", run, w.High(), high)
			}
		}
	}
}

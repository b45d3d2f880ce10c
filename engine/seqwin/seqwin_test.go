package seqwin

import (
	"math/rand/v2"
	"testing"
)

// TestSeqWindow checks the window against a set of handled seqs.
func TestSeqWindow(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	win := New[uint32]()
	handled := map[uint32]bool{}
	high := uint32(0)
	for range 200_000 {
		// Mostly fresh seqs a few ahead, with duplicates and late ones.
		var s uint32
		switch r := rng.IntN(10); {
		case r < 5:
			s = high + uint32(rng.IntN(4)) + 1
		case r < 9 && high > 0:
			s = high - uint32(rng.IntN(int(min(high, 80))))
		default:
			s = uint32(rng.IntN(int(high) + 2))
		}
		v := win.Admit(s)
		switch {
		case s == 0:
			if v != Zero {
				t.Fatalf("seq 0: %v", v)
			}
		case handled[s]:
			if v == Fresh {
				t.Fatalf("seq %d admitted twice", s)
			}
		case high > 64 && s < high-64: // the window: high and the 64 below
			if v != Stale {
				t.Fatalf("seq %d below window of %d: %v", s, high, v)
			}
		default:
			if v != Fresh {
				t.Fatalf("fresh seq %d (high %d): %v", s, high, v)
			}
			handled[s] = true
			high = max(high, s)
		}
		// contiguous: the lowest seq still in the window that is not
		// handled, minus one; high when there is none.
		want := high
		for q := max(1, int64(high)-64); q <= int64(high); q++ {
			if !handled[uint32(q)] {
				want = uint32(q) - 1
				break
			}
		}
		if got := win.Contiguous(); got != want {
			t.Fatalf("contiguous %d, want %d (high %d)", got, want, high)
		}
	}
}

// TestAdmitIsCheckAccept: Admit (the engine's one-pass path) and Check then
// Accept (the transport's path around tag verification) keep the same
// window and say the same thing, at both widths.
func TestAdmitIsCheckAccept(t *testing.T) {
	t.Run("uint32", func(t *testing.T) { admitIsCheckAccept[uint32](t, 1<<32-100) })
	t.Run("uint64", func(t *testing.T) { admitIsCheckAccept[uint64](t, 1<<63) })
}

func admitIsCheckAccept[S Seq](t *testing.T, far S) {
	rng := rand.New(rand.NewPCG(5, 6))
	a, c := New[S](), New[S]()
	var high S
	for n := range 100_000 {
		var s S
		switch r := rng.IntN(20); {
		case r == 0:
			s = far + S(rng.IntN(100))
		case r < 10:
			s = high + S(rng.IntN(70))
		default:
			s = high - S(rng.IntN(int(min(uint64(high), 80))+1))
		}
		va := a.Admit(s)
		vc := c.Check(s)
		if vc == Fresh {
			c.Accept(s)
		}
		if va != vc || a != c {
			t.Fatalf("step %d seq %d: Admit %v %+v, Check/Accept %v %+v", n, s, va, a, vc, c)
		}
		high = a.High()
	}
}

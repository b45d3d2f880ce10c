// Package seqwin is the anti-replay window (RFC 4303 §3.4.3) shared by the
// engine's action_seq window (uint32) and the transport's datagram window
// (uint64): the highest sequence number accepted and a bitmap of the 64
// below it. It is a leaf package so that the engine does not depend on the
// transport and the transport not on the engine.
//
// 64 sequence numbers is the reorder depth: a seq more than 64 below the
// highest is refused as stale. For actions that is 8 times a client's
// repeat depth; for datagrams 1.6 s of a 20 Hz stream.
package seqwin

import "math/bits"

// Seq is a sequence number type. 0 is never a valid sequence number.
type Seq interface{ ~uint32 | ~uint64 }

// Window is the window of one stream. Its zero value has accepted nothing
// and would take seqs just below 64 as new; use New.
type Window[S Seq] struct {
	high S      // highest seq accepted
	mask uint64 // bit i set: seq high-1-i accepted (or below 1)
}

// New is the window of a fresh stream: everything below 1 counts as accepted.
func New[S Seq]() Window[S] { return Window[S]{mask: ^uint64(0)} }

// Restore is a window saved as High and Mask (a checkpoint).
func Restore[S Seq](high S, mask uint64) Window[S] { return Window[S]{high: high, mask: mask} }

// Verdict is what a window says of a seq.
type Verdict uint8

const (
	Fresh Verdict = iota // not accepted before
	Dup                  // accepted before
	Stale                // below the window: accepted before or abandoned
	Zero                 // 0 is not a valid seq
)

// Check says whether seq is fresh without recording it, for a caller that
// must verify the datagram first so that a forgery cannot move the window.
func (w *Window[S]) Check(seq S) Verdict {
	switch {
	case seq == 0:
		return Zero
	case seq > w.high:
		return Fresh
	case seq == w.high:
		return Dup
	}
	i := w.high - 1 - seq
	if i >= 64 {
		return Stale
	}
	if w.mask&(1<<i) != 0 {
		return Dup
	}
	return Fresh
}

// Accept records seq, which Check called Fresh.
func (w *Window[S]) Accept(seq S) {
	if seq > w.high {
		d := seq - w.high
		// Shifts of 64 or more give 0 in Go: the old window slid out whole.
		w.mask = w.mask<<d | 1<<(d-1)
		w.high = seq
		return
	}
	if i := w.high - 1 - seq; seq < w.high && i < 64 {
		w.mask |= 1 << i
	}
}

// Admit is Check and, when it says Fresh, Accept: the engine's path, where
// nothing is verified in between.
func (w *Window[S]) Admit(seq S) Verdict {
	v := w.Check(seq)
	if v == Fresh {
		w.Accept(seq)
	}
	return v
}

// Contiguous is the highest seq L such that every seq <= L has been
// accepted (or fell out of the window).
func (w *Window[S]) Contiguous() S {
	holes := ^w.mask
	if holes == 0 {
		return w.high
	}
	j := S(63 - bits.LeadingZeros64(holes)) // oldest missing: high-1-j
	return w.high - 2 - j
}

// High is the highest seq accepted.
func (w *Window[S]) High() S { return w.high }

// Mask is the bitmap below High: bit i set means seq High-1-i accepted.
func (w *Window[S]) Mask() uint64 { return w.mask }

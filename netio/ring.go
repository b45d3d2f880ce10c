package netio

import (
	"fmt"
	"sync/atomic"

	"golang.org/x/sys/cpu"
)

// spsc is a bounded, preallocated single-producer single-consumer queue.
//
// It is the only channel from an event loop to the engine (docs/ARCHITECTURE.md
// "Data flow": one bounded lock-free ring per loop). The producer is one event loop's
// goroutine, the consumer the tick goroutine. No locks and no channels: a
// channel send takes a lock and may park the sender, and an event loop must
// never wait for the engine.
//
// The happens-before edge is the usual one for this shape: the producer
// writes the slot, then publishes it with tail.Store; the consumer reads
// tail.Load, then the slot, then releases it with head.Store; the producer
// reuses a slot only after it has loaded a head past it. Everything the
// producer wrote before a Push (for example a session's address) is visible
// to the consumer once it has popped that entry.
//
// head and tail sit on their own cache lines, and the producer keeps a
// private copy of head, so a Push reads the consumer's line only when the
// ring looks full (the "cached index" trick of rigtorp's SPSCQueue). The
// consumer drains once per tick and loads tail once per drain, so it needs
// no such copy.
type spsc[T any] struct {
	// Written by the consumer only.
	_    cpu.CacheLinePad
	head atomic.Uint64 // next entry to pop

	// Written by the producer only.
	_          cpu.CacheLinePad
	tail       atomic.Uint64 // next entry to push
	cachedHead uint64        // producer's last view of head

	// Read-only after newSPSC.
	_    cpu.CacheLinePad
	mask uint64
	buf  []T
	_    cpu.CacheLinePad
}

// newSPSC returns a ring holding size entries; size must be a power of two so
// that an index maps to a slot with a mask, not a division.
func newSPSC[T any](size int) (*spsc[T], error) {
	if size < 2 || size&(size-1) != 0 {
		return nil, fmt.Errorf("netio: ring size %d is not a power of two >= 2", size)
	}
	return &spsc[T]{mask: uint64(size - 1), buf: make([]T, size)}, nil
}

// Cap is the number of entries the ring holds.
func (r *spsc[T]) Cap() int { return len(r.buf) }

// Len is the number of queued entries. It is exact on the producer or the
// consumer; from any other goroutine (the metrics scraper) it is an estimate
// clamped to [0, Cap]: both indexes can move between the two loads.
func (r *spsc[T]) Len() int {
	t := r.tail.Load()
	h := r.head.Load()
	if h >= t {
		return 0
	}
	return int(min(t-h, uint64(len(r.buf))))
}

// Push copies *v into the ring. It reports false, and leaves the ring as it
// was, when the ring is full: the caller drops the newest entry and counts it
// (docs/ARCHITECTURE.md "Overload"), because inputs are redundant and the next datagram
// repeats them. Producer only.
func (r *spsc[T]) Push(v *T) bool {
	t := r.tail.Load() // our own index: no other writer
	if t-r.cachedHead == uint64(len(r.buf)) {
		r.cachedHead = r.head.Load()
		if t-r.cachedHead == uint64(len(r.buf)) {
			return false
		}
	}
	r.buf[t&r.mask] = *v
	r.tail.Store(t + 1)
	return true
}

// Drain calls f on every entry that was queued when Drain started, oldest
// first, then releases them all at once. Entries pushed while Drain runs wait
// for the next call, so one Drain is bounded by the ring's size. f must not
// keep the pointer. Consumer only.
func (r *spsc[T]) Drain(f func(*T)) int {
	h := r.head.Load()
	t := r.tail.Load()
	for i := h; i != t; i++ {
		f(&r.buf[i&r.mask])
	}
	r.head.Store(t)
	return int(t - h)
}

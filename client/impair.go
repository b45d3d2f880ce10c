package client

import (
	"math/rand/v2"

	"github.com/treasured/treasured/schema"
)

// Impairment configures user-space network impairment, applied by a client to
// what it sends and to what it receives: the way to test "loot shown exactly
// once even when the network drops a fifth of the packets" on loopback, which
// neither loses nor reorders. The zero value is a perfect network.
type Impairment struct {
	Loss    float64 // probability a datagram is dropped
	Dup     float64 // probability a surviving datagram is delivered twice
	Reorder float64 // probability a surviving datagram is held back and delivered after the next one
	// MaxHold bounds, in ns, how long a held datagram waits for a successor;
	// Flush releases it after that. 0 means 20 ms: less than one 50 ms tick,
	// so reordering never turns into loss.
	MaxHold int64
	Seed    uint64 // RNG seed; equal seeds give equal impairment decisions
}

// Active reports whether the impairment changes anything.
func (m Impairment) Active() bool { return m.Loss > 0 || m.Dup > 0 || m.Reorder > 0 }

// ImpairStats counts the impairer's decisions.
type ImpairStats struct {
	In, Dropped, Duplicated, Reordered uint64
}

// Impairer applies an Impairment to one direction of one socket with its own
// seeded RNG (PCG, a value, no allocation). It holds at most one datagram
// back for reordering, in its own buffer. Owned by one goroutine.
type Impairer struct {
	cfg     Impairment
	rng     rand.PCG
	held    [schema.MaxDatagram]byte
	holding bool
	heldN   int
	heldAt  int64
	Stats   ImpairStats
}

// NewImpairer returns an Impairer for cfg. stream distinguishes the
// directions and clients that share one seed.
func NewImpairer(cfg Impairment, stream uint64) *Impairer {
	im := &Impairer{}
	im.Init(cfg, stream)
	return im
}

// Init (re)initialises im in place.
func (im *Impairer) Init(cfg Impairment, stream uint64) {
	if cfg.MaxHold <= 0 {
		cfg.MaxHold = 20e6
	}
	im.cfg = cfg
	im.rng.Seed(cfg.Seed, stream*0x9e3779b97f4a7c15+1)
	im.holding = false
	im.Stats = ImpairStats{}
}

func (im *Impairer) chance(p float64) bool {
	if p <= 0 {
		return false
	}
	return float64(im.rng.Uint64()>>11)/(1<<53) < p
}

// Pass runs datagram b through the impairment at time now and calls deliver
// for each datagram that comes out, in order: none (lost, or held back), one,
// or up to three (b twice and a datagram held back earlier). deliver must not
// retain its argument. Datagrams longer than schema.MaxDatagram are never
// held (they are delivered or dropped as usual).
func (im *Impairer) Pass(b []byte, now int64, deliver func([]byte)) {
	im.Stats.In++
	if im.chance(im.cfg.Loss) {
		im.Stats.Dropped++
		im.Flush(now, deliver)
		return
	}
	copies := 1
	if im.chance(im.cfg.Dup) {
		im.Stats.Duplicated++
		copies = 2
	}
	if !im.holding && len(b) <= len(im.held) && im.chance(im.cfg.Reorder) {
		im.Stats.Reordered++
		im.holding = true
		im.heldN = copy(im.held[:], b)
		im.heldAt = now
		if copies == 2 {
			deliver(b) // the duplicate overtakes the held original
		}
		return
	}
	for range copies {
		deliver(b)
	}
	if im.holding {
		im.holding = false
		deliver(im.held[:im.heldN])
	}
}

// Flush delivers the held datagram if it has waited MaxHold or longer. Call it
// from the owner's timer so a held datagram is not stranded when traffic
// stops.
func (im *Impairer) Flush(now int64, deliver func([]byte)) {
	if im.holding && now-im.heldAt >= im.cfg.MaxHold {
		im.holding = false
		deliver(im.held[:im.heldN])
	}
}

// Held reports whether a datagram is held back.
func (im *Impairer) Held() bool { return im.holding }

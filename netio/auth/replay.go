package auth

import (
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
)

// Replay cache refusals.
var (
	ErrReplayed    = errors.New("auth: token already used by another connection")
	ErrReplayCache = errors.New("auth: replay cache full, token refused")
)

const replayWays = 8 // entries per bucket: one cache line pair to scan

type replayEntry struct {
	id      TokenID
	owner   uint64 // who first used it (the wiring's choice: address and nonce hash)
	expires uint64 // Unix seconds; 0 marks a free entry
}

type replayBucket [replayWays]replayEntry

// replayShard is locked on its own so event loops contend only when their
// tokens hash to the same shard.
type replayShard struct {
	mu       sync.Mutex
	buckets  []replayBucket
	occupied int    // entries holding a token, expired ones until reused
	replayed uint64 // Admit refusals: ErrReplayed
	full     uint64 // Admit refusals: ErrReplayCache
	_        [64]byte
}

// ReplayCache remembers the tokens used until they expire, so a token is
// good for one connection. It is a fixed set-associative table: Admit is
// O(1) (one bucket of 8), memory is fixed at construction and an expired
// entry is reused in place. When a bucket holds 8 live tokens the cache
// refuses the new one (ErrReplayCache) rather than forget a live one: it
// fails closed. Only tokens that verified are admitted, so filling it takes
// tokens from the issuer; size it for the issuing rate times the token
// lifetime, with headroom (a bucket fills early when the table is over about
// half full).
type ReplayCache struct {
	seed   maphash.Seed
	shards []replayShard
}

// ReplayStats is one shard's accounting.
type ReplayStats struct {
	Capacity, Occupied int
	Replayed, Full     uint64
}

// NewReplayCache holds at least capacity tokens in shards shards (both
// rounded up to powers of two).
func NewReplayCache(capacity, shards int) (*ReplayCache, error) {
	if capacity < 1 || shards < 1 || capacity > 1<<26 || shards > 1<<10 {
		return nil, fmt.Errorf("auth: replay cache of %d entries in %d shards: want 1..%d entries, 1..%d shards", capacity, shards, 1<<26, 1<<10)
	}
	s := ceilPow2(shards)
	perShard := ceilPow2((capacity + s*replayWays - 1) / (s * replayWays))
	c := &ReplayCache{seed: maphash.MakeSeed(), shards: make([]replayShard, s)}
	for i := range c.shards {
		c.shards[i].buckets = make([]replayBucket, perShard)
	}
	return c, nil
}

func ceilPow2(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}

// Admit records that owner uses token id (valid until expires) at now, both
// Unix seconds. It returns nil for the first use and for a repeat by the
// same owner (a retransmitted Connect), ErrReplayed when another owner used
// it, ErrReplayCache when its bucket is full of live tokens.
func (c *ReplayCache) Admit(id TokenID, owner, expires, now uint64) error {
	h := maphash.Bytes(c.seed, id[:])
	sh := &c.shards[h&uint64(len(c.shards)-1)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b := &sh.buckets[(h>>32)&uint64(len(sh.buckets)-1)]
	free := -1
	for i := range b {
		e := &b[i]
		if e.expires == 0 || e.expires <= now {
			if free < 0 {
				free = i
			}
			continue
		}
		if e.id == id {
			if e.owner == owner {
				return nil
			}
			sh.replayed++
			return ErrReplayed
		}
	}
	if free < 0 {
		sh.full++
		return ErrReplayCache
	}
	if b[free].expires == 0 {
		sh.occupied++
	}
	b[free] = replayEntry{id: id, owner: owner, expires: expires}
	if expires == 0 { // an entry must look used; tokens never expire at 0
		b[free].expires = 1
	}
	return nil
}

// Shards is the number of shards, for Stats.
func (c *ReplayCache) Shards() int { return len(c.shards) }

// Stats reads shard i's accounting.
func (c *ReplayCache) Stats(i int) ReplayStats {
	sh := &c.shards[i]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return ReplayStats{
		Capacity: len(sh.buckets) * replayWays,
		Occupied: sh.occupied,
		Replayed: sh.replayed,
		Full:     sh.full,
	}
}

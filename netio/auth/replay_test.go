package auth

import (
	"encoding/binary"
	"errors"
	"testing"
)

func tokenID(n uint64) TokenID {
	var id TokenID
	binary.LittleEndian.PutUint64(id[:], n)
	binary.LittleEndian.PutUint64(id[8:], ^n)
	return id
}

func TestReplayCache(t *testing.T) {
	c, err := NewReplayCache(64, 2)
	if err != nil {
		t.Fatal(err)
	}
	const now, exp = 1000, 1030
	if err := c.Admit(tokenID(1), 7, exp, now); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if err := c.Admit(tokenID(1), 7, exp, now+1); err != nil {
		t.Fatalf("same owner again (a retransmitted Connect): %v", err)
	}
	if err := c.Admit(tokenID(1), 8, exp, now+1); !errors.Is(err, ErrReplayed) {
		t.Fatalf("another owner: %v, want ErrReplayed", err)
	}
	if err := c.Admit(tokenID(2), 8, exp, now+1); err != nil {
		t.Fatalf("another token: %v", err)
	}
	// Once expired the entry is forgotten (the verifier refuses the token
	// itself from then on) and its room reused.
	if err := c.Admit(tokenID(1), 8, exp+30, exp); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if sum := sumStats(t, c); sum.Replayed != 1 || sum.Occupied != 2 {
		t.Fatalf("stats: replayed %d occupied %d, want 1 and 2", sum.Replayed, sum.Occupied)
	}
}

// TestReplayCacheBounded: far more live tokens than the cache holds are
// refused with ErrReplayCache, never forgotten (a forgotten live token could
// be replayed), and the memory does not grow; after they expire the cache
// admits again.
func TestReplayCacheBounded(t *testing.T) {
	c, err := NewReplayCache(128, 4)
	if err != nil {
		t.Fatal(err)
	}
	capacity := 0
	for i := range c.Shards() {
		capacity += c.Stats(i).Capacity
	}
	var admitted []uint64
	full := 0
	for n := range uint64(10 * capacity) {
		switch err := c.Admit(tokenID(n), 1, 100, 10); {
		case err == nil:
			admitted = append(admitted, n)
		case errors.Is(err, ErrReplayCache):
			full++
		default:
			t.Fatal(err)
		}
	}
	if len(admitted) > capacity || full == 0 {
		t.Fatalf("admitted %d of capacity %d, %d refused as full", len(admitted), capacity, full)
	}
	for _, n := range admitted {
		if err := c.Admit(tokenID(n), 2, 100, 11); !errors.Is(err, ErrReplayed) {
			t.Fatalf("token %d forgotten while live: %v", n, err)
		}
	}
	if sum := sumStats(t, c); sum.Full != uint64(full) || sum.Occupied != len(admitted) {
		t.Fatalf("stats: full %d (want %d), occupied %d (want %d)", sum.Full, full, sum.Occupied, len(admitted))
	}
	if err := c.Admit(tokenID(1<<40), 1, 200, 100); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
}

func TestReplayCacheNoAlloc(t *testing.T) {
	c, err := NewReplayCache(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	n := uint64(0)
	if a := testing.AllocsPerRun(500, func() {
		_ = c.Admit(tokenID(n), 1, 100+n, n)
		n++
	}); a != 0 {
		t.Fatalf("%v allocations per Admit", a)
	}
}

func TestNewReplayCacheRefusesBadSizes(t *testing.T) {
	for _, s := range [][2]int{{0, 1}, {1, 0}, {1 << 27, 1}, {8, 1 << 11}} {
		if _, err := NewReplayCache(s[0], s[1]); err == nil {
			t.Errorf("NewReplayCache(%d, %d) accepted", s[0], s[1])
		}
	}
}

// TestReplayCacheConcurrent: event loops admitting the same tokens at once
// (a token replayed to two sockets) let exactly one owner have each.
func TestReplayCacheConcurrent(t *testing.T) {
	c, err := NewReplayCache(4096, 4)
	if err != nil {
		t.Fatal(err)
	}
	const loops, tokens = 4, 500
	wins := make([][]bool, loops)
	done := make(chan struct{})
	for l := range loops {
		wins[l] = make([]bool, tokens)
		go func() {
			defer func() { done <- struct{}{} }()
			for n := range tokens {
				wins[l][n] = c.Admit(tokenID(uint64(n)), uint64(l+1), 100, 10) == nil
			}
		}()
	}
	for range loops {
		<-done
	}
	for n := range tokens {
		owners := 0
		for l := range loops {
			if wins[l][n] {
				owners++
			}
		}
		if owners != 1 {
			t.Fatalf("token %d admitted for %d owners", n, owners)
		}
	}
}

// sumStats adds up the shards' stats; the shards must be of one size.
func sumStats(t *testing.T, c *ReplayCache) (sum ReplayStats) {
	t.Helper()
	for i := range c.Shards() {
		s := c.Stats(i)
		if s.Capacity != c.Stats(0).Capacity {
			t.Fatal("shards of different sizes")
		}
		sum.Capacity += s.Capacity
		sum.Occupied += s.Occupied
		sum.Replayed += s.Replayed
		sum.Full += s.Full
	}
	return sum
}

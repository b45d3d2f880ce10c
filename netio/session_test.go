package netio

import "testing"

func TestPartitionOwnership(t *testing.T) {
	const loops, slots = 3, 10
	seen := make(map[int32]int)
	for l := range loops {
		p, err := newPartition(l, loops, slots)
		if err != nil {
			t.Fatal(err)
		}
		prev := int32(-1)
		for {
			local, _, ok := p.alloc(0)
			if !ok {
				break
			}
			s := p.slotOf(local)
			if int(s)%loops != l || s >= slots || s <= prev {
				t.Fatalf("loop %d got slot %d after %d", l, s, prev)
			}
			prev = s
			seen[s]++
		}
	}
	if len(seen) != slots {
		t.Fatalf("slots covered: %v", seen)
	}
	if _, err := newPartition(0, 1, MaxSlots+1); err == nil {
		t.Fatal("too many slots accepted")
	}
}

func TestSessionIDLayout(t *testing.T) {
	id := makeSessionID(12345, 0x1ff, 0xffffffff)
	if sessionSlot(id) != 12345 {
		t.Fatalf("slot %d", sessionSlot(id))
	}
	if id>>63 != 1 || (id>>24)&0xff != 0xff {
		t.Fatalf("id %x", id)
	}
	if makeSessionID(0, 0, 0) == 0 {
		t.Fatal("zero id possible")
	}
	// A slot owned by another loop, or past the end, never resolves.
	p, _ := newPartition(1, 2, 8)
	local, _, _ := p.alloc(0)
	s := &p.sess[local]
	s.state, s.id = slotActive, makeSessionID(p.slotOf(local), 1, 5)
	if p.lookup(s.id) != s {
		t.Fatal("own session not found")
	}
	if p.lookup(makeSessionID(0, 1, 5)) != nil || p.lookup(makeSessionID(9, 1, 5)) != nil {
		t.Fatal("foreign or out-of-range slot resolved")
	}
	if p.lookup(s.id^1<<40) != nil {
		t.Fatal("id with other random bits resolved")
	}
}

func TestTokenBucket(t *testing.T) {
	const cost, burst = 100, 5
	var b tokenBucket
	b.reset(0, cost*burst)
	for i := range burst {
		if ok, _ := b.allow(0, cost, cost*burst); !ok {
			t.Fatalf("burst datagram %d refused", i)
		}
	}
	ok, first := b.allow(0, cost, cost*burst)
	if ok || !first {
		t.Fatalf("over burst: ok=%v first=%v", ok, first)
	}
	if _, first = b.allow(1, cost, cost*burst); first {
		t.Fatal("flooder counted twice")
	}
	if ok, _ = b.allow(cost+1, cost, cost*burst); !ok {
		t.Fatal("refill did not allow one more")
	}
	// A long silence refills to the burst, no further.
	b.allow(1_000_000, cost, cost*burst)
	n := 0
	for {
		if ok, _ := b.allow(1_000_000, cost, cost*burst); !ok {
			break
		}
		n++
	}
	if n != burst-1 {
		t.Fatalf("after idle allowed %d more, want %d", n, burst-1)
	}
}

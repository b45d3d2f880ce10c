package netio

import (
	"sync"
	"testing"
)

func TestSPSCSize(t *testing.T) {
	for _, n := range []int{0, 1, 3, 6, 1000} {
		if _, err := newSPSC[int](n); err == nil {
			t.Errorf("size %d accepted", n)
		}
	}
	r, err := newSPSC[int](8)
	if err != nil || r.Cap() != 8 {
		t.Fatalf("size 8: %v cap %d", err, r.Cap())
	}
}

// A full ring refuses the newest entry and keeps every older one intact.
func TestSPSCFullDropsNewest(t *testing.T) {
	r, _ := newSPSC[int](4)
	for i := range 4 {
		v := i
		if !r.Push(&v) {
			t.Fatalf("push %d refused with room", i)
		}
	}
	v := 99
	if r.Push(&v) {
		t.Fatal("push into a full ring accepted")
	}
	if r.Len() != 4 {
		t.Fatalf("len %d", r.Len())
	}
	var got []int
	n := r.Drain(func(p *int) { got = append(got, *p) })
	if n != 4 || len(got) != 4 {
		t.Fatalf("drained %d %v", n, got)
	}
	for i, g := range got {
		if g != i {
			t.Fatalf("got %v, want 0..3 in order", got)
		}
	}
	if r.Len() != 0 || !r.Push(&v) {
		t.Fatal("ring not reusable after drain")
	}
}

// One producer, one consumer, run under -race: every pushed value arrives
// once, in order, and the drops are exactly the refused pushes.
func TestSPSCConcurrent(t *testing.T) {
	type item struct {
		seq uint64
		pad [5]uint64 // make entries wider than a word so torn copies would show
		sum uint64
	}
	r, _ := newSPSC[item](64)
	const total = 200_000
	var pushed, refused uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := uint64(1); i <= total; i++ {
			it := item{seq: i, sum: i * 7}
			for j := range it.pad {
				it.pad[j] = i
			}
			if r.Push(&it) {
				pushed++
			} else {
				refused++
			}
		}
	}()
	var got, last uint64
	bad := ""
	check := func(it *item) {
		if it.seq <= last || it.sum != it.seq*7 || it.pad[4] != it.seq {
			bad = "out of order or torn entry"
		}
		last = it.seq
		got++
	}
	for {
		select {
		case <-done:
			r.Drain(check)
			if bad != "" {
				t.Fatal(bad)
			}
			if got != pushed || pushed+refused != total {
				t.Fatalf("pushed %d refused %d received %d", pushed, refused, got)
			}
			return
		default:
			r.Drain(check)
		}
	}
}

// Len is read by the metrics scraper while both sides run.
func TestSPSCLenConcurrent(t *testing.T) {
	r, _ := newSPSC[int](16)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; i < 50_000; i++ {
			r.Push(&i)
		}
	}()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				if n := r.Len(); n < 0 || n > 16 {
					panic("impossible ring length")
				}
			}
		}
	}()
	for i := 0; i < 5000; i++ {
		r.Drain(func(*int) {})
	}
	close(stop)
	wg.Wait()
}

func TestSPSCNoAlloc(t *testing.T) {
	r, _ := newSPSC[ringEntry](1024)
	var e ringEntry
	drain := func(*ringEntry) {}
	if n := testing.AllocsPerRun(1000, func() {
		r.Push(&e)
		r.Drain(drain)
	}); n != 0 {
		t.Fatalf("push+drain allocates %v", n)
	}
}

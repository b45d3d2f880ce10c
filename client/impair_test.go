package client

import (
	"bytes"
	"testing"
)

func TestImpairerPerfectNetwork(t *testing.T) {
	im := NewImpairer(Impairment{}, 0)
	var out [][]byte
	for i := range 100 {
		im.Pass([]byte{byte(i)}, int64(i), func(b []byte) { out = append(out, bytes.Clone(b)) })
	}
	if len(out) != 100 {
		t.Fatalf("%d out of 100", len(out))
	}
	for i, b := range out {
		if b[0] != byte(i) {
			t.Fatalf("out[%d] = %d", i, b[0])
		}
	}
}

func TestImpairerRates(t *testing.T) {
	const n = 20000
	im := NewImpairer(Impairment{Loss: 0.22, Dup: 0.05, Reorder: 0.1, Seed: 42}, 1)
	counts := map[int]int{}
	var order []int
	for i := range n {
		b := []byte{byte(i), byte(i >> 8)}
		im.Pass(b, int64(i), func(b []byte) {
			v := int(b[0]) | int(b[1])<<8
			counts[v]++
			order = append(order, v)
		})
	}
	im.Flush(1<<62, func(b []byte) { counts[int(b[0])|int(b[1])<<8]++ })
	lost, dup := 0, 0
	for i := range n {
		switch counts[i] {
		case 0:
			lost++
		case 2:
			dup++
		case 1:
		default:
			t.Fatalf("datagram %d delivered %d times", i, counts[i])
		}
	}
	inversions := 0
	for i := 1; i < len(order); i++ {
		if order[i] < order[i-1] {
			inversions++
		}
	}
	// Binomial: n*p ± 5 sd.
	check := func(name string, got int, p float64) {
		mean := float64(n) * p
		sd := mean * (1 - p)
		if d := float64(got) - mean; d*d > 25*sd {
			t.Errorf("%s: %d, expected about %.0f", name, got, mean)
		}
	}
	check("lost", lost, 0.22)
	check("duplicated", dup, 0.78*0.05)
	if inversions < n/50 {
		t.Errorf("only %d reorderings", inversions)
	}
	if im.Stats.Dropped != uint64(lost) || im.Stats.In != n {
		t.Errorf("stats %+v, lost %d", im.Stats, lost)
	}
	// Same seed and stream: same decisions.
	im2 := NewImpairer(Impairment{Loss: 0.22, Dup: 0.05, Reorder: 0.1, Seed: 42}, 1)
	var order2 []int
	for i := range n {
		im2.Pass([]byte{byte(i), byte(i >> 8)}, int64(i), func(b []byte) { order2 = append(order2, int(b[0])|int(b[1])<<8) })
	}
	if len(order2) != len(order) {
		t.Fatal("same seed, different outcome")
	}
}

func TestImpairerFlushReleasesHeld(t *testing.T) {
	im := NewImpairer(Impairment{Reorder: 1, MaxHold: 10}, 0)
	got := 0
	im.Pass([]byte{1}, 100, func([]byte) { got++ })
	if got != 0 || !im.Held() {
		t.Fatalf("reorder 1: delivered %d held %v", got, im.Held())
	}
	im.Flush(105, func([]byte) { got++ })
	if got != 0 {
		t.Fatal("flushed before MaxHold")
	}
	im.Flush(110, func([]byte) { got++ })
	if got != 1 || im.Held() {
		t.Fatalf("flush: delivered %d held %v", got, im.Held())
	}
}

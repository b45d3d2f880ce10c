//go:build linux

package main

import (
	"testing"
	"time"
)

// A short blast on loopback moves datagrams in both directions and counts
// them consistently. No rate is asserted.
func TestBlastEcho(t *testing.T) {
	c := &config{duration: 100 * time.Millisecond, batch: 16, echoCPU: -1, clientCPU: -1}
	r, err := blast(c, 200)
	if err != nil {
		t.Fatal(err)
	}
	// Totals after the drain: loopback may drop under load, but never
	// invents, and with 8 MB buffers something always arrives.
	if r.TotalSent == 0 || r.TotalReceived == 0 || r.TotalEchoed == 0 {
		t.Fatalf("%+v", r)
	}
	if r.TotalReceived > r.TotalSent || r.TotalEchoed > r.TotalReceived {
		t.Fatalf("more received than sent: %+v", r)
	}
	c.oneway = true
	r, err = blast(c, 1200)
	if err != nil {
		t.Fatal(err)
	}
	if r.TotalReceived == 0 || r.TotalEchoed != 0 {
		t.Fatalf("oneway %+v", r)
	}
}

package affinity

import (
	"errors"
	"strings"
	"testing"
)

// TestPlanOrUnpinned: a host whose topology cannot be read runs unpinned
// with the loops asked for (at least one) and a note, unless the request
// names CPUs, which cannot be checked there.
func TestPlanOrUnpinned(t *testing.T) {
	noSys := errors.New("no /sys")
	l, topo, err := planOrUnpinned(Topology{}, noSys, Request{IOLoops: 3})
	if err != nil || l.Loops != 3 || len(l.Engine)+len(l.IO) != 0 || len(topo.CPUs) != 0 {
		t.Fatalf("unreadable topology: %+v %v %v", l, topo, err)
	}
	if len(l.Notes) != 1 || !strings.Contains(l.Notes[0], "not pinned") {
		t.Errorf("notes %q: want one saying the threads are not pinned", l.Notes)
	}
	if l, _, _ := planOrUnpinned(Topology{}, noSys, Request{}); l.Loops != 1 {
		t.Errorf("no loops asked: %d loops, want 1", l.Loops)
	}
	for _, req := range []Request{{EngineCores: []int{1}}, {IOCores: []int{0}}, {IOLoops: -1}} {
		if _, _, err := planOrUnpinned(Topology{}, noSys, req); err == nil {
			t.Errorf("%+v on an unreadable topology: no error", req)
		}
	}
}

// TestOneCPU: one CPU is the engine and I/O on the same single CPU, or a
// single P.
func TestOneCPU(t *testing.T) {
	for _, tc := range []struct {
		l          Layout
		gomaxprocs int
		want       bool
	}{
		{Layout{Engine: []int{0}, IO: []int{0}}, 2, true},
		{Layout{Engine: []int{1}, IO: []int{0}}, 2, false},
		{Layout{Engine: []int{0, 1}, IO: []int{0}}, 2, false},
		{Layout{Engine: []int{1}, IO: []int{0}}, 1, true},
		{Layout{}, 2, false}, // unpinned: the CPUs are not known
	} {
		if got := tc.l.OneCPU(tc.gomaxprocs); got != tc.want {
			t.Errorf("%+v gomaxprocs %d: OneCPU %v, want %v", tc.l, tc.gomaxprocs, got, tc.want)
		}
	}
}

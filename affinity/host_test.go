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

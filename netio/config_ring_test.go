package netio

import (
	"runtime"
	"testing"
)

func TestDefaultRingSize(t *testing.T) {
	for _, c := range []struct{ players, loops, want int }{
		{1, 1, DefaultRingSize},
		{2048, 1, DefaultRingSize},
		{2049, 1, 8192},
		{4200, 1, 16384},
		{16384, 1, 32768},
		{16384, 2, 16384},
		{16384, 31, DefaultRingSize},
		{1 << 22, 1, 1 << 20},
	} {
		got := defaultRingSize(c.players, c.loops)
		if got != c.want {
			t.Errorf("defaultRingSize(%d, %d) = %d, want %d", c.players, c.loops, got, c.want)
		}
		if got&(got-1) != 0 {
			t.Errorf("defaultRingSize(%d, %d) = %d: not a power of two", c.players, c.loops, got)
		}
		// The promise: two ticks of one Input per player of this loop, unless capped.
		if per := (c.players + c.loops - 1) / c.loops; got < 2*per && got != 1<<20 {
			t.Errorf("defaultRingSize(%d, %d) = %d holds less than two ticks of %d players", c.players, c.loops, got, per)
		}
	}
}

// TestNormalizeUnlockedDropsPin: with unlocked threads nothing is pinned,
// whatever PinThread and the CPU lists say (pinning needs a locked thread).
func TestNormalizeUnlockedDropsPin(t *testing.T) {
	pin := func([]int) error { return nil }
	for _, unlocked := range []bool{false, true} {
		c := Config{NoAuth: true, Addr: "127.0.0.1:0", EngineCPUs: []int{0}, PinThread: pin, UnlockedThreads: unlocked,
			shape: worldShape{maxPlayers: 8, regions: 1, tickHz: 20, period: 50e6}}
		if _, err := c.normalize(); err != nil {
			t.Fatal(err)
		}
		if got := c.PinThread != nil; got == unlocked {
			t.Errorf("unlocked %v: PinThread kept %v", unlocked, got)
		}
	}
}

// TestInlineIOFits: inline I/O only for mmsg, one loop, one CPU (one P,
// or engine and I/O on the same single CPU).
func TestInlineIOFits(t *testing.T) {
	one := Config{Backend: BackendMmsg, Loops: 1, IOCPUs: []int{0}, EngineCPUs: []int{0}}
	if !InlineIOFits(&one) {
		t.Error("mmsg, one loop, engine and I/O on CPU 0: not inline")
	}
	for _, c := range []Config{
		{Backend: BackendGnet, Loops: 1, IOCPUs: []int{0}, EngineCPUs: []int{0}},
		{Backend: BackendMmsg, Loops: 2, IOCPUs: []int{0}, EngineCPUs: []int{0}},
		{Backend: BackendMmsg, Loops: 1, IOCPUs: []int{0}, EngineCPUs: []int{1}},
	} {
		if InlineIOFits(&c) && runtime.GOMAXPROCS(0) > 1 {
			t.Errorf("%v, %d loops, I/O %v, engine %v: inline", c.Backend, c.Loops, c.IOCPUs, c.EngineCPUs)
		}
	}
	if !oneCPU(&Config{IOCPUs: []int{0}, EngineCPUs: []int{1}}, 1) {
		t.Error("one P is one CPU whatever the lists say")
	}
}

// TestReasonNamesComplete: every value of each enum a counter array is
// indexed by has its own non-empty metric label (the compile-time guards
// check the count; a keyed array literal could still leave a hole).
func TestReasonNamesComplete(t *testing.T) {
	for what, names := range map[string][]string{
		"drop":   dropReasonNames[:],
		"end":    endReasonNames[:],
		"refuse": refuseReasonNames[:],
		"reject": rejectNames[:],
	} {
		seen := map[string]bool{}
		for i, n := range names {
			if n == "" || seen[n] {
				t.Errorf("%s reason %d: label %q is empty or repeated", what, i, n)
			}
			seen[n] = true
		}
	}
}

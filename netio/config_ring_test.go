package netio

import "testing"

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

package main

import "testing"

func TestParseSizes(t *testing.T) {
	s, err := parseSizes("1200, 64")
	if err != nil || len(s) != 2 || s[0] != 1200 || s[1] != 64 {
		t.Fatalf("%v %v", s, err)
	}
	for _, bad := range []string{"", "0", "70000", "12x"} {
		if _, err := parseSizes(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

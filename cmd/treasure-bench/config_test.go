package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseArgsDefaults(t *testing.T) {
	c, err := ParseArgs(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Rate != 20 || c.Players != 1000 || c.Mix != (Mix{6, 3, 1}) || c.Duration != 10*time.Second {
		t.Fatalf("%+v", c)
	}
}

func TestParseArgsBad(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--players", "0"}, "--players 0"},
		{[]string{"--players", "x"}, "invalid value"},
		{[]string{"--rate", "-1"}, "--rate"},
		{[]string{"--loss", "1.5"}, "--loss"},
		{[]string{"--loss", "NaN"}, "--loss"},
		{[]string{"--mix", "move=1,jump=2"}, "unknown action"},
		{[]string{"--mix", "move=0"}, "all weights are 0"},
		{[]string{"--mix", "move=1,move=2"}, "twice"},
		{[]string{"--mix", "move"}, "name=weight"},
		{[]string{"--addr", "nohost"}, "--addr"},
		{[]string{"--admin", "127.0.0.1:7778"}, "--admin"},
		{[]string{"--duration", "0s"}, "--duration"},
		{[]string{"--progress", "sometimes"}, "--progress"},
		{[]string{"extra"}, "unexpected argument"},
		{[]string{"--no-such-flag"}, "not defined"},
	} {
		_, err := ParseArgs(tc.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestParseMix(t *testing.T) {
	m, err := ParseMix(" pickup=2 , move=5")
	if err != nil || m != (Mix{Move: 5, Pickup: 2}) {
		t.Fatalf("%v %v", m, err)
	}
}

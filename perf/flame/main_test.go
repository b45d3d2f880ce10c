package main

import (
	"bytes"
	"strings"
	"testing"
)

const script = `treasured 15632 [001]  1385.398917:     250000 cpu-clock:
	ffffffff81b63a23 lockref_get_not_dead+0x3 ([kernel.kallsyms])
	ffffffff816c964a __legitimize_path+0x2a ([kernel.kallsyms])
	           4a5b1 main.tick+0x31 (/bin/treasured)
	           4a000 main.main+0x10 (/bin/treasured)

treasured 15632 [001]  1385.399137:     250000 cpu-clock:
	           4a5b1 main.tick+0x40 (/bin/treasured)
	           4a000 main.main+0x10 (/bin/treasured)

treasured 15632 [001]  1385.399387:     250000 cpu-clock:
	           4a5b1 main.tick+0x44 (/bin/treasured)
	           4a000 main.main+0x10 (/bin/treasured)
bench 9 [000] 1.0: 250000 cpu-clock:
	               0 [unknown] (/usr/lib/libc.so.6)
`

func TestFold(t *testing.T) {
	f, err := Fold(strings.NewReader(script))
	if err != nil {
		t.Fatal(err)
	}
	if f["treasured;main.main;main.tick"] != 2 || f["treasured;main.main;main.tick;__legitimize_path;lockref_get_not_dead"] != 1 || f["bench;[libc.so.6]"] != 1 || len(f) != 3 {
		t.Fatalf("%v", f)
	}
	var b bytes.Buffer
	if err := SVG(&b, f, "t<1>"); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	if !strings.Contains(s, "<svg") || !strings.Contains(s, "main.tick (3 samples, 75.00%)") || !strings.Contains(s, "t&lt;1&gt; (4 samples)") {
		t.Fatalf("%s", s)
	}
	if err := SVG(&b, map[string]int{}, ""); err == nil {
		t.Fatal("empty profile drew")
	}
}

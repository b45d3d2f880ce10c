package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestWritePlotPNG(t *testing.T) {
	rtt, apply := NewLatency(), NewLatency()
	t2w := newHist()
	for i := int64(1); i <= 5000; i++ {
		rtt.Record(0, 0, i*200)        // up to 1 ms
		apply.Record(0, 1000, i*10000) // up to 50 ms
		recordNs(t2w, i*1000)
	}
	r := newWorkerResult()
	r.RTT, r.Apply, r.TickToWire = rtt, apply, t2w
	cfg, _ := ParseArgs(nil, nil)
	rep := BuildReport(cfg, r, nil)
	path := filepath.Join(t.TempDir(), "p.png")
	if err := WritePlot(path, rep); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 1000 || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Fatalf("not a PNG (%d bytes)", len(b))
	}
	// Nothing measured: an error, not an empty picture.
	if err := WritePlot(path, BuildReport(cfg, newWorkerResult(), nil)); err == nil {
		t.Fatal("plot of an empty run succeeded")
	}
}

func TestPercentileTicks(t *testing.T) {
	ts := percentileTicks{}.Ticks(1, 1000)
	var labels []string
	for _, tk := range ts {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	if len(labels) != 4 || labels[0] != "0%" || labels[3] != "99.9%" {
		t.Fatalf("%v", labels)
	}
}

package netio

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/treasured/treasured/schema"
)

// TestRefusedVectorsDropped feeds the protocol's refused test vectors
// (schema/testdata/vectors/refused) to an event loop: each is dropped with
// no answer and counted under the drop reason its file names, as
// docs/PROTOCOL.md "What the server drops and what it answers" says.
func TestRefusedVectorsDropped(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "schema", "testdata", "vectors", "refused", "*.hex"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no refused vectors found: %v", err)
	}
	reasonRe := regexp.MustCompile(`treasured_drops_total\{reason="([a-z_]+)"\}`)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			text, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			m := reasonRe.FindSubmatch(text)
			if m == nil {
				t.Fatalf("%s names no drop reason", f)
			}
			b, err := schema.ParseHexDump(text)
			if err != nil {
				t.Fatal(err)
			}
			r := newRig(t, rigOpts{})
			from := testAddr("127.0.0.1:40000")
			if out := r.send(b, from); out != nil {
				t.Fatalf("answered %x", out)
			}
			for reason := DropReason(0); reason < NumDropReasons; reason++ {
				want := uint64(0)
				if reason.String() == string(m[1]) {
					want = 1
				}
				if got := r.drops(reason); got != want {
					t.Errorf("drops[%s] = %d, want %d", reason, got, want)
				}
			}
			if r.stats.Inputs.Load() != 0 || len(r.drain()) != 0 {
				t.Error("something reached the engine's ring")
			}
		})
	}
}

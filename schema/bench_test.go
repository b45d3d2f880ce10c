package schema

import (
	"testing"
)

// Benchmarks of the per-datagram costs on the hot paths: the receive loop
// verifies and decodes every Input, the client every Snapshot, and the
// fan-out encodes one Snapshot per player per tick.
//
//	go test -run='^$' -bench=. -benchmem -count=6 ./schema

var (
	sinkBytes []byte
	sinkBool  bool
)

func BenchmarkDecodeInput(b *testing.B) {
	buf := append([]byte(nil), NewEncoder().Input(fullInput())...)
	var d Decoder
	var f InputFrame
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(buf); err != nil {
			b.Fatal(err)
		}
		sinkBool = d.InputInto(&f)
	}
	b.ReportMetric(float64(len(buf)), "bytes/msg")
}

// BenchmarkVerifySnapshot is Decode alone on a full Snapshot: the verifier's
// cost, with the view ready for lazy reads.
func BenchmarkVerifySnapshot(b *testing.B) {
	buf := append([]byte(nil), NewEncoder().Snapshot(fullSnapshot())...)
	var d Decoder
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(buf)), "bytes/msg")
}

// BenchmarkDecodeSnapshot is Decode plus SnapshotInto: every element copied
// out into reused slices.
func BenchmarkDecodeSnapshot(b *testing.B) {
	buf := append([]byte(nil), NewEncoder().Snapshot(fullSnapshot())...)
	var d Decoder
	f := NewSnapshotFrame()
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(buf); err != nil {
			b.Fatal(err)
		}
		sinkBool = d.SnapshotInto(f)
	}
	b.ReportMetric(float64(len(buf)), "bytes/msg")
}

func BenchmarkEncodeSnapshot(b *testing.B) {
	e := NewEncoder()
	f := fullSnapshot()
	n := len(e.Snapshot(f))
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		sinkBytes = e.Snapshot(f)
	}
	b.ReportMetric(float64(n), "bytes/msg")
}

func BenchmarkEncodeInput(b *testing.B) {
	e := NewEncoder()
	f := fullInput()
	b.ReportAllocs()
	for b.Loop() {
		sinkBytes = e.Input(f)
	}
}

// BenchmarkPingPong is the event loop's whole answer to a Ping: decode it,
// encode the Pong.
func BenchmarkPingPong(b *testing.B) {
	e := NewEncoder()
	buf := append([]byte(nil), e.Ping(&PingFrame{SessionID: 1 << 40, T: 123456789})...)
	var d Decoder
	var p PingFrame
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(buf); err != nil {
			b.Fatal(err)
		}
		d.PingInto(&p)
		sinkBytes = e.Pong(&PongFrame{T: p.T, ServerTick: 7})
	}
}

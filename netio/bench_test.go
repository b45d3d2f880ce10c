package netio

import (
	"net"
	"testing"

	"github.com/treasured/treasured/engine"
	"github.com/treasured/treasured/netio/auth"
	"github.com/treasured/treasured/netio/udp"
)

// benchWorld is an engine with n joined players, spread over the regions.
func benchWorld(b *testing.B, n int) (*engine.World, []ringEntry) {
	b.Helper()
	cfg := engine.DefaultConfig()
	cfg.MaxPlayers = n
	w := newEngine(b, cfg)
	recs := make([]engine.Record, n)
	ents := make([]ringEntry, n)
	for i := range recs {
		recs[i] = engine.Record{Kind: engine.RecJoin, Player: int32(i), Gen: 1, Region: uint8(i % cfg.Regions), Key: uint64(i)}
		ents[i] = ringEntry{rec: recs[i], session: uint64(i)}
	}
	w.Step(recs)
	return w, ents
}

// BenchmarkFanout1000 is one tick's fan-out to 1,000 players with the real
// engine's snapshots and a given sender: the in-memory one isolates our
// code and the engine's encoder; "sendmmsg" adds the real system call on
// loopback (to one sink socket that does not read; the kernel's drops there
// do not slow the sender).
func BenchmarkFanout1000(b *testing.B) {
	const n = 1000
	for _, mode := range []string{"memory", "sendmmsg"} {
		b.Run(mode, func(b *testing.B) {
			w, ents := benchWorld(b, n)
			var snd BatchSender = &memSender{batch: DefaultBatchSize}
			var sink Addr
			if mode == "sendmmsg" {
				rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
				if err != nil {
					b.Fatal(err)
				}
				defer rx.Close()
				sink = udp.AddrFromAddrPort(rx.LocalAddr().(*net.UDPAddr).AddrPort())
				snd = loopbackSender(b)
			}
			fw := newFanWorker(EngineWorld(w).NewSnapshotter(), snd, &FanoutStats{})
			f, err := newFanout(n, []*fanWorker{fw}, true, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer f.close()
			for i := range ents {
				ents[i].addr = sink
				f.apply(&ents[i])
			}
			players := w.ActivePlayers(nil)
			b.ReportAllocs()
			for b.Loop() {
				w.Step(nil) // a new tick: the engine builds one snapshot per player per tick
				f.send(players, false)
			}
			b.ReportMetric(float64(fw.stats.Bytes.Load())/float64(fw.stats.Snapshots.Load()), "B/snapshot")
		})
	}
}

// BenchmarkTick4200Sealed is one tick at 4,200 players, the target
// load, with and without sealing: the engine's Step, every player's
// snapshot encoded, sealed (or not) and handed to an in-memory sender. The
// difference between the two is what authentication adds to the tick's
// work; the per-snapshot metric divides by the players.
func BenchmarkTick4200Sealed(b *testing.B) {
	const n = 4200
	for _, sealed := range []bool{false, true} {
		b.Run(map[bool]string{false: "plain", true: "sealed"}[sealed], func(b *testing.B) {
			w, ents := benchWorld(b, n)
			fw := newFanWorker(EngineWorld(w).NewSnapshotter(), &memSender{batch: DefaultBatchSize}, &FanoutStats{})
			f, err := newFanout(n, []*fanWorker{fw}, true, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer f.close()
			for i := range ents {
				if sealed {
					var k [auth.KeySize]byte
					k[0], k[1] = byte(i), byte(i>>8)
					if ents[i].seal, err = auth.NewSealer(makeSessionID(int32(i), 1, 1), &k); err != nil {
						b.Fatal(err)
					}
				}
				f.apply(&ents[i])
			}
			players := w.ActivePlayers(nil)
			b.ReportAllocs()
			for b.Loop() {
				w.Step(nil)
				f.send(players, false)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/player")
			b.ReportMetric(float64(fw.stats.Bytes.Load())/float64(fw.stats.Snapshots.Load()), "B/snapshot")
		})
	}
}

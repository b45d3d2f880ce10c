package netio

import (
	"encoding/binary"
	"testing"

	"github.com/treasured/treasured/engine"
	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// memSender is an in-memory BatchSender: it records what it was asked to
// send, or, with keep false, only counts (for allocation tests).
type memSender struct {
	batch int
	keep  bool
	sent  []kdgramPortable
	calls int
	drop  int // drop this many datagrams of the next Send, as if EAGAIN persisted
	waits []bool
}

type kdgramPortable struct {
	addr Addr
	data []byte
}

func (m *memSender) BatchSize() int { return m.batch }
func (m *memSender) Close() error   { return nil }
func (m *memSender) Send(bufs [][]byte, addrs []Addr, wait bool) SendResult {
	m.calls++
	if m.keep {
		m.waits = append(m.waits, wait)
	}
	var r SendResult
	r.Syscalls = 1
	for i, b := range bufs {
		if m.drop > 0 && i >= len(bufs)-m.drop {
			r.Dropped = m.drop
			r.WouldBlock = 1
			m.drop = 0
			break
		}
		r.Sent++
		r.Bytes += len(b)
		if m.keep {
			m.sent = append(m.sent, kdgramPortable{addrs[i], append([]byte(nil), b...)})
		}
	}
	return r
}

// stampSnapshotter returns a fixed-size datagram carrying the player id.
type stampSnapshotter struct{ buf []byte }

func (s *stampSnapshotter) Snapshot(p int32) []byte {
	binary.LittleEndian.PutUint32(s.buf, uint32(p))
	return s.buf
}

func joinEntry(slot int32, gen uint32, a Addr, session uint64) *ringEntry {
	return &ringEntry{rec: engine.Record{Kind: engine.RecJoin, Player: slot, Gen: gen}, addr: a, session: session}
}

func fanAddr(i int) Addr {
	var a Addr
	a.IP[10], a.IP[11], a.IP[12] = 0xff, 0xff, 127
	binary.BigEndian.PutUint16(a.IP[14:], uint16(i))
	a.Port = uint16(1000 + i)
	return a
}

func newTestFanout(t testing.TB, players, batch int, snd BatchSender) (*fanout, []int32) {
	t.Helper()
	w := newFanWorker(&stampSnapshotter{buf: make([]byte, 1000)}, snd, &FanoutStats{})
	f, err := newFanout(players, []*fanWorker{w}, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	ps := make([]int32, players)
	for i := range ps {
		ps[i] = int32(i)
		f.apply(joinEntry(int32(i), 1, fanAddr(i), uint64(i)))
	}
	return f, ps
}

func TestFanoutBatches(t *testing.T) {
	snd := &memSender{batch: 64, keep: true}
	f, ps := newTestFanout(t, 1000, 64, snd)
	f.send(ps, false)
	if len(snd.sent) != 1000 || snd.calls != (1000+63)/64 {
		t.Fatalf("sent %d in %d calls", len(snd.sent), snd.calls)
	}
	for i, d := range snd.sent {
		if d.addr != fanAddr(i) || binary.LittleEndian.Uint32(d.data) != uint32(i) || len(d.data) != 1000 {
			t.Fatalf("datagram %d went to %v with player %d", i, d.addr, binary.LittleEndian.Uint32(d.data))
		}
	}
	st := f.workers[0].stats
	if st.Snapshots.Load() != 1000 || st.Bytes.Load() != 1000*1000 || st.Syscalls.Load() != uint64(snd.calls) {
		t.Fatalf("stats %d %d", st.Snapshots.Load(), st.Bytes.Load())
	}
}

// A leave stops a player's snapshots; a leave of an older generation (the
// slot was reused) does not.
func TestFanoutPeers(t *testing.T) {
	snd := &memSender{batch: 8, keep: true}
	f, _ := newTestFanout(t, 4, 8, snd)
	f.apply(&ringEntry{rec: engine.Record{Kind: engine.RecLeave, Player: 1, Gen: 1}})
	f.apply(joinEntry(2, 2, fanAddr(22), 22))                                         // slot 2 reused
	f.apply(&ringEntry{rec: engine.Record{Kind: engine.RecLeave, Player: 2, Gen: 1}}) // stale
	f.send([]int32{0, 1, 2, 3}, false)
	if len(snd.sent) != 3 || snd.sent[1].addr != fanAddr(22) {
		t.Fatalf("sent %+v", snd.sent)
	}
	if f.workers[0].stats.NoAddress.Load() != 1 {
		t.Fatal("active player without address not counted")
	}
}

// After one batch gives up on EAGAIN, the rest of the tick does not wait;
// the next tick waits again.
func TestFanoutBackpressure(t *testing.T) {
	snd := &memSender{batch: 10, keep: true, drop: 3}
	f, ps := newTestFanout(t, 30, 10, snd)
	f.send(ps, false)
	if want := []bool{true, false, false}; len(snd.waits) != 3 || snd.waits[0] != want[0] || snd.waits[1] != want[1] || snd.waits[2] != want[2] {
		t.Fatalf("waits %v", snd.waits)
	}
	st := f.workers[0].stats
	if st.Dropped.Load() != 3 || st.WouldBlock.Load() != 1 || st.Snapshots.Load() != 27 {
		t.Fatalf("dropped %d eagain %d sent %d", st.Dropped.Load(), st.WouldBlock.Load(), st.Snapshots.Load())
	}
	f.send(ps, false)
	if !snd.waits[3] {
		t.Fatal("next tick does not wait")
	}
}

func TestFanoutBye(t *testing.T) {
	snd := &memSender{batch: 8, keep: true}
	f, _ := newTestFanout(t, 3, 8, snd)
	f.send([]int32{0, 2}, true)
	var dec schema.Decoder
	for i, d := range snd.sent {
		var b schema.ByeFrame
		if body, err := dec.Decode(d.data); err != nil || body != wire.BodyBye || !dec.ByeInto(&b) {
			t.Fatalf("bye %d: %v", i, err)
		}
		if want := uint64(i * 2); b.SessionID != want || b.Reason != uint8(wire.ByeReasonServerShutdown) {
			t.Fatalf("bye %d: %+v", i, b)
		}
	}
	if f.workers[0].stats.Byes.Load() != 2 || f.workers[0].stats.Snapshots.Load() != 0 {
		t.Fatal("byes counted as snapshots")
	}
}

// Several workers split the players; every player gets exactly one.
func TestFanoutWorkers(t *testing.T) {
	const players, workers = 1000, 3
	snds := make([]*memSender, workers)
	ws := make([]*fanWorker, workers)
	for i := range ws {
		snds[i] = &memSender{batch: 16, keep: true}
		ws[i] = newFanWorker(&stampSnapshotter{buf: make([]byte, 100)}, snds[i], &FanoutStats{})
	}
	f, err := newFanout(players, ws, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.close()
	ps := make([]int32, players)
	for i := range ps {
		ps[i] = int32(i)
		f.apply(joinEntry(int32(i), 1, fanAddr(i), 0))
	}
	for range 3 {
		for _, s := range snds {
			s.sent = s.sent[:0]
		}
		f.send(ps, false)
		seen := make([]int, players)
		for _, s := range snds {
			if len(s.sent) == 0 {
				t.Fatal("a worker sent nothing")
			}
			for _, d := range s.sent {
				seen[binary.LittleEndian.Uint32(d.data)]++
			}
		}
		for p, n := range seen {
			if n != 1 {
				t.Fatalf("player %d got %d snapshots", p, n)
			}
		}
	}
}

// A fan-out of 1,000 snapshots allocates nothing (our code; the sender here
// is in memory, see TestFanoutNoAllocMmsg for the sendmmsg path).
func TestFanoutNoAlloc(t *testing.T) {
	f, ps := newTestFanout(t, 1000, 64, &memSender{batch: 64})
	f.send(ps, false)
	if n := testing.AllocsPerRun(20, func() { f.send(ps, false) }); n != 0 {
		t.Fatalf("fan-out of 1000 allocates %v", n)
	}
}

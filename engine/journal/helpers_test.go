package journal

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/treasured/treasured/engine"
	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// testConfig is a small world where a few dozen players meet chests often:
// 2 regions of 4x4 zones of 8 m, 3 chests per zone, fast respawn.
func testConfig() engine.Config {
	c := engine.DefaultConfig()
	c.Seed = 0x6a6f75726e616c // "journal"
	c.Regions = 2
	c.ZonesX, c.ZonesY = 4, 4
	c.ZoneSize = 8_000
	c.ChestsPerZone = 3
	c.MaxPlayers = 48
	c.RespawnTicks = 120
	c.LootTTLTicks = 60
	c.MaxSpeedMM = 600
	c.MaxPending = 64
	return c
}

// randRecord is a record the engine could have applied (valid kind, at most
// 8 actions, unused actions zero, as in LastOrdered), with every field
// sometimes zero and sometimes not, so each presence bit is exercised.
func randRecord(rng *rand.Rand) engine.Record {
	maybe := func() bool { return rng.IntN(2) == 0 }
	r := engine.Record{
		Kind:   engine.RecordKind(1 + rng.IntN(3)),
		Player: int32(rng.IntN(1000)),
		Gen:    rng.Uint32(),
	}
	if rng.IntN(20) == 0 {
		r.Player = int32(rng.Uint32()) // negative and huge players are journaled as is
	}
	if maybe() {
		r.Region = uint8(rng.Uint32())
	}
	if maybe() {
		r.AckTick = rng.Uint32()
	}
	if maybe() {
		r.Key = rng.Uint64()
	}
	if maybe() {
		r.N = uint8(rng.IntN(schema.MaxActions + 1))
	}
	for i := range r.N {
		a := &r.Actions[i]
		a.Seq = rng.Uint32() >> rng.IntN(33)
		a.Kind = uint8(rng.IntN(5))
		if maybe() {
			a.Target = rng.Uint64()
		}
		// X and Y each zero or not: a Move to x=0 must keep its y.
		if maybe() {
			a.Pos.X = int32(rng.Uint32())
		}
		if maybe() {
			a.Pos.Y = int32(rng.Uint32())
		}
	}
	return r
}

// driver plays random sessions on a real World through its public API only:
// joins (some to a region that does not exist), leaves, Inputs that walk to
// a chest, open it and pick its loot up, retransmitted actions and
// duplicated records, all shuffled, as netio would deliver them.
type driver struct {
	w    *engine.World
	cfg  engine.Config
	rng  *rand.Rand
	gen  []uint32 // generation of the slot's newest Join
	seq  []uint32
	goal []int32 // chest walked to, -1 none
	last []schema.Action
	recs []engine.Record
}

func newDriver(w *engine.World, seed uint64) *driver {
	cfg := w.Config()
	d := &driver{
		w: w, cfg: cfg, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		gen:  make([]uint32, cfg.MaxPlayers),
		seq:  make([]uint32, cfg.MaxPlayers),
		goal: make([]int32, cfg.MaxPlayers),
		last: make([]schema.Action, cfg.MaxPlayers),
	}
	for i := range d.goal {
		d.goal[i] = -1
	}
	return d
}

// records returns the next tick's records, valid until the next call.
func (d *driver) records() []engine.Record {
	rng, w, cfg := d.rng, d.w, &d.cfg
	zpr := cfg.ZonesX * cfg.ZonesY
	perRegion := zpr * cfg.ChestsPerZone
	reach2 := int64(cfg.ReachMM) * int64(cfg.ReachMM)
	recs := d.recs[:0]
	for p := range int32(cfg.MaxPlayers) {
		if !w.Active(p) {
			if rng.IntN(10) == 0 {
				d.gen[p]++
				d.seq[p], d.goal[p] = 0, -1
				recs = append(recs, engine.Record{
					Kind: engine.RecJoin, Player: p, Gen: d.gen[p],
					Region: uint8(rng.IntN(cfg.Regions + 1)), Key: rng.Uint64() | 1,
				})
			}
			continue
		}
		if rng.IntN(300) == 0 {
			recs = append(recs, engine.Record{Kind: engine.RecLeave, Player: p, Gen: d.gen[p]})
			continue
		}
		ps, _ := w.Player(p)
		region := int(ps.Zone) / zpr
		if d.goal[p] < 0 || rng.IntN(150) == 0 {
			d.goal[p] = int32(region*perRegion + rng.IntN(perRegion))
		}
		ch, _ := w.Chest(uint32(d.goal[p]))
		r := engine.Record{Kind: engine.RecInput, Player: p, Gen: d.gen[p], AckTick: w.Tick()}
		if d.seq[p] > 0 && rng.IntN(4) == 0 {
			r.Actions[r.N] = d.last[p] // a retransmission: applied once
			r.N++
		}
		d.seq[p]++
		a := schema.Action{Seq: d.seq[p]}
		dx, dy := int64(ps.Pos.X-ch.Pos.X), int64(ps.Pos.Y-ch.Pos.Y)
		switch {
		case dx*dx+dy*dy > reach2:
			a.Kind, a.Pos = uint8(wire.ActionKindMove), ch.Pos
		case ch.Status == uint8(wire.ChestStatusClosed):
			a.Kind, a.Target = uint8(wire.ActionKindOpenChest), uint64(ch.ID)
		default:
			a.Kind, a.Target = uint8(wire.ActionKindPickupLoot), ch.LootID
			d.goal[p] = -1
		}
		r.Actions[r.N] = a
		r.N++
		d.last[p] = a
		recs = append(recs, r)
		if rng.IntN(30) == 0 {
			recs = append(recs, r) // the same datagram twice
		}
	}
	rng.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
	d.recs = recs
	return recs
}

// engineJournal drives a fresh world of testConfig for ticks ticks and
// returns its journal and the live hash after every tick (hashes[0] is the
// hash of tick 1).
func engineJournal(t testing.TB, ticks int, seed uint64) (file []byte, hashes []uint64, w *engine.World) {
	t.Helper()
	w, err := engine.New(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	jw, err := NewWriter(&buf, w.Config(), w.Tick(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := newDriver(w, seed)
	for range ticks {
		w.Step(d.records())
		if err := jw.Append(w.Tick(), w.LastOrdered(), w.Hash()); err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, w.Hash())
	}
	if err := jw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), hashes, w
}

// randJournal writes ticks frames of random records (0..maxRecs each) and
// returns the file and what each frame must read back as.
func randJournal(t testing.TB, seed uint64, ticks, maxRecs int) ([]byte, []Frame) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	var buf bytes.Buffer
	cfg := engine.DefaultConfig()
	jw, err := NewWriter(&buf, cfg, 0, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var want []Frame
	for tick := uint32(1); tick <= uint32(ticks); tick++ {
		recs := make([]engine.Record, rng.IntN(maxRecs+1))
		for i := range recs {
			recs[i] = randRecord(rng)
		}
		f := Frame{Tick: tick, Hash: rng.Uint64(), Records: recs, Offset: int64(buf.Len())}
		if err := jw.Append(tick, recs, f.Hash); err != nil {
			t.Fatal(err)
		}
		f.Size = buf.Len() - int(f.Offset)
		want = append(want, f)
	}
	if err := jw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), want
}

// readAll reads every frame of file, copying the records, and returns them
// with the error that ended the journal.
func readAll(t testing.TB, file []byte) ([]Frame, error) {
	t.Helper()
	rd, err := NewReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	var got []Frame
	for {
		f, err := rd.Next()
		if err != nil {
			return got, err
		}
		f.Records = append([]engine.Record(nil), f.Records...)
		got = append(got, f)
	}
}

// fixCRC recomputes the checksum of the frame at off (after a deliberate
// edit), so only the decoder and the replay can notice the edit.
func fixCRC(file []byte, off int64) {
	size := int64(le.Uint32(file[off:]))
	le.PutUint32(file[off+size-4:], checksum(file[off:off+size-4]))
}

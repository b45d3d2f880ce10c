package client

import (
	"testing"

	"github.com/treasured/treasured/schema"
)

func TestOutboxWindowIsOldestUnacked(t *testing.T) {
	var o Outbox
	for i := range 12 {
		seq, ok := o.Queue(schema.Action{Kind: 1, Target: uint64(i)}, int64(100+i))
		if !ok || seq != uint32(i+1) {
			t.Fatalf("queue %d: seq %d ok %v", i, seq, ok)
		}
	}
	w := o.Window(nil, 1000)
	if len(w) != schema.MaxActions {
		t.Fatalf("window has %d actions, want %d", len(w), schema.MaxActions)
	}
	for i, a := range w {
		if a.Seq != uint32(i+1) {
			t.Fatalf("window[%d].Seq = %d, want %d", i, a.Seq, i+1)
		}
	}
	var got []uint32
	var scheds, sents []int64
	n := o.Ack(5, func(seq uint32, sched, sent int64) {
		got = append(got, seq)
		scheds = append(scheds, sched)
		sents = append(sents, sent)
	})
	if n != 5 || len(got) != 5 || got[4] != 5 || scheds[0] != 100 || sents[0] != 1000 {
		t.Fatalf("ack: n=%d seqs=%v sched=%v sent=%v", n, got, scheds, sents)
	}
	// Seqs 9..12 were never sent: the next window stamps them now, keeps
	// 6..8 with their first send time.
	w = o.Window(w[:0], 2000)
	if len(w) != 7 || w[0].Seq != 6 || w[6].Seq != 12 {
		t.Fatalf("second window %v", w)
	}
	o.Ack(12, func(seq uint32, sched, sent int64) {
		want := int64(1000)
		if seq > 8 {
			want = 2000
		}
		if sent != want {
			t.Errorf("seq %d first sent %d, want %d", seq, sent, want)
		}
	})
	if o.Len() != 0 || o.Acked() != 12 {
		t.Fatalf("len %d acked %d", o.Len(), o.Acked())
	}
}

func TestOutboxStaleAckAndFull(t *testing.T) {
	var o Outbox
	for i := range OutboxCap {
		if _, ok := o.Queue(schema.Action{}, int64(i)); !ok {
			t.Fatalf("queue %d refused", i)
		}
	}
	if _, ok := o.Queue(schema.Action{}, 0); ok {
		t.Fatal("queue accepted beyond OutboxCap")
	}
	if n := o.Ack(10, nil); n != 10 {
		t.Fatalf("ack 10 dropped %d", n)
	}
	if n := o.Ack(7, nil); n != 0 || o.Acked() != 10 {
		t.Fatalf("older ack dropped %d, acked %d", n, o.Acked())
	}
	seq, ok := o.Queue(schema.Action{}, 0)
	if !ok || seq != OutboxCap+1 {
		t.Fatalf("after ack: seq %d ok %v", seq, ok)
	}
	if s, ok := o.Oldest(); !ok || s != 10 {
		t.Fatalf("oldest sched %d %v", s, ok)
	}
	var seqs []uint32
	o.Each(func(seq uint32, sched, _ int64) {
		if sched != int64(seq)-1 && seq <= OutboxCap {
			t.Errorf("seq %d sched %d", seq, sched)
		}
		seqs = append(seqs, seq)
	})
	if len(seqs) != OutboxCap-9 || seqs[0] != 11 || seqs[len(seqs)-1] != OutboxCap+1 {
		t.Fatalf("Each visited %d: first %d last %d", len(seqs), seqs[0], seqs[len(seqs)-1])
	}
}

func TestOutboxNoAlloc(t *testing.T) {
	var o Outbox
	buf := make([]schema.Action, 0, schema.MaxActions)
	n := testing.AllocsPerRun(100, func() {
		o.Queue(schema.Action{Kind: 1}, 1)
		o.Queue(schema.Action{Kind: 1}, 2)
		buf = o.Window(buf[:0], 3)
		o.Ack(o.NextSeq()-1, nil)
	})
	if n != 0 {
		t.Fatalf("%v allocs per round", n)
	}
}

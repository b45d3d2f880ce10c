package engine

import (
	"cmp"
	"math/bits"
	"slices"

	"github.com/treasured/treasured/schema"
)

// Ordering of a tick's records (docs/ARCHITECTURE.md "Determinism"): records arrive in
// any order, from any loop; the engine applies them in (player, generation,
// lifecycle, content) order, a total order on their contents, so the same
// multiset of records gives the same sequence — and the same journal bytes —
// whatever the arrival.
//
// Within one generation (one session of a slot) the lifecycle order is Join,
// Inputs, Leave: the order in which a session can produce them. Generations
// of a slot only grow, so an older session's records, its Leave included,
// come before a newer one's Join. A session that connects and ends within
// one tick therefore joins, acts and leaves, whatever netio does with it;
// netio needs no compensation of its own.
//
// Sort key: player<<32 | arrival index, radix-sorted on the player bits
// (LSD, stable, O(n), no allocation). Each player's run is then put in
// compareRecords order: insertion sort when short (the common case, one
// Input), pdqsort beyond, so a run an attacker inflates costs O(n log n).

const (
	radixBits = 11
	// shortRun is the longest run insertion-sorted.
	shortRun = 12
)

// order validates recs, sorts them into w.ordered and counts the rejects.
func (w *World) order(recs []Record) {
	keys := w.keys[:0]
	maxP := int32(len(w.players))
	for i := range recs {
		r := &recs[i]
		if r.Player < 0 || r.Player >= maxP || r.Kind < RecLeave || r.Kind > RecInput || r.N > schema.MaxActions {
			w.stats.BadRecords++
			continue
		}
		keys = append(keys, uint64(r.Player)<<32|uint64(i))
	}
	if len(keys) < 256 {
		slices.Sort(keys)
	} else {
		keys = w.radixSort(keys)
	}
	for i := 0; i < len(keys); {
		j := i + 1
		for j < len(keys) && keys[j]>>32 == keys[i]>>32 {
			j++
		}
		if j-i > 1 {
			sortRun(keys[i:j], recs)
		}
		i = j
	}
	w.keys = keys

	out := w.ordered[:0]
	for _, k := range keys {
		out = append(out, recs[uint32(k)])
		r := &out[len(out)-1]
		// Unused action slots are garbage from the ring; zero them so
		// equal records are byte-equal in the journal.
		clear(r.Actions[r.N:])
	}
	w.ordered = out
}

// sortRun puts one player's keys in compareRecords order of their records.
func sortRun(keys []uint64, recs []Record) {
	if len(keys) <= shortRun {
		for a := 1; a < len(keys); a++ {
			for b := a; b > 0 && compareRecords(&recs[uint32(keys[b-1])], &recs[uint32(keys[b])]) > 0; b-- {
				keys[b-1], keys[b] = keys[b], keys[b-1]
			}
		}
		return
	}
	slices.SortFunc(keys, func(a, b uint64) int {
		return compareRecords(&recs[uint32(a)], &recs[uint32(b)])
	})
}

// radixSort sorts keys on bits 32.. (the player) and returns the sorted
// slice, which is keys or w.keysTmp.
func (w *World) radixSort(keys []uint64) []uint64 {
	if cap(w.keysTmp) < len(keys) {
		// Only when a tick brings more records than ever before.
		w.keysTmp = make([]uint64, 0, len(keys))
	}
	tmp := w.keysTmp[:len(keys)]
	width := bits.Len32(uint32(len(w.players) - 1))
	var count [1 << radixBits]int32
	for shift := 32; shift < 32+width; shift += radixBits {
		clear(count[:])
		for _, k := range keys {
			count[(k>>shift)&(1<<radixBits-1)]++
		}
		sum := int32(0)
		for d, c := range count {
			count[d] = sum
			sum += c
		}
		for _, k := range keys {
			d := (k >> shift) & (1<<radixBits - 1)
			tmp[count[d]] = k
			count[d]++
		}
		keys, tmp = tmp, keys
	}
	w.keysTmp = tmp[:0]
	return keys
}

// lifecycle ranks a session's record kinds in the order it produces them.
func lifecycle(k RecordKind) uint8 {
	switch k {
	case RecJoin:
		return 0
	case RecInput:
		return 1
	}
	return 2
}

// compareRecords is a total order on the meaningful content of a record.
func compareRecords(a, b *Record) int {
	if c := cmp.Or(
		cmp.Compare(a.Player, b.Player),
		cmp.Compare(a.Gen, b.Gen),
		cmp.Compare(lifecycle(a.Kind), lifecycle(b.Kind)),
	); c != 0 {
		return c
	}
	if a.N > 0 && b.N > 0 {
		if c := cmp.Compare(a.Actions[0].Seq, b.Actions[0].Seq); c != 0 {
			return c
		}
	}
	if c := cmp.Or(
		cmp.Compare(a.N, b.N),
		cmp.Compare(a.AckTick, b.AckTick),
		cmp.Compare(a.Key, b.Key),
		cmp.Compare(a.Region, b.Region),
	); c != 0 {
		return c
	}
	for i := range a.N {
		if c := compareActions(&a.Actions[i], &b.Actions[i]); c != 0 {
			return c
		}
	}
	return 0
}

func compareActions(a, b *schema.Action) int {
	return cmp.Or(
		cmp.Compare(a.Seq, b.Seq),
		cmp.Compare(a.Kind, b.Kind),
		cmp.Compare(a.Target, b.Target),
		cmp.Compare(a.Pos.X, b.Pos.X),
		cmp.Compare(a.Pos.Y, b.Pos.Y),
	)
}

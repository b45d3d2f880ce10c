package main

import (
	"math/rand/v2"
	"sort"
)

// Schedule is a wrk2-style open-loop send plan: player p sends its k-th
// datagram of this kind at start + phase[p] + k*interval, decided before the
// run starts and never adjusted to what the server does. A send that happens
// late still carries its scheduled time, and latency is measured from that
// time: a stall of the generator or of the server cannot hide the requests
// it delayed (coordinated omission, giltene/wrk2 README).
//
// One Schedule serves all the players of one worker: the slots are sorted
// by phase, so the next due send is always at the cursor and popping it is
// O(1); a round visits every player once.
type Schedule struct {
	start    int64
	interval int64
	end      int64 // nothing is due at or after end; 0 means no end
	phase    []int64
	who      []int32
	round    int64
	i        int
}

// NewSchedule builds a plan over the slots (phase[j], who[j]); phases lie in
// [0, interval). The slices are sorted together in place.
func NewSchedule(start, interval, end int64, phase []int64, who []int32) *Schedule {
	s := &Schedule{start: start, interval: interval, end: end, phase: phase, who: who}
	sort.Sort(byPhase{s})
	return s
}

type byPhase struct{ s *Schedule }

func (b byPhase) Len() int           { return len(b.s.phase) }
func (b byPhase) Less(i, j int) bool { return b.s.phase[i] < b.s.phase[j] }
func (b byPhase) Swap(i, j int) {
	b.s.phase[i], b.s.phase[j] = b.s.phase[j], b.s.phase[i]
	b.s.who[i], b.s.who[j] = b.s.who[j], b.s.who[i]
}

// Peek returns the next send: its scheduled time and whose it is. ok is false
// when the plan is empty or the next send would be at or after end.
func (s *Schedule) Peek() (at int64, who int32, ok bool) {
	if len(s.phase) == 0 || s.interval <= 0 {
		return 0, 0, false
	}
	at = s.start + s.round*s.interval + s.phase[s.i]
	if s.end != 0 && at >= s.end {
		return at, 0, false
	}
	return at, s.who[s.i], true
}

// Pop consumes the send Peek returned.
func (s *Schedule) Pop() {
	s.i++
	if s.i == len(s.phase) {
		s.i = 0
		s.round++
	}
}

// Sent is how many sends have been popped so far.
func (s *Schedule) Sent() int64 { return s.round*int64(len(s.phase)) + int64(s.i) }

// SetEnd moves the end of the plan.
func (s *Schedule) SetEnd(end int64) { s.end = end }

// SpreadPhases gives each of n players a phase in [0, interval): the phases
// are evenly spaced, so the whole generator sends at a constant rate rather
// than in bursts once per interval, and assigned to players in a seeded
// random order, so neighbouring players (and workers: each takes a block of
// players) do not send back to back. A worker then holds its players in
// phase order (Worker.phaseOrder).
func SpreadPhases(n int, interval int64, seed uint64) []int64 {
	ph := make([]int64, n)
	for i := range ph {
		ph[i] = int64(i) * interval / int64(max(n, 1))
	}
	r := rand.New(rand.NewPCG(seed, 0x5ca1ab1e))
	r.Shuffle(n, func(i, j int) { ph[i], ph[j] = ph[j], ph[i] })
	return ph
}

package main

import (
	"slices"
	"testing"
)

func TestScheduleOrderAndRate(t *testing.T) {
	const interval = 50_000_000 // 20 Hz
	ph := SpreadPhases(7, interval, 1)
	who := []int32{0, 1, 2, 3, 4, 5, 6}
	// Remember which phase each player got before NewSchedule sorts.
	want := map[int32]int64{}
	for i, p := range ph {
		want[who[i]] = p
	}
	s := NewSchedule(1000, interval, 1000+3*interval, ph, who)
	var prev int64 = -1
	perPlayer := map[int32][]int64{}
	for {
		at, p, ok := s.Peek()
		if !ok {
			break
		}
		if at < prev {
			t.Fatalf("schedule went back in time: %d after %d", at, prev)
		}
		prev = at
		perPlayer[p] = append(perPlayer[p], at)
		s.Pop()
		if s.Sent() > 100 {
			t.Fatal("schedule did not end")
		}
	}
	if s.Sent() != 21 {
		t.Fatalf("%d sends in 3 intervals for 7 players, want 21", s.Sent())
	}
	for p, ats := range perPlayer {
		if len(ats) != 3 || ats[0] != 1000+want[p] || ats[1]-ats[0] != interval || ats[2]-ats[1] != interval {
			t.Fatalf("player %d sends at %v (phase %d)", p, ats, want[p])
		}
	}
}

func TestSpreadPhasesEven(t *testing.T) {
	ph := SpreadPhases(1000, 1000_000, 9)
	s := slices.Clone(ph)
	slices.Sort(s)
	for i, v := range s {
		if v != int64(i)*1000 {
			t.Fatalf("phase %d = %d, want %d", i, v, i*1000)
		}
	}
	if slices.IsSorted(ph) {
		t.Fatal("phases not shuffled")
	}
	if !slices.Equal(ph, SpreadPhases(1000, 1000_000, 9)) || slices.Equal(ph, SpreadPhases(1000, 1000_000, 10)) {
		t.Fatal("seed does not decide the order")
	}
}

func TestScheduleEmpty(t *testing.T) {
	s := NewSchedule(0, 10, 0, nil, nil)
	if _, _, ok := s.Peek(); ok {
		t.Fatal("empty schedule has a send")
	}
}

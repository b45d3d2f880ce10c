package netio

import (
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

// TestEngineCountersInMetrics: after real ticks of the engine, every engine
// counter and each fan-out worker's snapshot counters are in /metrics with
// the values the engine holds, read from atomics the tick goroutine
// published (the tick path itself stays allocation-free:
// TestTickNoAllocWithJournal runs the same rig).
func TestEngineCountersInMetrics(t *testing.T) {
	r := newTickRig(t, 100, nil)
	for range 30 {
		r.step()
	}
	ew := r.s.world.(engineWorld)
	st := ew.Stats()
	mfs, err := NewRegistry(r.s).Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "treasured_engine_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			got[mf.GetName()+labelString(m)] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	want := map[string]float64{
		"treasured_engine_ticks_total":                              float64(st.Ticks),
		`treasured_engine_joins_total{result="joined"}`:             float64(st.Joins),
		`treasured_engine_actions_total{result="applied"}`:          float64(st.ActionsApplied),
		"treasured_engine_moves_total":                              float64(st.Moves),
		"treasured_engine_events_dropped_total":                     0,
		`treasured_engine_resyncs_total{reason="stale"}`:            0,
		`treasured_engine_action_rejects_total{reason="loot_full"}`: 0,
		`treasured_engine_gone_total{result="overflow"}`:            0,
		`treasured_engine_records_total{result="stale"}`:            float64(st.StaleRecords),
		"treasured_engine_delivery_nodes_in_use":                    float64(st.NodesInUse),
		`treasured_engine_snapshots_total{kind="full",worker="0"}`:  float64(r.s.fan.workers[0].snap.(snapshotStatSource).SnapshotStats().Full),
	}
	for k, v := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("/metrics lacks %s", k)
		} else if g != v {
			t.Errorf("%s = %v, want %v", k, g, v)
		}
	}
	if st.Ticks != 30 || st.Moves == 0 || got[`treasured_engine_snapshots_total{kind="delta",worker="0"}`] == 0 {
		t.Fatalf("the rig did not exercise the engine: %+v, metrics %v", st, got)
	}
}

func labelString(m *dto.Metric) string {
	if len(m.GetLabel()) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, l := range m.GetLabel() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(l.GetName() + `="` + l.GetValue() + `"`)
	}
	b.WriteByte('}')
	return b.String()
}

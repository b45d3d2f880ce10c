package playtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/treasured/treasured/client"
	"github.com/treasured/treasured/netio/metricname"
	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// TickClock checks the tick clock a server exports on /metrics the way
// treasured does (treasured_tick_epoch_unix_seconds and
// treasured_tick_period_seconds): the period is the server's, and no
// snapshot of tick T arrives before epoch + T*period, its scheduled start.
// expose writes the server's /metrics text.
func TickClock(t *testing.T, addr string, expose func(io.Writer), period time.Duration) {
	t.Helper()
	type arrival struct {
		tick uint32
		at   time.Time
	}
	var got []arrival
	c, err := client.Dial(context.Background(), addr, client.Options{
		Config: client.Config{PlayerKey: 11},
		Handlers: client.Handlers{Snapshot: func(f *schema.SnapshotFrame, _ int64) {
			got = append(got, arrival{f.Tick, time.Now()})
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < 1000 && len(got) < 20; i++ {
		if err := c.SendInput(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Poll(period); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) < 20 {
		t.Fatalf("%d snapshots", len(got))
	}
	var buf bytes.Buffer
	expose(&buf)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(&buf)
	if err != nil {
		t.Fatalf("the exposition does not parse: %v", err)
	}
	epoch, ok1 := gauge(fams, metricname.TickEpoch)
	per, ok2 := gauge(fams, metricname.TickPeriod)
	if !ok1 || !ok2 {
		t.Fatal("tick epoch or period not exported")
	}
	if time.Duration(per*1e9+0.5) != period {
		t.Fatalf("period %v s, want %v", per, period)
	}
	epochNs := int64(epoch * 1e9)
	for _, a := range got {
		sched := epochNs + int64(a.tick)*int64(period)
		if early := sched - a.at.UnixNano(); early > int64(10*time.Microsecond) { // float64 resolution and clock reads
			t.Fatalf("snapshot of tick %d arrived %v before its scheduled start", a.tick, time.Duration(early))
		}
	}
}

// gauge is the value of the unlabelled gauge name.
func gauge(fams map[string]*dto.MetricFamily, name string) (float64, bool) {
	f := fams[name]
	if f == nil || f.GetType() != dto.MetricType_GAUGE || len(f.Metric) != 1 {
		return 0, false
	}
	return f.Metric[0].GetGauge().GetValue(), true
}

// RejectsRegion checks that a Connect asking for region is refused with
// BadRegion, as treasured refuses a region it does not have.
func RejectsRegion(t *testing.T, addr string, region uint8) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, addr, client.Options{Config: client.Config{PlayerKey: 12, Region: region}})
	var rej *client.RejectedError
	if !errors.As(err, &rej) || rej.Reason != wire.RejectReasonBadRegion.String() {
		if c != nil {
			c.Close()
		}
		t.Fatalf("region %d: %v, want a BadRegion reject", region, err)
	}
}

package playtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/treasured/treasured/client"
	"github.com/treasured/treasured/internal/metricname"
	"github.com/treasured/treasured/schema"
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
	epoch, ok1 := gauge(buf.String(), metricname.TickEpoch)
	per, ok2 := gauge(buf.String(), metricname.TickPeriod)
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

func gauge(text, name string) (float64, bool) {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return 0, false
}

// RejectsRegion checks that a Connect asking for region is refused with
// BadRegion, as treasured refuses a region it does not have.
func RejectsRegion(t *testing.T, addr string, region uint8) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, addr, client.Options{Config: client.Config{PlayerKey: 12, Region: region}})
	var rej *client.RejectedError
	if !errors.As(err, &rej) || rej.Reason != "BadRegion" {
		if c != nil {
			c.Close()
		}
		t.Fatalf("region %d: %v, want a BadRegion reject", region, err)
	}
}

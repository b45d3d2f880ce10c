package common

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

func TestCookies(t *testing.T) {
	c := NewCookies()
	a := netip.MustParseAddrPort("127.0.0.1:4000")
	now := time.Now()
	ch := c.Challenge(a, 42, now)
	f := schema.ConnectFrame{Version: schema.Version, Cookie: ch.Cookie, Expiry: ch.Expiry, ClientNonce: 42}
	if ok, _ := c.Check(a, &f, now); !ok {
		t.Fatal("genuine cookie rejected")
	}
	for name, tc := range map[string]struct {
		mut    func(*schema.ConnectFrame, *netip.AddrPort, *time.Time)
		reason wire.RejectReason
	}{
		"other address": {func(_ *schema.ConnectFrame, a *netip.AddrPort, _ *time.Time) {
			*a = netip.MustParseAddrPort("127.0.0.1:4001")
		}, wire.RejectReasonBadCookie},
		"other nonce": {func(f *schema.ConnectFrame, _ *netip.AddrPort, _ *time.Time) { f.ClientNonce++ }, wire.RejectReasonBadCookie},
		"tampered":    {func(f *schema.ConnectFrame, _ *netip.AddrPort, _ *time.Time) { f.Cookie.Lo ^= 1 }, wire.RejectReasonBadCookie},
		"expired":     {func(_ *schema.ConnectFrame, _ *netip.AddrPort, n *time.Time) { *n = n.Add(CookieTTL + time.Second) }, wire.RejectReasonCookieExpired},
		"bad version": {func(f *schema.ConnectFrame, _ *netip.AddrPort, _ *time.Time) { f.Version++ }, wire.RejectReasonBadVersion},
	} {
		f2, a2, n2 := f, a, now
		tc.mut(&f2, &a2, &n2)
		if ok, reason := c.Check(a2, &f2, n2); ok || reason != tc.reason {
			t.Errorf("%s: ok %v reason %v, want reason %v", name, ok, reason, tc.reason)
		}
	}
}

func TestExposition(t *testing.T) {
	m := NewMetrics()
	m.ObserveTick(2*time.Millisecond, 30*time.Millisecond, false)
	m.ObserveTick(time.Millisecond, 60*time.Millisecond, true)
	m.Drops[DropQueueFull].Add(3)
	var b bytes.Buffer
	m.Expose(&b)
	out := b.String()
	for _, want := range []string{
		"treasured_ticks_total 2\n",
		"treasured_tick_overruns_total 1\n",
		`treasured_drops_total{reason="queue_full"} 3` + "\n",
		`treasured_tick_work_seconds_bucket{le="+Inf"} 2` + "\n",
		"treasured_tick_work_seconds_count 2\n",
		"treasured_gc_cycles_total ",
		"treasured_alloc_bytes_total ",
		"process_cpu_seconds_total ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
	// Buckets are cumulative and end at the count.
	var last string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "treasured_tick_work_seconds_bucket") {
			last = l
		}
	}
	if !strings.HasSuffix(last, " 2") {
		t.Fatalf("last bucket %q", last)
	}
}

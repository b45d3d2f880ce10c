//go:build linux

package main

import (
	"context"
	crand "crypto/rand"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/treasured/treasured/client"
	"github.com/treasured/treasured/client/clienttest"
	"github.com/treasured/treasured/netio/auth"
	"github.com/treasured/treasured/perf/internal/common"
	"github.com/treasured/treasured/perf/internal/playtest"
	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

func startSink(t *testing.T, args ...string) (*sink, string) {
	t.Helper()
	cfg, err := parseFlags(append([]string{"--listen", "127.0.0.1:0", "--admin", "", "--tick", "5ms"}, args...))
	if err != nil {
		t.Fatal(err)
	}
	s, err := newSink(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run() }()
	t.Cleanup(func() {
		s.Stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return s, s.conn.LocalAddr().String()
}

// A player connects, its actions are acknowledged exactly once by the
// snapshots, its Ping is answered, and every snapshot is as large as asked.
func TestSinkServes(t *testing.T) {
	s, addr := startSink(t, "--snapshot-bytes", "1000")
	c, err := client.Dial(context.Background(), addr, client.Options{Config: client.Config{PlayerKey: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 5 {
		if _, err := c.Do(schema.Action{Kind: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Ping(); err != nil {
		t.Fatal(err)
	}
	playUntilAcked(t, c)
	if n := c.Session().Outbox().Len(); n != 0 {
		t.Fatalf("%d actions never acknowledged", n)
	}
	// The running sink's encoder is its own; measure an idle twin's frame.
	twin, err := newSink(s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	twin.conn.Close()
	twin.frame.Tick, twin.frame.LastActionSeq = 1<<31, 1<<31
	if n := len(twin.enc.Snapshot(twin.frame)); n > 1000 || n < 900 {
		t.Fatalf("snapshot of %d bytes for --snapshot-bytes 1000", n)
	}
	playtest.TickClock(t, addr, s.m.Expose, 5*time.Millisecond)
	playtest.RejectsRegion(t, addr, 3)
}

// Garbage, an Input for no session and a datagram too long are counted,
// never a crash; the sink keeps serving.
func TestSinkBadInput(t *testing.T) {
	s, addr := startSink(t)
	rogue, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer rogue.Close()
	enc := schema.NewEncoder()
	rogue.Write([]byte("not a flatbuffer"))
	rogue.Write(enc.Input(&schema.InputFrame{SessionID: 42}))
	rogue.Write(make([]byte, schema.MaxDatagram+50))
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if s.m.Drops[common.DropMalformed].Load() >= 2 && s.m.Drops[common.DropBadSession].Load() >= 1 {
			break
		}
	}
	if m, b := s.m.Drops[common.DropMalformed].Load(), s.m.Drops[common.DropBadSession].Load(); m != 2 || b != 1 {
		t.Fatalf("malformed %d (want 2), bad session %d (want 1)", m, b)
	}
	playtest.TickClock(t, addr, s.m.Expose, 5*time.Millisecond)
}

func TestSinkFlags(t *testing.T) {
	for _, bad := range [][]string{{"--tick", "0s"}, {"--snapshot-bytes", "5000"}, {"--listen", "nohost"}, {"--regions", "0"}, {"extra"}} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// With --token-key the sink speaks the authenticated protocol: a client
// with a token issued for its address connects and is acknowledged through
// sealed datagrams; one without a token is refused (BadToken).
func TestSinkTokens(t *testing.T) {
	key, file, err := clienttest.NewKeyFile(t.TempDir(), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	_, addr := startSink(t, "--snapshot-bytes", "1000", "--token-key", file)
	_, err = client.Dial(context.Background(), addr, client.Options{Config: client.Config{PlayerKey: 1}})
	var rej *client.RejectedError
	if !errors.As(err, &rej) || rej.Reason != wire.RejectReasonBadToken.String() {
		t.Fatalf("without a token: %v", err)
	}
	tok, keys, err := key.Issue(nil, auth.Claims{UserID: 1, Servers: []netip.AddrPort{netip.MustParseAddrPort(addr)}, Expires: time.Now().Add(time.Minute)}, crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(context.Background(), addr, client.Options{Config: client.Config{Credentials: client.Credentials{Token: tok, Keys: keys}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Do(schema.Action{Kind: 1}); err != nil {
		t.Fatal(err)
	}
	playUntilAcked(t, c)
	if st := c.Session().Stats; c.Session().Outbox().Len() != 0 || st.Snapshots < 20 || st.Unopened != 0 {
		t.Fatalf("outbox %d, stats %+v", c.Session().Outbox().Len(), st)
	}
}

// playUntilAcked sends Inputs and polls until every queued action is
// acknowledged and 20 snapshots arrived, or 2,000 rounds passed.
func playUntilAcked(t *testing.T, c *client.Client) {
	t.Helper()
	for i := 0; i < 2000 && (c.Session().Outbox().Len() > 0 || c.Session().Stats.Snapshots < 20); i++ {
		if err := c.SendInput(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Poll(5 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
}

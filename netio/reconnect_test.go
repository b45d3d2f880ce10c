package netio

import (
	"context"
	crand "crypto/rand"
	"net/netip"
	"testing"
	"time"

	"github.com/treasured/treasured/client"
	"github.com/treasured/treasured/engine"
	"github.com/treasured/treasured/netio/auth"
	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// identityBot plays one user through client.Client: it walks to the
// nearest closed chest and opens it, picks up loot it sees, and counts
// every loot event the client library shows.
type identityBot struct {
	t     *testing.T
	c     *client.Client
	shown map[client.LootKey]int
	slots map[uint32]bool // player ids (slots) this user had
}

func (b *identityBot) round() {
	b.t.Helper()
	v := b.c.View()
	me := v.You()
	best, bestD := -1, int64(1)<<62
	for i := range v.NumChests() {
		ch := v.ChestAt(i)
		if ch.Status == uint8(wire.ChestStatusOpened) && ch.LootID != 0 {
			b.c.Do(schema.Action{Kind: uint8(wire.ActionKindPickupLoot), Target: ch.LootID})
			continue
		}
		dx, dy := int64(ch.Pos.X-me.Pos.X), int64(ch.Pos.Y-me.Pos.Y)
		if d := dx*dx + dy*dy; d < bestD {
			best, bestD = i, d
		}
	}
	if best >= 0 {
		ch := v.ChestAt(best)
		b.c.Do(schema.Action{Kind: uint8(wire.ActionKindMove), Pos: ch.Pos})
		b.c.Do(schema.Action{Kind: uint8(wire.ActionKindOpenChest), Target: uint64(ch.ID)})
	}
	if err := b.c.SendInput(); err != nil {
		b.t.Fatal(err)
	}
	b.poll(50 * time.Millisecond)
}

func (b *identityBot) poll(d time.Duration) {
	b.t.Helper()
	if _, err := b.c.Poll(d); err != nil {
		b.t.Fatal(err)
	}
	if b.c.Connected() {
		b.slots[b.c.Session().Welcome().PlayerID] = true
	}
}

// playFor runs rounds for d, a bound in time and in rounds.
func (b *identityBot) playFor(d time.Duration) {
	end := time.Now().Add(d)
	for i := 0; i < 1000 && time.Now().Before(end); i++ {
		b.round()
	}
}

// The issue's reconnect test. Under 22 % loss, 5 % duplication and
// reordering (user space, both directions), one user:
//  1. plays and collects items;
//  2. moves to a new address mid-run (NAT rebinding): the server moves the
//     stream only after the sealed PathChallenge is answered;
//  3. moves again during an outage longer than its Reconnect.Silence, so it
//     reconnects by itself, with a new token, from the new address, while
//     the server still holds the old session: the second login replaces
//     the first;
//
// and in the end its items are kept, every loot event it was sent is shown
// exactly once across both moves, and none of its own loot is lost.
func TestReconnectNewAddressImpaired(t *testing.T) {
	if testing.Short() {
		t.Skip("plays for about 15 s")
	}
	ecfg := e2eEngineConfig()
	ecfg.GraceTicks = 20 * 60 // a minute
	ew, err := engine.New(ecfg)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingWorld{World: EngineWorld(ew), w: ew, hashes: map[uint32]uint64{}}
	key, err := auth.GenerateKey(1, crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, Config{Loops: 1, TokenKey: key}, rec)
	stopped := false
	defer func() {
		if !stopped {
			srv.Shutdown(context.Background())
		}
	}()
	const user = 4711
	// The client's patience. Step 2's move must finish within it: until
	// the stream follows, the new address hears only PathChallenges, one
	// per Input at most every 200 ms, and each try needs the Input, the
	// challenge and the answer through 22 % loss (~0.47). With 1 s, about
	// five tries: ~4 % of runs reconnected instead, a flake seen at
	// -count=20. With 3 s, fifteen: ~0.006 %.
	const silence = 3 * time.Second
	issued := 0
	renew := func() (client.Credentials, error) {
		issued++
		tok, keys, err := key.Issue(nil, auth.Claims{UserID: user, Servers: []netip.AddrPort{srv.Addr()}, Expires: time.Now().Add(time.Minute)}, crand.Reader)
		return client.Credentials{Token: tok, Keys: keys}, err
	}
	first, err := renew()
	if err != nil {
		t.Fatal(err)
	}
	b := &identityBot{t: t, shown: map[client.LootKey]int{}, slots: map[uint32]bool{}}
	c, err := client.Dial(context.Background(), srv.Addr().String(), client.Options{
		Config: client.Config{Credentials: first},
		Handlers: client.Handlers{
			Loot: func(ev *schema.LootEvent, _ int64) { b.shown[client.LootKey{ID: ev.LootID, Kind: ev.Kind}]++ },
		},
		Impair:           client.Impairment{Loss: 0.22, Dup: 0.05, Reorder: 0.1, Seed: 0x11},
		HandshakeTimeout: 20 * time.Second,
		Retransmit:       50 * time.Millisecond,
		Reconnect:        client.Reconnect{Silence: silence, MinBackoff: 50 * time.Millisecond, MaxBackoff: 300 * time.Millisecond},
		Renew:            renew,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b.c = c
	ls := &srv.LoopStats[0]

	// 1. Play until the player holds items (bounded).
	for end := time.Now().Add(30 * time.Second); c.View().You().Items == 0; {
		if time.Now().After(end) {
			t.Fatal("no item picked up in 30 s")
		}
		b.round()
	}
	b.playFor(time.Second)

	// 2. A NAT rebinding: the stream follows only after the answer.
	if err := c.Rebind(); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(30 * time.Second); ls.Migrations.Load() == 0; {
		if time.Now().After(end) {
			t.Fatalf("no migration in 30 s (challenges %d, answers %d)", ls.PathChallenges.Load(), c.Session().Stats.PathAnswers)
		}
		b.round()
	}
	snaps := c.Session().Stats.Snapshots
	b.playFor(2 * time.Second)
	if c.Session().Stats.Snapshots == snaps {
		t.Fatalf("no snapshot at the new address: %+v; fan-out %+v drops %v inputs %d ticks %d", c.Session().Stats, srv.FanoutStats[0].Snapshots.Load(), dropsOf(ls), ls.Inputs.Load(), srv.TickStats.Ticks.Load())
	}
	if c.Reconnects() != 0 || ls.Ended[EndRelogin].Load() != 0 {
		fs := &srv.FanoutStats[0]
		t.Fatalf("the rebinding cost a new handshake: %+v; fan-out %d enc %d noaddr %d drops %v ticks %d", c.Session().Stats, fs.Snapshots.Load(), fs.EncodeErrors.Load(), fs.NoAddress.Load(), dropsOf(ls), srv.TickStats.Ticks.Load())
	}

	// 3. Another new address after an outage longer than the client's
	// patience: it sent nothing from the new address, so the server still
	// holds the old session and streams to the old address; the client
	// gives up on it and logs in again, from here, with a new token.
	items := c.View().You().Items
	if err := c.Rebind(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(silence + silence/2) // the outage: longer than Reconnect.Silence
	for end := time.Now().Add(30 * time.Second); c.Reconnects() == 0; {
		if time.Now().After(end) {
			t.Fatalf("no reconnect in 30 s: %+v state %v; welcomes %d drops %v", c.Session().Stats, c.Session().State(), ls.Welcomes.Load(), dropsOf(ls))
		}
		b.poll(100 * time.Millisecond)
	}
	if ls.Ended[EndRelogin].Load() == 0 || issued < 2 {
		t.Fatalf("the reconnect did not replace the live session (relogins %d, tokens %d)", ls.Ended[EndRelogin].Load(), issued)
	}
	for end := time.Now().Add(30 * time.Second); c.View().You().Items < items; {
		if time.Now().After(end) {
			t.Fatalf("items %d after the reconnect, %d before", c.View().You().Items, items)
		}
		b.round()
	}
	b.playFor(2 * time.Second)

	// The test sends only ~150 datagrams, so a 5 % duplication leaves the
	// server without a replay in a few runs in a thousand: play on (bounded)
	// until it has seen one, so the check at the end is about the link, not luck.
	for end := time.Now().Add(20 * time.Second); ls.Drops[DropReplayed].Load() == 0 && time.Now().Before(end); {
		b.round()
	}

	// Drain: no new actions, acks until the outbox and the loot owed are
	// through (bounded).
	for i := 0; i < 200 && c.Session().Outbox().Len() > 0; i++ {
		if err := c.SendInput(); err != nil {
			t.Fatal(err)
		}
		b.poll(50 * time.Millisecond)
	}
	b.poll(2 * time.Second)
	ps := c.Session().Loot().Stats
	lost := c.Session().Loot().Lost()
	c.Close()
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	stopped = true

	if ps.Expected == 0 || lost != 0 {
		t.Errorf("own loot: expected %d, lost %d", ps.Expected, lost)
	}
	for k, n := range b.shown {
		if n != 1 {
			t.Errorf("loot %v shown %d times", k, n)
		}
	}
	// Every event the engine generated with this user as the actor was
	// shown (its own openings and pickups are always delivered to it).
	own := 0
	for _, ev := range rec.events {
		if !b.slots[ev.Player] || ev.Kind == uint8(wire.LootEventKindExpired) {
			continue
		}
		own++
		if b.shown[client.LootKey{ID: ev.LootID, Kind: ev.Kind}] == 0 {
			t.Errorf("own loot event %+v never shown", ev)
		}
	}
	if own == 0 {
		t.Fatal("the user generated no loot: the test exercised nothing")
	}
	if st := c.Session().Stats; st.Replayed == 0 || ls.Drops[DropReplayed].Load() == 0 {
		t.Errorf("the link did not duplicate: %d replays at the client, %d at the server", st.Replayed, ls.Drops[DropReplayed].Load())
	}
	t.Logf("own events %d, shown %d, migrations %d, relogins %d, reconnects %d, tokens %d, path answers %d",
		own, len(b.shown), ls.Migrations.Load(), ls.Ended[EndRelogin].Load(), c.Reconnects(), issued, c.Session().Stats.PathAnswers)
}

func dropsOf(ls *LoopStats) map[string]uint64 {
	m := map[string]uint64{}
	for r := range NumDropReasons {
		if n := ls.Drops[r].Load(); n > 0 {
			m[r.String()] = n
		}
	}
	return m
}

// Package playtest is the functional test both baseline servers must pass,
// played through the client library like a real player: connect, walk to
// the nearest chest, open it, see its loot exactly once, pick it up, ping,
// and leave.
package playtest

import (
	"context"
	"testing"
	"time"

	"github.com/treasured/treasured/client"
	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

func dist2(a, b schema.Vec2) int64 {
	dx, dy := int64(a.X)-int64(b.X), int64(a.Y)-int64(b.Y)
	return dx*dx + dy*dy
}

// Play runs the scenario against addr; poll is the wait per round (about
// a tick of the server under test). Every loop is bounded by rounds.
func Play(t *testing.T, addr string, poll time.Duration, rounds int) {
	t.Helper()
	pl := &player{t: t, poll: poll, rounds: rounds, shown: map[client.LootKey]int{}}
	c, err := client.Dial(context.Background(), addr, client.Options{
		Config: client.Config{PlayerKey: 7},
		Handlers: client.Handlers{
			Loot: func(ev *schema.LootEvent, _ int64) { pl.shown[client.LootKey{ID: ev.LootID, Kind: ev.Kind}]++ },
			Pong: func(int64, int64, int64, uint32) { pl.pongs++ },
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pl.c = c
	target := pl.nearestClosedChest()
	pl.walkTo(target)
	loot := pl.open(target)
	pl.do(schema.Action{Kind: uint8(wire.ActionKindPickupLoot), Target: loot})
	if err := c.Ping(); err != nil {
		t.Fatal(err)
	}
	picked := client.LootKey{ID: loot, Kind: uint8(wire.LootEventKindPickedUp)}
	for i := 0; i < rounds && (pl.shown[picked] == 0 || pl.pongs == 0); i++ {
		pl.step()
	}
	// Keep acknowledging: repeats still in flight must be filtered.
	for range 20 {
		pl.step()
	}
	for k, n := range pl.shown {
		if n != 1 {
			t.Errorf("loot %+v shown %d times", k, n)
		}
	}
	if pl.shown[picked] != 1 || pl.pongs == 0 {
		t.Fatalf("pickup shown %d times, %d pongs", pl.shown[picked], pl.pongs)
	}
	l := c.Session().Loot()
	if l.Stats.Expected != 1 || l.Lost() != 0 || c.View().You().Items == 0 {
		t.Fatalf("own loot expected %d lost %d, items %d", l.Stats.Expected, l.Lost(), c.View().You().Items)
	}
	if c.Session().Outbox().Len() != 0 {
		t.Fatalf("%d actions never applied", c.Session().Outbox().Len())
	}
}

// player is Play's client and what it was shown.
type player struct {
	t      *testing.T
	c      *client.Client
	poll   time.Duration
	rounds int
	shown  map[client.LootKey]int
	pongs  int
}

// step sends an Input and polls once.
func (pl *player) step() {
	pl.t.Helper()
	if err := pl.c.SendInput(); err != nil {
		pl.t.Fatal(err)
	}
	if _, err := pl.c.Poll(pl.poll); err != nil {
		pl.t.Fatal(err)
	}
}

// do queues action a.
func (pl *player) do(a schema.Action) {
	pl.t.Helper()
	if _, err := pl.c.Do(a); err != nil {
		pl.t.Fatal(err)
	}
}

// nearestClosedChest plays until a closed chest is in view and returns the
// nearest.
func (pl *player) nearestClosedChest() schema.ChestState {
	pl.t.Helper()
	v := pl.c.View()
	var target schema.ChestState
	found := false
	for i := 0; i < pl.rounds && !found; i++ {
		pl.step()
		me := v.You().Pos
		for j := range v.NumChests() {
			ch := v.ChestAt(j)
			if ch.Status == uint8(wire.ChestStatusClosed) && (!found || dist2(ch.Pos, me) < dist2(target.Pos, me)) {
				target, found = *ch, true
			}
		}
	}
	if !found {
		pl.t.Fatalf("no closed chest in view after %d rounds (%d snapshots)", pl.rounds, pl.c.Session().Stats.Snapshots)
	}
	return target
}

// walkTo moves within reach of chest target.
func (pl *player) walkTo(target schema.ChestState) {
	pl.t.Helper()
	v := pl.c.View()
	const reach = 2_500 // inside the 3 m reach
	for i := 0; i < pl.rounds && dist2(v.You().Pos, target.Pos) > reach*reach; i++ {
		pl.do(schema.Action{Kind: uint8(wire.ActionKindMove), Pos: target.Pos})
		pl.step()
	}
	if d := dist2(v.You().Pos, target.Pos); d > reach*reach {
		pl.t.Fatalf("did not reach chest %d at %+v from %+v", target.ID, target.Pos, v.You().Pos)
	}
}

// open opens chest target and returns the id of the loot it generated.
func (pl *player) open(target schema.ChestState) uint64 {
	pl.t.Helper()
	pl.do(schema.Action{Kind: uint8(wire.ActionKindOpenChest), Target: uint64(target.ID)})
	for i := 0; i < pl.rounds; i++ {
		pl.step()
		for k := range pl.shown {
			if k.Kind == uint8(wire.LootEventKindGenerated) {
				return k.ID
			}
		}
	}
	pl.t.Fatalf("no LootGenerated after opening chest %d", target.ID)
	return 0
}

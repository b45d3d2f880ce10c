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
	shown := map[client.LootKey]int{}
	pongs := 0
	c, err := client.Dial(context.Background(), addr, client.Options{
		Config: client.Config{PlayerKey: 7},
		Handlers: client.Handlers{
			Loot: func(ev *schema.LootEvent, _ int64) { shown[client.LootKey{ID: ev.LootID, Kind: ev.Kind}]++ },
			Pong: func(int64, int64, int64, uint32) { pongs++ },
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	step := func() {
		t.Helper()
		if err := c.SendInput(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Poll(poll); err != nil {
			t.Fatal(err)
		}
	}
	v := c.View()
	var target schema.ChestState
	found := false
	for i := 0; i < rounds && !found; i++ {
		step()
		me := v.You().Pos
		for j := range v.NumChests() {
			ch := v.ChestAt(j)
			if ch.Status == uint8(wire.ChestStatusClosed) && (!found || dist2(ch.Pos, me) < dist2(target.Pos, me)) {
				target, found = *ch, true
			}
		}
	}
	if !found {
		t.Fatalf("no closed chest in view after %d rounds (%d snapshots)", rounds, c.Session().Stats.Snapshots)
	}
	const reach = 2_500 // inside the 3 m reach
	for i := 0; i < rounds && dist2(v.You().Pos, target.Pos) > reach*reach; i++ {
		if _, err := c.Do(schema.Action{Kind: uint8(wire.ActionKindMove), Pos: target.Pos}); err != nil {
			t.Fatal(err)
		}
		step()
	}
	if d := dist2(v.You().Pos, target.Pos); d > reach*reach {
		t.Fatalf("did not reach chest %d at %+v from %+v", target.ID, target.Pos, v.You().Pos)
	}
	if _, err := c.Do(schema.Action{Kind: uint8(wire.ActionKindOpenChest), Target: uint64(target.ID)}); err != nil {
		t.Fatal(err)
	}
	var loot uint64
	for i := 0; i < rounds && loot == 0; i++ {
		step()
		for k := range shown {
			if k.Kind == uint8(wire.LootEventKindGenerated) {
				loot = k.ID
			}
		}
	}
	if loot == 0 {
		t.Fatalf("no LootGenerated after opening chest %d", target.ID)
	}
	if _, err := c.Do(schema.Action{Kind: uint8(wire.ActionKindPickupLoot), Target: loot}); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(); err != nil {
		t.Fatal(err)
	}
	picked := client.LootKey{ID: loot, Kind: uint8(wire.LootEventKindPickedUp)}
	for i := 0; i < rounds && (shown[picked] == 0 || pongs == 0); i++ {
		step()
	}
	// Keep acknowledging: repeats still in flight must be filtered.
	for range 20 {
		step()
	}
	for k, n := range shown {
		if n != 1 {
			t.Errorf("loot %+v shown %d times", k, n)
		}
	}
	if shown[picked] != 1 || pongs == 0 {
		t.Fatalf("pickup shown %d times, %d pongs", shown[picked], pongs)
	}
	l := c.Session().Loot()
	if l.Stats.Expected != 1 || l.Lost() != 0 || c.View().You().Items == 0 {
		t.Fatalf("own loot expected %d lost %d, items %d", l.Stats.Expected, l.Lost(), c.View().You().Items)
	}
	if c.Session().Outbox().Len() != 0 {
		t.Fatalf("%d actions never applied", c.Session().Outbox().Len())
	}
}

package main

import (
	"testing"

	"github.com/treasured/treasured/client"
	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

func viewWith(me schema.Vec2, chests ...schema.ChestState) *client.View {
	var v client.View
	v.Apply(&schema.SnapshotFrame{Tick: 1, You: schema.PlayerState{ID: 1, Pos: me}, Chests: chests}, 1, nil)
	return &v
}

func TestBotWalksThenOpens(t *testing.T) {
	far := schema.ChestState{ID: 7, Pos: schema.Vec2{X: 20_000}, OpenedBy: schema.NoPlayer}
	near := schema.ChestState{ID: 8, Pos: schema.Vec2{X: 10_000}, OpenedBy: schema.NoPlayer}
	open := schema.ChestState{ID: 9, Pos: schema.Vec2{X: 100}, Status: uint8(wire.ChestStatusOpened)}
	b := NewBot(1, 1)
	mix := Mix{Open: 1}
	a := b.Next(viewWith(schema.Vec2{}, far, near, open), mix)
	if a.Kind != uint8(wire.ActionKindMove) || a.Pos != near.Pos || b.Fallbacks != 1 {
		t.Fatalf("out of reach: %+v", a)
	}
	a = b.Next(viewWith(schema.Vec2{X: 8_000}, far, near, open), mix)
	if a.Kind != uint8(wire.ActionKindOpenChest) || a.Target != 8 {
		t.Fatalf("in reach: %+v", a)
	}
}

func TestBotPicksUpLootInReach(t *testing.T) {
	b := NewBot(1, 2)
	b.SeeLoot(&schema.LootEvent{LootID: 5, Kind: uint8(wire.LootEventKindGenerated), Pos: schema.Vec2{X: 50_000}})
	b.SeeLoot(&schema.LootEvent{LootID: 6, Kind: uint8(wire.LootEventKindGenerated), Pos: schema.Vec2{X: 1_000}})
	b.SeeLoot(&schema.LootEvent{LootID: 7, Kind: uint8(wire.LootEventKindGenerated), Pos: schema.Vec2{X: 500}})
	b.SeeLoot(&schema.LootEvent{LootID: 6, Kind: uint8(wire.LootEventKindPickedUp)})
	v := viewWith(schema.Vec2{})
	a := b.Next(v, Mix{Pickup: 1})
	if a.Kind != uint8(wire.ActionKindPickupLoot) || a.Target != 7 {
		t.Fatalf("%+v", a)
	}
	// 7 was tried, 5 is out of reach: walk (wander, no chest in view).
	a = b.Next(v, Mix{Pickup: 1})
	if a.Kind != uint8(wire.ActionKindMove) || b.nLoot != 1 {
		t.Fatalf("%+v, %d loot left", a, b.nLoot)
	}
	if a.Pos.X < -botWanderMM || a.Pos.X > botWanderMM {
		t.Fatalf("wander goal %+v", a.Pos)
	}
	for i := range 40 {
		b.SeeLoot(&schema.LootEvent{LootID: uint64(100 + i), Kind: uint8(wire.LootEventKindGenerated)})
	}
	if b.nLoot != maxBotLoot || b.loot[maxBotLoot-1].id != 139 {
		t.Fatalf("loot ring %d, last %d", b.nLoot, b.loot[maxBotLoot-1].id)
	}
}

func TestBotMixProportions(t *testing.T) {
	b := NewBot(3, 3)
	c := schema.ChestState{ID: 1, OpenedBy: schema.NoPlayer}
	v := viewWith(schema.Vec2{}, c)
	for range 10000 {
		b.Next(v, Mix{Move: 3, Open: 1})
	}
	if b.Opens < 2200 || b.Opens > 2800 || b.Moves+b.Opens != 10000 {
		t.Fatalf("opens %d moves %d", b.Opens, b.Moves)
	}
}

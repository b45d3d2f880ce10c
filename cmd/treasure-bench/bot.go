package main

import (
	"math/rand/v2"

	"github.com/treasured/treasured/client"
	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// World facts the bots play by. They mirror engine.DefaultConfig (3 m reach,
// 32 m zones); a server with other rules only makes the bots less efficient
// (more failed opens), never the measurement wrong.
const (
	botReachMM  = 3_000
	botWanderMM = 32_000
	maxBotLoot  = 16
)

type lootSpot struct {
	id  uint64
	pos schema.Vec2
}

// Bot decides a player's next action from what its view shows, like a
// player would: walk to the nearest closed chest, open it when within reach,
// pick up loot lying within reach. The mix weights which of the three it
// tries each input; when the chosen one is impossible (nothing in reach) it
// walks instead, so a move-heavy mix and an open-heavy mix both make
// progress.
type Bot struct {
	rng    rand.PCG
	goal   schema.Vec2
	goalID uint32 // chest walked to, ^0 for a wander point
	loot   [maxBotLoot]lootSpot
	nLoot  int

	Opens, Pickups, Moves, Fallbacks uint64
}

// NewBot seeds a bot.
func NewBot(seed, stream uint64) *Bot {
	b := &Bot{goalID: ^uint32(0)}
	b.rng.Seed(seed, stream)
	return b
}

// SeeLoot tracks loot lying around from the events shown to the player.
func (b *Bot) SeeLoot(ev *schema.LootEvent) {
	switch wire.LootEventKind(ev.Kind) {
	case wire.LootEventKindGenerated:
		if b.nLoot == maxBotLoot { // forget the oldest
			copy(b.loot[:], b.loot[1:])
			b.nLoot--
		}
		b.loot[b.nLoot] = lootSpot{ev.LootID, ev.Pos}
		b.nLoot++
	default: // picked up or expired: gone
		for i := 0; i < b.nLoot; i++ {
			if b.loot[i].id == ev.LootID {
				copy(b.loot[i:], b.loot[i+1:b.nLoot])
				b.nLoot--
				return
			}
		}
	}
}

func dist2(a, b schema.Vec2) int64 {
	dx, dy := int64(a.X)-int64(b.X), int64(a.Y)-int64(b.Y)
	return dx*dx + dy*dy
}

// Next returns the action for the next input.
func (b *Bot) Next(v *client.View, mix Mix) schema.Action {
	me := v.You().Pos
	r := int(b.rng.Uint64() % uint64(mix.Move+mix.Open+mix.Pickup))
	switch {
	case r < mix.Open:
		if c := b.nearestClosed(v, me); c != nil && dist2(c.Pos, me) <= botReachMM*botReachMM {
			b.Opens++
			return schema.Action{Kind: uint8(wire.ActionKindOpenChest), Target: uint64(c.ID)}
		}
		b.Fallbacks++
	case r < mix.Open+mix.Pickup:
		for i := 0; i < b.nLoot; i++ {
			if dist2(b.loot[i].pos, me) <= botReachMM*botReachMM {
				b.Pickups++
				id := b.loot[i].id
				// Try it once: if someone else was faster, the event that
				// it is gone may never reach us (out of view).
				copy(b.loot[i:], b.loot[i+1:b.nLoot])
				b.nLoot--
				return schema.Action{Kind: uint8(wire.ActionKindPickupLoot), Target: id}
			}
		}
		b.Fallbacks++
	}
	b.Moves++
	return schema.Action{Kind: uint8(wire.ActionKindMove), Pos: b.moveGoal(v, me)}
}

// moveGoal is the nearest closed chest in view, or, with none, a wander
// point re-drawn on arrival.
func (b *Bot) moveGoal(v *client.View, me schema.Vec2) schema.Vec2 {
	if c := b.nearestClosed(v, me); c != nil {
		b.goal, b.goalID = c.Pos, c.ID
		return c.Pos
	}
	if b.goalID != ^uint32(0) || dist2(b.goal, me) <= botReachMM*botReachMM {
		b.goalID = ^uint32(0)
		b.goal = schema.Vec2{
			X: me.X + int32(b.rng.Uint64()%(2*botWanderMM)) - botWanderMM,
			Y: me.Y + int32(b.rng.Uint64()%(2*botWanderMM)) - botWanderMM,
		}
	}
	return b.goal
}

func (b *Bot) nearestClosed(v *client.View, me schema.Vec2) *schema.ChestState {
	var best *schema.ChestState
	var bestD int64
	for i := range v.NumChests() {
		c := v.ChestAt(i)
		if c.Status != uint8(wire.ChestStatusClosed) {
			continue
		}
		if d := dist2(c.Pos, me); best == nil || d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

package engine

import (
	"errors"
	"fmt"
	"time"
)

// Config fixes the world: its geometry, its rules and the size of every arena.
// New preallocates from it, so nothing in the engine grows while it runs.
// Distances are int32 millimetres and times are ticks (20 Hz, 50 ms): no
// floats, no wall clock, so the simulation is bit-identical everywhere.
type Config struct {
	// Seed places the chests and derives every loot id and loot content.
	Seed uint64

	// Regions is the number of independent maps (Join picks one). Zones and
	// chests never span two regions, so players of different regions never
	// see each other.
	Regions int
	// ZonesX, ZonesY: the zone grid of one region. A player sees its zone
	// and the 8 around it.
	ZonesX, ZonesY int
	// ZoneSize is the side of a zone in mm.
	ZoneSize int32
	// ChestsPerZone chests are placed in every zone from Seed.
	ChestsPerZone int

	// MaxPlayers is the number of player slots (Record.Player < MaxPlayers).
	MaxPlayers int
	// MaxLoot is the number of loot items that may lie in the world at once.
	// 0 means one per chest, which can never run out: a chest holds at most
	// one live loot because loot expires before its chest respawns.
	MaxLoot int

	// RespawnTicks after opening, a chest closes again with the next
	// generation. It must exceed LootTTLTicks (see MaxLoot).
	RespawnTicks uint32
	// LootTTLTicks after generation, loot nobody picked up expires.
	LootTTLTicks uint32
	// ReachMM is how close (Euclidean) a player must be to a chest to open
	// it or to pick up its loot.
	ReachMM int32
	// MaxSpeedMM is the distance a player may move in one tick, whatever
	// the number of Move actions it sends.
	MaxSpeedMM int32

	// MaxPending bounds each player's queue of undelivered loot events and,
	// separately, of undelivered Gone ids; a player whose queue reaches it is
	// resynced (delivery.go). Every player's event queue is reserved in
	// NodePool, so an honest client must never come near it. 0 means
	// max(64, 2 x the chests of a view (9 zones)): every chest in view opened
	// and emptied before the client acknowledges once (72 by default).
	MaxPending int
	// NodePool is the number of (player, pending item) entries shared by all
	// queues. MaxPlayers*MaxPending of them are reserved for event queues,
	// the rest is the Gone queues' budget. 0 means MaxPlayers*(MaxPending+32);
	// a smaller value is raised to MaxPlayers*MaxPending + MaxPending.
	NodePool int
	// EventPool is the number of distinct loot events that may be awaiting
	// delivery at once. 0, or a smaller value, means what cannot run out
	// (delivery.go, Accounting): 4 per chest without resume, more with a
	// grace period (eventSlotsPerChest).
	EventPool int

	// TickHz is the number of Steps per second of wall time. The engine
	// itself counts ticks, but every duration of the rules above is in
	// ticks, so a world replayed or recovered at another rate would play
	// differently: the rate is part of the world and of its journal.
	TickHz uint32
	// GraceTicks keeps the state of a player whose session ended (Leave)
	// for this many ticks: position, items and undelivered loot events stay
	// in its slot, invisible to others, and a Join with the same player key
	// reattaches them (resume). 0 frees the slot at once.
	GraceTicks uint32
}

// LivenessTicks: a player whose oldest undelivered loot event is older than
// this many ticks (10 s, netio's idle timeout) is resynced (delivery.go).
// Worlds whose chests respawn sooner use RespawnTicks-1, the most the event
// pool's bound allows.
const LivenessTicks = 200

func (c Config) livenessTicks() uint32 { return min(LivenessTicks, c.RespawnTicks-1) }

// maxEventAge bounds how long an event slot can stay referenced: LivenessTicks
// while its player is active, GraceTicks while parked, LivenessTicks again
// after a resume, and the hard limit of resyncStale (2 x liveness + grace)
// for a player that keeps leaving and resuming.
func (c Config) maxEventAge() uint32 { return 2*c.livenessTicks() + c.GraceTicks }

// eventSlotsPerChest is how many events of one chest can be referenced at
// once: those of the generations with an event in any window of the longest
// life of a reference, two events per generation, generations RespawnTicks
// apart, each one's events within LootTTLTicks. A reference past the hard
// limit is dropped at the next scan or resume, so it lives at most
// maxEventAge + one liveness horizon (active, then parked before the scan)
// + GraceTicks (parked) + 2. 4 per chest without resume (GraceTicks 0).
func (c Config) eventSlotsPerChest() int {
	window := int(c.maxEventAge()) + int(c.livenessTicks()) + int(c.GraceTicks) + 2
	if c.GraceTicks == 0 {
		window = int(c.livenessTicks()) + 1
	}
	return 2 * ((window+int(c.LootTTLTicks)-1)/int(c.RespawnTicks) + 1)
}

// DefaultConfig is a 3-region world of 32x32 zones of 32 m with 4 chests per
// zone (12,288 chests), 16,384 player slots, 30 s chest respawn, 15 s loot
// lifetime, 3 m reach and 6 m/s top speed.
func DefaultConfig() Config {
	return Config{
		Seed:          0x7265617375726564, // "reasured"
		Regions:       3,
		ZonesX:        32,
		ZonesY:        32,
		ZoneSize:      32_000,
		ChestsPerZone: 4,
		MaxPlayers:    16384,
		RespawnTicks:  600,
		LootTTLTicks:  300,
		ReachMM:       3_000,
		MaxSpeedMM:    300,
		TickHz:        20,
	}
}

// TickPeriod is one tick of wall time. It and TickHzOf are the only places
// the tick rate turns into a period or back: netio's tick scheduler, the
// Welcome's tick_hz and every duration given in ticks derive from TickHz.
func (c Config) TickPeriod() time.Duration { return time.Second / time.Duration(c.TickHz) }

// Ticks is d in whole ticks, rounded down and capped at the uint32 range.
func (c Config) Ticks(d time.Duration) uint32 {
	return uint32(min(max(0, d/c.TickPeriod()), 1<<32-1))
}

// TickHzOf is the tick rate whose period is period. The rate is part of the
// world (journaled, checkpointed), so a period that does not divide one
// second, which would silently become another rate, is an error.
func TickHzOf(period time.Duration) (uint32, error) {
	if period <= 0 || time.Second%period != 0 {
		return 0, fmt.Errorf("engine: tick period %v does not divide one second (50ms, 20ms, 100ms...)", period)
	}
	return uint32(time.Second / period), nil
}

// Limits that keep every product of the engine's integer arithmetic inside
// its type: positions and squared distances in int64, entity keys in uint32
// (see snapshot.go), the record sort key in 54 bits (see order.go).
const (
	maxRegions     = 255     // Record.Region is a uint8
	maxZonesPerDim = 4096    // zone ids stay far below 2^31
	maxExtentMM    = 1 << 30 // region side; squared distances fit int64
	maxPlayers     = 1 << 22 // 22 bits of the record sort key
	maxEntityKeys  = 1 << 31 // chests + players: snapshot entity keys
)

// Validate reports the first setting that New cannot honour.
func (c Config) Validate() error {
	switch {
	case c.Regions < 1 || c.Regions > maxRegions:
		return fmt.Errorf("engine: Regions %d not in [1, %d]", c.Regions, maxRegions)
	case c.ZonesX < 1 || c.ZonesY < 1 || c.ZonesX > maxZonesPerDim || c.ZonesY > maxZonesPerDim:
		return fmt.Errorf("engine: zone grid %dx%d not in [1, %d]^2", c.ZonesX, c.ZonesY, maxZonesPerDim)
	case c.ZoneSize < 1000:
		return fmt.Errorf("engine: ZoneSize %d mm < 1000", c.ZoneSize)
	case int64(c.ZonesX)*int64(c.ZoneSize) > maxExtentMM || int64(c.ZonesY)*int64(c.ZoneSize) > maxExtentMM:
		return fmt.Errorf("engine: region larger than %d mm", maxExtentMM)
	case c.ChestsPerZone < 0 || c.ChestsPerZone > 1<<16:
		return fmt.Errorf("engine: ChestsPerZone %d not in [0, 65536]", c.ChestsPerZone)
	case c.MaxPlayers < 1 || c.MaxPlayers > maxPlayers:
		return fmt.Errorf("engine: MaxPlayers %d not in [1, %d]", c.MaxPlayers, maxPlayers)
	case int64(c.Regions)*int64(c.ZonesX)*int64(c.ZonesY)*int64(c.ChestsPerZone)+int64(c.MaxPlayers) >= maxEntityKeys:
		return errors.New("engine: chests + players exceed 2^31")
	case c.MaxLoot < 0:
		return fmt.Errorf("engine: MaxLoot %d < 0", c.MaxLoot)
	case c.LootTTLTicks < 1:
		return errors.New("engine: LootTTLTicks must be >= 1")
	case c.RespawnTicks <= c.LootTTLTicks:
		// One live loot per chest is what lets a loot id be decoded to its
		// chest and the expiry queue be bounded by the chest count.
		return fmt.Errorf("engine: RespawnTicks %d must exceed LootTTLTicks %d", c.RespawnTicks, c.LootTTLTicks)
	case c.RespawnTicks > 1<<24:
		return fmt.Errorf("engine: RespawnTicks %d > 2^24", c.RespawnTicks)
	case c.ReachMM < 0 || c.MaxSpeedMM < 0:
		return errors.New("engine: ReachMM and MaxSpeedMM must be >= 0")
	case c.MaxPending != 0 && (c.MaxPending < 16 || c.MaxPending > 1<<20):
		return fmt.Errorf("engine: MaxPending %d not in [16, 2^20]", c.MaxPending)
	case c.NodePool < 0 || c.NodePool > 1<<30:
		return fmt.Errorf("engine: NodePool %d not in [0, 2^30]", c.NodePool)
	case c.EventPool < 0 || c.EventPool > 1<<30:
		return fmt.Errorf("engine: EventPool %d not in [0, 2^30]", c.EventPool)
	case c.TickHz < 1 || c.TickHz > 1000:
		return fmt.Errorf("engine: TickHz %d not in [1, 1000]", c.TickHz)
	case c.GraceTicks > 1<<24:
		return fmt.Errorf("engine: GraceTicks %d > 2^24", c.GraceTicks)
	case int64(c.MaxPlayers)*int64(c.normalized().MaxPending+32) > 1<<30:
		return fmt.Errorf("engine: MaxPlayers %d x MaxPending %d: the reserved node pool exceeds 2^30", c.MaxPlayers, c.normalized().MaxPending)
	}
	return nil
}

// normalized fills the "0 means derived" fields. It is the one place where
// defaults that depend on other fields are decided.
func (c Config) normalized() Config {
	chests := c.Regions * c.ZonesX * c.ZonesY * c.ChestsPerZone
	if c.MaxLoot == 0 || c.MaxLoot > chests {
		// More loot slots than chests can never be used (one live loot per
		// chest); a world without chests still gets one slot so the arena
		// code has no empty special case.
		c.MaxLoot = max(chests, 1)
	}
	if c.MaxPending == 0 {
		c.MaxPending = max(64, 2*9*c.ChestsPerZone)
	}
	if c.NodePool == 0 {
		c.NodePool = c.MaxPlayers * (c.MaxPending + 32)
	}
	// The floors below are what makes an honest player's delivery
	// impossible to starve (delivery.go, Accounting); nobody may configure
	// them away.
	c.NodePool = max(c.NodePool, c.reservedNodes()+c.MaxPending)
	c.EventPool = max(c.EventPool, c.eventSlotsPerChest()*chests, 1)
	return c
}

// reservedNodes is the part of NodePool only event queues may use: every
// player's event queue full at once.
func (c Config) reservedNodes() int { return c.MaxPlayers * c.MaxPending }

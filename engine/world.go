package engine

import (
	"math/bits"

	"github.com/treasured/treasured/engine/seqwin"
	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// World is the whole simulation. Ownership (docs/ARCHITECTURE.md "Code conventions"):
//
//   - Step and every method not listed below: the tick goroutine only.
//   - Snapshot: any number of fan-out goroutines at once between two Steps,
//     each for distinct players. It reads the shared arrays and writes only
//     views[player] and the queue nodes owned by that player.
//
// Every entity array holds pointer-free structs addressed by int32 index
// (plus a generation where slots are recycled), so the GC never scans them
// and the heap does not grow after New.
type World struct {
	cfg Config
	geo geometry

	tick uint32
	sum  uint64 // incremental state hash: sum of entity hashes (hash.go)

	players []player
	// activeBits has a bit per player slot, set while its player is active
	// (player.active; setActive keeps the two equal). ActivePlayers walks
	// it instead of reading a field of every player: at 16,384 slots that
	// was a cache miss per slot, ~1 ms at the start of every fan-out.
	activeBits []uint64
	// pHot is the part of each player Step touches most, apart from the cold
	// rest so moves and zone lists stay in cache.
	pHot   []playerHot
	views  []view // snapshot side of each player (snapshot.go)
	chests []chest

	// The interest index, rebuilt at the end of every Step and read-only
	// until the next: the public state of every chest (refreshed when it
	// changes) and of every active player grouped by zone, so a view scan
	// reads 9 short contiguous runs instead of chasing a list per zone.
	chestPub []schema.ChestState
	// zoneChanged[z] is at least the newest ChangedTick of zone z's chests
	// (publishChest keeps it so): a view scan skips a zone whose chests
	// all predate the viewer's baseline without reading them.
	zoneChanged []uint32
	zoneStart   []int32 // players of zone z: zonePlayers[zoneStart[z]:zoneStart[z+1]]
	zonePlayers []schema.PlayerState
	pIdx        []int32 // player slot -> index in zonePlayers (active only)
	loots       []loot
	// lootFree heads the free list threaded through the dead loot slots
	// themselves (loot.nextFree), so freeing costs no memory; -1 when every
	// slot is in use.
	lootFree int32
	lootLive int32

	// zoneHead[z] is the first player of zone z's list (playerHot.zNext), -1 if
	// empty. Interest is "own zone + 8 neighbours", so a view is 9 lists.
	zoneHead []int32

	// Chests close, and loot expires, a fixed number of ticks after the
	// event that queued them, so both queues are FIFO in due order and each
	// holds at most one entry per chest: no timer wheel, no heap.
	respawnQ fifo[opening] // opened chests, in opening order
	expireQ  fifo[lootRef] // loot slot+generation, in creation order

	q queues // pending event / Gone deliveries (delivery.go)

	parked parkList // players in their grace period (resume.go)

	// Per-tick scratch, reused every Step.
	ordered  []Record
	keys     []uint64
	keysTmp  []uint64
	acts     []schema.Action
	tickEvs  []tickEvent
	tickLoot []schema.LootEvent
	dirtyP   []int32
	dirtyC   []int32
	dirtyL   []int32

	// takenAt[i] is the last tick slot i got a new player, and lastTaken
	// the last tick any did: the openings to forget (forgetOpeners).
	takenAt   []uint32
	lastTaken uint32
	// movedAt[j] is 1 + the last tick slot j's parked player moved to slot
	// movedTo[j] (a resume that reached another slot): its openings follow
	// it there (forgetOpeners). 0: never.
	movedAt []uint32
	movedTo []int32

	lootKey uint64
	stats   Stats
}

// playerHot is the part of a player every view scan reads: its zone list
// link and what PlayerState carries.
type playerHot struct {
	pos     schema.Vec2
	zone    int32  // global zone index, valid while active
	items   uint32 // loot quantity held (sum of inv)
	changed uint32 // tick of the last change of pos, zone or items
	zNext   int32  // zone list, -1 terminated
}

// player is the rest of a slot.
type player struct {
	zPrev  int32 // zone list back link, -1 when first
	active bool
	region uint8

	gen uint32 // session generation from Join; stale records are ignored
	key uint64
	inv [itemKinds]uint32

	// win makes each action_seq take effect once, whatever the duplication
	// and reordering on the path (docs/PROTOCOL.md "Inputs"). A client
	// repeats at most its last 8 unacknowledged actions, so a seq more than
	// 64 below the highest can only be a copy of one handled long ago.
	win seqwin.Window[uint32]
	ack uint32 // newest snapshot tick the client acknowledged

	// Move budget: MaxSpeedMM per tick, whatever the number of Moves.
	moveTick uint32
	moved    int32

	// zoneEnt[cell] is the tick the zone at cell (3x3 around zone, row
	// major) last entered this player's view: anything there is news to
	// the client from that tick on, however old its own changes.
	zoneEnt [9]uint32

	evQ   queue // loot events not yet acknowledged
	goneQ queue // player ids that left the view, not yet acknowledged
	// liveFrom is the tick this player's liveness clock starts from: its
	// join, its resume, or a checkpoint load (delivery.go, Liveness).
	liveFrom uint32

	// Parked (resume.go): the session ended, the state waits for a Join
	// with the same key until tick parkedUntil. Never both active and parked.
	parked             bool
	parkedUntil        uint32
	parkPrev, parkNext int32

	hash  uint64 // this player's current term of World.sum
	dirty uint32 // tick it was queued for rehash
}

type chest struct {
	pos        schema.Vec2
	zone       int32
	status     uint8 // wire.ChestStatus
	gen        uint32
	lootID     uint64 // loot of the current generation, 0 when closed
	openedBy   uint32 // schema.NoPlayer when closed or once another player took the opener's slot
	openedTick uint32
	changed    uint32
	loot       int32 // live loot slot, -1 when none (picked up, expired, closed)

	hash  uint64
	dirty uint32
}

type loot struct {
	id       uint64
	chest    int32
	gen      uint32 // slot generation, bumped on free
	alive    bool
	item     uint16
	qty      uint16
	expires  uint32
	nextFree int32

	hash  uint64
	dirty uint32
}

// opening is an entry of the respawn queue: an opened chest and its opener,
// a copy of the chest's openedBy, so that the pass over the queue on a tick
// with a leave (forgetOpeners) reads one dense array instead of every
// opened chest.
type opening struct {
	chest int32
	by    uint32 // schema.NoPlayer once forgotten
}

type lootRef struct {
	slot int32
	gen  uint32
}

// tickEvent is a loot event of the current tick before fan-out.
type tickEvent struct {
	ev    schema.LootEvent
	zone  int32
	actor int32 // finder or picker, told even out of view; -1 for none
}

// geometry holds the numbers derived from Config used on hot paths.
type geometry struct {
	zx, zy   int32 // zones per axis in a region
	zpr      int32 // zones per region
	zones    int32
	size     int32 // zone side, mm
	w, h     int32 // region extent, mm
	cpz      int32 // chests per zone
	nchests  int32
	reach2   int64
	maxSpeed int64
}

// New builds the world of cfg at tick 0: chests placed, every player slot
// free. It allocates everything the world will ever use.
func New(cfg Config) (*World, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.normalized()
	g := newGeometry(&cfg)
	w := &World{
		cfg:         cfg,
		geo:         g,
		players:     make([]player, cfg.MaxPlayers),
		activeBits:  make([]uint64, (cfg.MaxPlayers+63)/64),
		pHot:        make([]playerHot, cfg.MaxPlayers),
		chestPub:    make([]schema.ChestState, g.nchests),
		zoneChanged: make([]uint32, g.zones),
		zoneStart:   make([]int32, g.zones+1),
		zonePlayers: make([]schema.PlayerState, cfg.MaxPlayers),
		pIdx:        make([]int32, cfg.MaxPlayers),
		views:       make([]view, cfg.MaxPlayers),
		chests:      make([]chest, g.nchests),
		loots:       make([]loot, cfg.MaxLoot),
		zoneHead:    make([]int32, g.zones),
		respawnQ:    newFIFO[opening](int(g.nchests)),
		expireQ:     newFIFO[lootRef](int(g.nchests)),
		q:           newQueues(cfg.NodePool, cfg.reservedNodes(), cfg.EventPool, cfg.MaxPending, int(cfg.livenessTicks())),
		ordered:     make([]Record, 0, cfg.MaxPlayers),
		keys:        make([]uint64, 0, cfg.MaxPlayers),
		keysTmp:     make([]uint64, 0, cfg.MaxPlayers),
		acts:        make([]schema.Action, 0, 64),
		tickEvs:     make([]tickEvent, 0, 1024),
		tickLoot:    make([]schema.LootEvent, 0, 1024),
		dirtyP:      make([]int32, 0, cfg.MaxPlayers),
		dirtyC:      make([]int32, 0, 1024),
		dirtyL:      make([]int32, 0, 1024),
		takenAt:     make([]uint32, cfg.MaxPlayers),
		movedAt:     make([]uint32, cfg.MaxPlayers),
		movedTo:     make([]int32, cfg.MaxPlayers),
		lootKey:     lootKey(cfg.Seed),
		parked:      parkList{head: -1, tail: -1},
	}
	w.initEmpty()
	w.placeChests()
	return w, nil
}

// newGeometry derives the zone grid and the distances of a normalized cfg.
func newGeometry(cfg *Config) geometry {
	g := geometry{
		zx: int32(cfg.ZonesX), zy: int32(cfg.ZonesY),
		size: cfg.ZoneSize, cpz: int32(cfg.ChestsPerZone),
		reach2: int64(cfg.ReachMM) * int64(cfg.ReachMM), maxSpeed: int64(cfg.MaxSpeedMM),
	}
	g.zpr = g.zx * g.zy
	g.zones = g.zpr * int32(cfg.Regions)
	g.w, g.h = g.zx*g.size, g.zy*g.size
	g.nchests = g.zones * g.cpz
	return g
}

// initEmpty sets the empty state of every list: no player in any zone list,
// queue or parked list; every loot slot free, on the free list in slot
// order, with its hash term.
func (w *World) initEmpty() {
	for i := range w.zoneHead {
		w.zoneHead[i] = -1
	}
	for i := range w.players {
		p := &w.players[i]
		p.zPrev = -1
		p.parkPrev, p.parkNext = -1, -1
		w.pHot[i].zNext = -1
		p.evQ, p.goneQ = emptyQueue, emptyQueue
	}
	for i := range w.loots {
		w.loots[i].nextFree = int32(i + 1)
		w.loots[i].chest = -1
	}
	w.loots[len(w.loots)-1].nextFree = -1
	w.lootFree = 0
	for i := range w.loots {
		w.loots[i].hash = w.hashLoot(int32(i))
		w.sum += w.loots[i].hash
	}
}

// placeChests places the closed chests: zone z holds chests [z*cpz,
// (z+1)*cpz), placed uniformly in the zone from the seed. Static layout
// means a zone's chests are an index range: no per-zone chest lists.
func (w *World) placeChests() {
	g, seed := &w.geo, w.cfg.Seed
	for c := range w.chests {
		ch := &w.chests[c]
		z := int32(c) / g.cpz
		_, zx, zy := g.zoneXY(z)
		h := mix2(seed, uint64(c))
		ch.pos = schema.Vec2{
			X: zx*g.size + int32(h%uint64(g.size)),
			Y: zy*g.size + int32((h>>32)%uint64(g.size)),
		}
		ch.zone = z
		ch.status = uint8(wire.ChestStatusClosed)
		ch.openedBy = schema.NoPlayer
		ch.loot = -1
		ch.hash = w.hashChest(int32(c))
		w.sum += ch.hash
		w.publishChest(int32(c))
	}
}

// publishChest refreshes chest i's public state, and its zone's newest
// change, which only ever rises: a value above the truth only costs a
// skipped skip, one below it would hide a change.
func (w *World) publishChest(i int32) {
	cs := w.chestState(i)
	w.chestPub[i] = cs
	z := i / w.geo.cpz
	w.zoneChanged[z] = max(w.zoneChanged[z], cs.ChangedTick)
}

// Config returns the normalized configuration the world runs with.
func (w *World) Config() Config { return w.cfg }

// Tick is the number of Steps taken; snapshots built now are of this tick.
func (w *World) Tick() uint32 { return w.tick }

// NumChests is the number of chests; chest ids are [0, NumChests).
func (w *World) NumChests() int { return int(w.geo.nchests) }

// Active reports whether slot player holds a joined session.
func (w *World) Active(player int32) bool {
	return player >= 0 && int(player) < len(w.players) && w.players[player].active
}

// ActivePlayers appends the active slots in ascending order to dst.
func (w *World) ActivePlayers(dst []int32) []int32 {
	for k, word := range w.activeBits {
		for word != 0 {
			dst = append(dst, int32(k*64+bits.TrailingZeros64(word)))
			word &= word - 1
		}
	}
	return dst
}

// setActive sets slot i's player active or not, and its bit in activeBits:
// the one place either changes.
func (w *World) setActive(i int32, on bool) {
	w.players[i].active = on
	if on {
		w.activeBits[i/64] |= 1 << (i % 64)
	} else {
		w.activeBits[i/64] &^= 1 << (i % 64)
	}
}

// Player returns the public state of an active player, as snapshots carry it.
func (w *World) Player(player int32) (schema.PlayerState, bool) {
	if !w.Active(player) {
		return schema.PlayerState{}, false
	}
	return w.playerState(player), true
}

// Chest returns the public state of chest id.
func (w *World) Chest(id uint32) (schema.ChestState, bool) {
	if id >= uint32(w.geo.nchests) {
		return schema.ChestState{}, false
	}
	return w.chestPub[id], true
}

// TickEvents are the loot events of the last Step in the order they happened,
// valid until the next Step. For metrics, logs and tests; clients get theirs
// through snapshots.
func (w *World) TickEvents() []schema.LootEvent { return w.tickLoot }

// LastOrdered is the last Step's records after validation, in the
// deterministic order they were applied, valid until the next Step. It is what
// a journal appends: replaying it into a world built from the same Config
// reproduces every hash.
func (w *World) LastOrdered() []Record { return w.ordered }

// Stats returns the counters. Call it from the goroutine that calls Step.
func (w *World) Stats() Stats {
	s := w.stats
	s.NodesInUse = uint64(w.q.nodesUsed)
	s.EventsInUse = uint64(w.q.eventsUsed)
	s.LootLive = uint64(w.lootLive)
	return s
}

func (w *World) playerState(i int32) schema.PlayerState {
	h := &w.pHot[i]
	return schema.PlayerState{ID: uint32(i), Pos: h.pos, Zone: uint32(h.zone), Items: h.items, ChangedTick: h.changed}
}

func (w *World) chestState(i int32) schema.ChestState {
	c := &w.chests[i]
	return schema.ChestState{
		ID: uint32(i), Status: c.status, Generation: c.gen, LootID: c.lootID,
		OpenedBy: c.openedBy, Pos: c.pos, ChangedTick: c.changed,
	}
}

// zoneXY splits a global zone index into region and grid coordinates.
func (g *geometry) zoneXY(z int32) (r, x, y int32) {
	r = z / g.zpr
	rem := z - r*g.zpr
	return r, rem % g.zx, rem / g.zx
}

// zoneOf is the zone of pos (already clamped to the region) in region r.
func (g *geometry) zoneOf(r uint8, pos schema.Vec2) int32 {
	return int32(r)*g.zpr + (pos.Y/g.size)*g.zx + pos.X/g.size
}

// cellZone returns the zone at cell (0..8, row major, 4 = z itself) of the
// 3x3 block around z, or -1 off the grid. Blocks never cross regions.
func (g *geometry) cellZone(z int32, cell int) int32 {
	r, x, y := g.zoneXY(z)
	x += int32(cell%3) - 1
	y += int32(cell/3) - 1
	if x < 0 || y < 0 || x >= g.zx || y >= g.zy {
		return -1
	}
	return r*g.zpr + y*g.zx + x
}

// near reports whether zones a and b see each other: same region and
// Chebyshev distance <= 1. The relation is symmetric, which is why one zone
// change updates both directions of visibility at once (interest.go).
func (g *geometry) near(a, b int32) bool {
	ra, ax, ay := g.zoneXY(a)
	rb, bx, by := g.zoneXY(b)
	return ra == rb && ax-bx <= 1 && bx-ax <= 1 && ay-by <= 1 && by-ay <= 1
}

// fifo is a fixed-capacity queue in a circular buffer (not to be confused
// with netio's SPSC rings between goroutines: this one has one owner).
type fifo[T any] struct {
	buf     []T
	head, n int
}

func newFIFO[T any](capacity int) fifo[T] { return fifo[T]{buf: make([]T, max(capacity, 1))} }

func (r *fifo[T]) push(v T) bool {
	if r.n == len(r.buf) {
		return false
	}
	i := r.head + r.n
	if i >= len(r.buf) {
		i -= len(r.buf)
	}
	r.buf[i] = v
	r.n++
	return true
}

func (r *fifo[T]) peek() (T, bool) {
	if r.n == 0 {
		var zero T
		return zero, false
	}
	return r.buf[r.head], true
}

// ref returns the k-th oldest element, 0 <= k < n, for update in place.
func (r *fifo[T]) ref(k int) *T {
	i := r.head + k
	if i >= len(r.buf) {
		i -= len(r.buf)
	}
	return &r.buf[i]
}

func (r *fifo[T]) pop() {
	r.head++
	if r.head == len(r.buf) {
		r.head = 0
	}
	r.n--
}

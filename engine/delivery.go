package engine

import "github.com/treasured/treasured/schema"

// Reliable delivery of loot events and Gone ids (docs/PROTOCOL.md "Loot events").
//
// Each player has two FIFO queues of pending items (events, Gone ids), linked
// lists through one shared, preallocated node pool. An item rides in the
// player's snapshots until the player acknowledges a tick that carried it;
// the client drops ids it has already seen, so each is shown exactly once.
//
// "A tick that carried it" is tracked per node as the span [first, last] of
// consecutive snapshots of this player that all carried the item. An ack of
// any tick in the span proves delivery. An ack >= first alone would not: a
// snapshot short of room may leave an item out, and a client that received
// only that snapshot would ack it without ever seeing the item. When an item
// is left out, its span restarts at the next snapshot that carries it.
//
// Snapshots always carry a prefix of each queue (oldest first), so the nodes
// ever sent are a prefix too and the ack walk stops at the first unsent node.
//
// Step appends, drops acknowledged nodes and frees; Snapshot only writes
// first/last of its own player's nodes, which is why fan-out workers can run
// concurrently for distinct players.
//
// Accounting (why an honest player's delivery cannot fail). The pools are
// shared, so a player that never acknowledges must not be able to pin more
// than its share, or it takes loot from everybody else:
//
//   - Event nodes are reserved: each queue holds at most MaxPending nodes and
//     the pool keeps MaxPlayers*MaxPending of its nodes for event queues
//     only, so an event push fails only when the player's own queue is full.
//   - Gone nodes come from the rest of the pool (goneBudget). Running out of
//     them costs nothing but bandwidth: the viewer is resynced (below), and a
//     full snapshot removes whatever left its view without a Gone.
//   - Event slots live only while a queue references them, and liveness
//     (below) drops every reference older than LivenessTicks, so a slot lives
//     at most LivenessTicks+1 ticks. In any RespawnTicks window a chest makes
//     at most 4 events (two generations), so 4 slots per chest never run out
//     (Config.normalized).
//
// Liveness is progress, not traffic: a session that keeps sending but never
// acknowledges would pin its queue for ever. A player whose oldest
// undelivered event is older than LivenessTicks, or whose event queue is at
// MaxPending, is resynced: its queues are dropped (the events are counted as
// lost to it, EventsDropped) and its next snapshot is a full one, which
// carries the current state of every chest and player in view. A Gone queue
// at MaxPending (or out of budget) resyncs the Gone side only, which loses
// nothing. An idle-but-present client keeps acknowledging snapshots and is
// never resynced; ending sessions stays netio's job (idle timeout).

type node struct {
	ref   int32  // event slot (evQ) or player id (goneQ)
	first uint32 // first tick of the current span; 0 = never carried
	last  uint32
	next  int32
}

// queue is a player's list: head/tail node indices (-1 when empty).
type queue struct {
	head, tail int32
	n          int32
}

var emptyQueue = queue{head: -1, tail: -1}

// eventSlot is one loot event shared by every player it is queued for; refs
// counts those queue nodes, and the slot is freed when the last is dropped.
type eventSlot struct {
	ev       schema.LootEvent
	refs     int32
	nextFree int32
}

type queues struct {
	nodes      []node
	nodeFree   int32
	nodesUsed  int
	goneUsed   int // nodes held by Gone queues, <= goneBudget
	goneBudget int // nodes left over by the event queues' reservation
	events     []eventSlot
	eventFree  int32
	eventsUsed int
	maxPending int32

	// born lists live event slots in creation order with their tick, so the
	// liveness check looks at the oldest few each tick instead of at every
	// player; an entry with slot -1 asks for a scan when it comes of age
	// (restartLiveness), at most one per tick. Capacity: the event pool
	// plus one tick's mark per tick of the liveness horizon.
	born     fifo[evBirth]
	bornMark uint32 // tick of the newest slot -1 entry
}

type evBirth struct {
	slot int32 // -1: a scan mark
	tick uint32
}

// newQueues sizes the pools: nodes in all, of which reserved are kept for
// event queues.
func newQueues(nodes, reserved, events, maxPending, horizon int) queues {
	q := queues{
		nodes:      make([]node, nodes),
		goneBudget: nodes - reserved,
		events:     make([]eventSlot, events),
		maxPending: int32(maxPending),
		born:       newFIFO[evBirth](events + horizon + 1),
	}
	for i := range q.nodes {
		q.nodes[i].next = int32(i + 1)
	}
	q.nodes[len(q.nodes)-1].next = -1
	for i := range q.events {
		q.events[i].nextFree = int32(i + 1)
	}
	q.events[len(q.events)-1].nextFree = -1
	return q
}

// newEvent stores ev with no references yet; -1 when the pool is full.
func (q *queues) newEvent(ev *schema.LootEvent) int32 {
	s := q.eventFree
	if s < 0 {
		return -1
	}
	e := &q.events[s]
	q.eventFree = e.nextFree
	e.ev = *ev
	e.refs = 0
	q.eventsUsed++
	return s
}

func (q *queues) unrefEvent(s int32) {
	e := &q.events[s]
	e.refs--
	if e.refs == 0 {
		e.nextFree = q.eventFree
		q.eventFree = s
		q.eventsUsed--
	}
}

// push appends ref to l. false when l is at MaxPending, or a Gone queue's
// budget is spent, or (never, by the reservation) the pool is empty.
func (q *queues) push(l *queue, ref int32, isEvents bool) bool {
	if l.n >= q.maxPending || q.nodeFree < 0 || !isEvents && q.goneUsed >= q.goneBudget {
		return false
	}
	if !isEvents {
		q.goneUsed++
	}
	i := q.nodeFree
	nd := &q.nodes[i]
	q.nodeFree = nd.next
	q.nodesUsed++
	*nd = node{ref: ref, next: -1}
	if l.tail < 0 {
		l.head = i
	} else {
		q.nodes[l.tail].next = i
	}
	l.tail = i
	l.n++
	return true
}

// unlink removes node i (whose predecessor is prev, -1 for head) from l and
// returns it to the pool.
func (q *queues) unlink(l *queue, prev, i int32, isEvents bool) {
	if !isEvents {
		q.goneUsed--
	}
	next := q.nodes[i].next
	if prev < 0 {
		l.head = next
	} else {
		q.nodes[prev].next = next
	}
	if l.tail == i {
		l.tail = prev
	}
	l.n--
	q.nodes[i].next = q.nodeFree
	q.nodeFree = i
	q.nodesUsed--
}

// dropAcked drops the nodes of l delivered by an ack of tick ack and returns
// how many. isEvents says whether refs are event slots to release.
func (q *queues) dropAcked(l *queue, ack uint32, isEvents bool) int {
	dropped := 0
	prev := int32(-1)
	for i := l.head; i >= 0; {
		nd := &q.nodes[i]
		if nd.first == 0 {
			break // never sent, and neither is anything after it
		}
		next := nd.next
		if nd.first <= ack && ack <= nd.last {
			if isEvents {
				q.unrefEvent(nd.ref)
			}
			q.unlink(l, prev, i, isEvents)
			dropped++
		} else {
			prev = i
		}
		i = next
	}
	return dropped
}

// remove drops the node of Gone queue l whose ref is ref, if any.
func (q *queues) remove(l *queue, ref int32) bool {
	prev := int32(-1)
	for i := l.head; i >= 0; i = q.nodes[i].next {
		if q.nodes[i].ref == ref {
			q.unlink(l, prev, i, false)
			return true
		}
		prev = i
	}
	return false
}

// clear frees every node of l.
func (q *queues) clear(l *queue, isEvents bool) {
	for l.head >= 0 {
		if isEvents {
			q.unrefEvent(q.nodes[l.head].ref)
		}
		q.unlink(l, -1, l.head, isEvents)
	}
}

// markSent records that the snapshot of tick now carries node i; prev is the
// tick of the player's previous snapshot, so the span continues only if the
// node was in that one too.
func (nd *node) markSent(now, prev uint32) {
	if nd.first != 0 && nd.last == prev {
		nd.last = now
		return
	}
	nd.first, nd.last = now, now
}

// ResyncReason says why a player's delivery state was dropped and rebuilt
// from a full snapshot (see Liveness above).
type ResyncReason uint8

// Resync reasons; Stats.Resyncs is indexed by them.
const (
	ResyncStale    ResyncReason = iota // oldest undelivered event older than LivenessTicks
	ResyncEventCap                     // event queue at MaxPending
	ResyncGoneCap                      // Gone queue at MaxPending or Gone budget spent
	NumResyncReasons
)

var resyncNames = [...]string{"stale", "event_queue_full", "gone_queue_full"}

// Compile-time guard: one name per resync reason, so a value added to the enum
// fails the build until it is named.
var _ = [1]int{}[len(resyncNames)-int(NumResyncReasons)]

func (r ResyncReason) String() string {
	if r < NumResyncReasons {
		return resyncNames[r]
	}
	return "unknown"
}

// resync drops player i's undelivered items and forgets its sent snapshots,
// so its next snapshot is a full one (baseline 0). Only delivery and view
// state change, which the state hash does not cover: resyncs cannot make two
// replicas of a world diverge.
func (w *World) resync(i int32, why ResyncReason) {
	p := &w.players[i]
	if why != ResyncGoneCap {
		w.stats.EventsDropped += uint64(p.evQ.n)
		w.q.clear(&p.evQ, true)
	}
	w.q.clear(&p.goneQ, false)
	w.views[i] = view{}
	w.stats.Resyncs[why]++
}

// checkLiveness resyncs every player holding an event older than
// LivenessTicks. The born FIFO makes the common case cheap: it pops the
// events that came of age this tick, and only if one of them is still
// referenced does it look at the players, in zone-index order (deterministic).
func (w *World) checkLiveness() {
	live := w.cfg.livenessTicks()
	if w.tick <= live {
		return
	}
	lim := w.tick - live // events of ticks < lim are too old
	q := &w.q
	stale := false
	for {
		b, ok := q.born.peek()
		if !ok || b.tick >= lim {
			break
		}
		q.born.pop()
		// A freed slot may already hold a newer event: then it is not ours.
		if b.slot < 0 {
			stale = true
		} else if e := &q.events[b.slot]; e.refs > 0 && e.ev.Tick == b.tick {
			stale = true
		}
	}
	if stale {
		w.resyncStale(lim, w.tick-min(w.tick, w.cfg.maxEventAge()))
	}
}

// resyncStale resyncs every player whose oldest event is of a tick < lim
// and whose liveness clock started before lim (a resumed player gets the
// whole horizon to acknowledge what it was owed), or of a tick < hard
// whatever the clock (a player that keeps leaving and resuming without ever
// acknowledging). Every holder of such an event has it at the head of its
// FIFO queue. zonePlayers lists every player active at the end of the last
// Step; those who joined since hold nothing that old, and a resumed one has
// a fresh clock. Parked players are not active: their grace is theirs.
func (w *World) resyncStale(lim, hard uint32) {
	q := &w.q
	for _, ps := range w.zonePlayers[:w.zoneStart[w.geo.zones]] {
		i := int32(ps.ID)
		p := &w.players[i]
		if !p.active || p.evQ.n == 0 {
			continue
		}
		if t := q.events[q.nodes[p.evQ.head].ref].ev.Tick; t < lim && p.liveFrom < lim || t < hard {
			w.resync(i, ResyncStale)
		}
	}
}

// restartLiveness starts player i's liveness clock now (a resume, a
// checkpoint load) and makes sure a scan comes when it has run out: the
// events it already holds came of age long ago, so nothing else would ask.
// What is older than the hard limit goes at once, so leaving and resuming
// over and over cannot keep events alive for ever.
func (w *World) restartLiveness(i int32) {
	p := &w.players[i]
	p.liveFrom = w.tick
	if p.evQ.n == 0 {
		return
	}
	if q := &w.q; q.events[q.nodes[p.evQ.head].ref].ev.Tick < w.tick-min(w.tick, w.cfg.maxEventAge()) {
		w.resync(i, ResyncStale)
		return
	}
	if w.q.bornMark == w.tick && w.q.born.n > 0 {
		return
	}
	if w.q.born.push(evBirth{slot: -1, tick: w.tick}) {
		w.q.bornMark = w.tick
	}
}

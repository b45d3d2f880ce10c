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
	events     []eventSlot
	eventFree  int32
	eventsUsed int
	maxPending int32
}

func newQueues(nodes, events, maxPending int) queues {
	q := queues{
		nodes:      make([]node, nodes),
		events:     make([]eventSlot, events),
		maxPending: int32(maxPending),
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

// push appends ref to l. false when l is at MaxPending or the pool is empty.
func (q *queues) push(l *queue, ref int32) bool {
	if l.n >= q.maxPending || q.nodeFree < 0 {
		return false
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
func (q *queues) unlink(l *queue, prev, i int32) {
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
			q.unlink(l, prev, i)
			dropped++
		} else {
			prev = i
		}
		i = next
	}
	return dropped
}

// remove drops the node of l whose ref is ref, if any.
func (q *queues) remove(l *queue, ref int32) bool {
	prev := int32(-1)
	for i := l.head; i >= 0; i = q.nodes[i].next {
		if q.nodes[i].ref == ref {
			q.unlink(l, prev, i)
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
		q.unlink(l, -1, l.head)
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

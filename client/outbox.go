package client

import "github.com/treasured/treasured/schema"

// OutboxCap bounds how many actions may wait for the server's
// acknowledgement. At 20 actions/s it is three seconds of backlog; a player
// further behind than that is not playing any more, and Queue refuses new
// actions (counted by the caller) instead of growing without bound.
const OutboxCap = 64

// pendingAction is one queued action and the two instants latency is measured
// from: when it was scheduled to be sent (coordinated-omission corrected) and
// when it first actually left (uncorrected).
type pendingAction struct {
	a     schema.Action
	sched int64 // scheduled send time, ns on the caller's clock
	sent  int64 // first actual send time, 0 until it was sent once
}

// Outbox is the redundancy window of docs/PROTOCOL.md "Inputs": every Input repeats
// the oldest unacknowledged actions, up to schema.MaxActions of them, until a
// snapshot's last_action_seq covers them.
//
// It sends the oldest, not the newest, unacknowledged actions: the server
// reports only the highest applied action_seq, so an action that was dropped
// from the window while still unacknowledged could be skipped without either
// side noticing. Oldest-first means an action leaves the window only when it is
// acknowledged; a backlog beyond eight shows up as apply latency of the newer
// actions, which is what it is.
//
// Seqs start at 1 and are consecutive. An Outbox is owned by one goroutine.
type Outbox struct {
	ring    [OutboxCap]pendingAction
	head    int    // index of the oldest pending action
	n       int    // pending actions
	nextSeq uint32 // seq the next queued action gets
	acked   uint32 // highest seq acknowledged so far
}

// Reset empties the outbox and restarts seqs at 1 (a new session).
func (o *Outbox) Reset() {
	*o = Outbox{nextSeq: 1}
}

// Len is the number of unacknowledged actions.
func (o *Outbox) Len() int { return o.n }

// Acked is the highest action seq the server has reported applied.
func (o *Outbox) Acked() uint32 { return o.acked }

// NextSeq is the seq the next queued action will get.
func (o *Outbox) NextSeq() uint32 {
	if o.nextSeq == 0 {
		return 1
	}
	return o.nextSeq
}

// Queue assigns a's seq (a.Seq is overwritten) and appends it. sched is the
// time the action was scheduled to be sent. It returns false, changing
// nothing, when OutboxCap actions are already pending.
func (o *Outbox) Queue(a schema.Action, sched int64) (seq uint32, ok bool) {
	if o.n == OutboxCap {
		return 0, false
	}
	if o.nextSeq == 0 {
		o.nextSeq = 1
	}
	a.Seq = o.nextSeq
	o.nextSeq++
	o.ring[(o.head+o.n)%OutboxCap] = pendingAction{a: a, sched: sched}
	o.n++
	return a.Seq, true
}

// Window appends to dst the actions the next Input must carry (the oldest
// pending ones, at most schema.MaxActions) and stamps the first-send time of
// those never sent before with now. dst is normally a reused [:0] slice.
func (o *Outbox) Window(dst []schema.Action, now int64) []schema.Action {
	k := min(o.n, schema.MaxActions)
	for i := 0; i < k; i++ {
		p := &o.ring[(o.head+i)%OutboxCap]
		if p.sent == 0 {
			p.sent = now
		}
		dst = append(dst, p.a)
	}
	return dst
}

// Ack drops every pending action with seq <= lastSeq (the snapshot's
// last_action_seq) and calls fn, if not nil, for each with its scheduled and
// first-send times. A last_action_seq below what was already acknowledged (a
// reordered, older snapshot) changes nothing. It returns how many actions it
// dropped.
func (o *Outbox) Ack(lastSeq uint32, fn func(seq uint32, sched, sent int64)) int {
	if lastSeq <= o.acked {
		return 0
	}
	o.acked = lastSeq
	dropped := 0
	for o.n > 0 {
		p := &o.ring[o.head]
		if p.a.Seq > lastSeq {
			break
		}
		if fn != nil {
			fn(p.a.Seq, p.sched, p.sent)
		}
		*p = pendingAction{}
		o.head = (o.head + 1) % OutboxCap
		o.n--
		dropped++
	}
	return dropped
}

// Rebase takes last as the acknowledged seq and renumbers the pending
// actions last+1, last+2, … in their order. A session calls it at the first
// snapshot of a connection whose server numbers this player's actions
// elsewhere: a new client process of a resumed player (the server's seqs
// are ahead), or a server that no longer knows the player (behind). The
// pending actions were not sent on that connection yet, so no seq the
// server has seen changes meaning.
func (o *Outbox) Rebase(last uint32) {
	o.acked = last
	for i := 0; i < o.n; i++ {
		o.ring[(o.head+i)%OutboxCap].a.Seq = last + 1 + uint32(i)
	}
	o.nextSeq = last + 1 + uint32(o.n)
}

// Oldest returns the scheduled time of the oldest pending action.
func (o *Outbox) Oldest() (sched int64, ok bool) {
	if o.n == 0 {
		return 0, false
	}
	return o.ring[o.head].sched, true
}

// Each calls fn for every unacknowledged action, oldest first.
func (o *Outbox) Each(fn func(seq uint32, sched, sent int64)) {
	for i := 0; i < o.n; i++ {
		p := &o.ring[(o.head+i)%OutboxCap]
		fn(p.a.Seq, p.sched, p.sent)
	}
}

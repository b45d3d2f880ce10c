package netio

import (
	"fmt"

	"github.com/treasured/treasured/schema"
)

// Session ids are (docs/PROTOCOL.md "Sessions") slot + generation + random bits:
//
//	bit 63      always 1, so 0 never names a session
//	bits 32..62 random, from the owning loop's generator
//	bits 24..31 low 8 bits of the slot's generation
//	bits  0..23 slot
//
// The slot makes lookup an index, not a search. The generation makes an id
// from a slot's previous occupant fail even before the random bits are
// compared, and the random bits make an id unguessable by anyone who has not
// seen it: a blind attacker must also match the session's source address.
const (
	slotBits = 24
	slotMask = 1<<slotBits - 1
	// MaxSlots is the most player slots a server can have (slotBits).
	MaxSlots = 1 << slotBits
)

func makeSessionID(slot int32, gen uint32, rnd uint32) uint64 {
	return 1<<63 | uint64(rnd&0x7fffffff)<<32 | uint64(gen&0xff)<<slotBits | uint64(slot)&slotMask
}

func sessionSlot(id uint64) int32 { return int32(id & slotMask) }

type slotState uint8

const (
	slotFree    slotState = iota
	slotActive            // joined: a RecJoin is in the ring
	slotLeaving           // ended, but the ring was full when we pushed RecLeave
	slotParked            // ended and left; the engine keeps the player for its key (resume)
)

// session is one player slot as its event loop sees it. It is pointer-free
// on purpose (docs/ARCHITECTURE.md "Memory"): the loop's array of
// them is never scanned by the GC.
//
// Owner: the event loop that owns the slot (see partition). No other
// goroutine reads or writes it; the engine learns about joins and leaves
// only through the ring.
type session struct {
	id     uint64
	addr   Addr
	gen    uint32
	state  slotState
	region uint8
	// The Connect that created the session, so a repeated Connect (the
	// Welcome was lost) gets the same Welcome instead of a second slot.
	nonce  uint64
	cookie schema.Cookie
	key    uint64

	lastSeen int64 // server clock (ns) of the last valid datagram
	parkedAt int64 // server clock (ns) of the RecLeave that parked the slot
	bucket   tokenBucket
}

// partition is the set of player slots one event loop owns: with N loops,
// loop i owns the slots s with s mod N == i.
//
// Why partition rather than share one free list: with SO_REUSEPORT the
// kernel hashes a client's 4-tuple to one socket, so all of a client's
// datagrams reach one loop, and that loop can own the client's slot outright
// with no atomics and no false sharing (each partition is its own
// allocation). The price is that one loop can be full while another has room;
// the kernel's hash spreads clients evenly enough that this only bites when
// the server is nearly full anyway, and Reject ServerFull is the same answer.
type partition struct {
	loop, loops int
	maxSlots    int       // global slot count (the engine's MaxPlayers)
	sess        []session // sess[i] is slot i*loops + loop
	freeList    []int32   // stack of free local indexes, lowest on top
	// byAddr finds the session of a source address, for a repeated Connect
	// and to end a session whose client reconnects from the same address.
	// Keys and values are pointer-free, so the GC does not scan the map, and
	// it is sized up front so an insert does not grow it.
	byAddr map[Addr]int32
	active int

	// Resumption (engine/resume.go): a slot whose session ended stays
	// reserved for its player key for grace ns, so a reconnect with that
	// key gets the same slot and generation, the engine's same player.
	// parked finds it by key; it is sized up front like byAddr.
	grace  int64
	parked map[uint64]int32
	// live finds the active session of a player key, with authentication
	// only (the key is then a user id a backend vouched for): a second
	// login of the user replaces the first (dispatch.go relogin).
	live map[uint64]int32
}

func newPartition(loop, loops, maxSlots int) (*partition, error) {
	if loops < 1 || loop < 0 || loop >= loops {
		return nil, fmt.Errorf("netio: partition %d of %d", loop, loops)
	}
	if maxSlots < 1 || maxSlots > MaxSlots {
		return nil, fmt.Errorf("netio: %d player slots: must be in [1, %d]", maxSlots, MaxSlots)
	}
	n := 0
	if loop < maxSlots {
		n = (maxSlots-loop-1)/loops + 1
	}
	p := &partition{
		loop: loop, loops: loops, maxSlots: maxSlots,
		sess:     make([]session, n),
		freeList: make([]int32, n),
		byAddr:   make(map[Addr]int32, n),
		parked:   make(map[uint64]int32, n),
		live:     make(map[uint64]int32, n),
	}
	// Lowest index on top of the stack: the engine's arrays are then filled
	// from the front, and tests can predict slots.
	for i := range n {
		p.freeList[i] = int32(n - 1 - i)
	}
	return p, nil
}

func (p *partition) slotOf(local int32) int32 { return local*int32(p.loops) + int32(p.loop) }

// lookup returns the session a datagram claims, or nil when the id names no
// live session of this loop. A slot owned by another loop yields nil: only
// reachable if the kernel moved the client to another socket, and reading
// another loop's session would be a data race.
func (p *partition) lookup(id uint64) *session {
	slot := int(sessionSlot(id))
	if slot >= p.maxSlots || slot%p.loops != p.loop {
		return nil
	}
	s := &p.sess[slot/p.loops]
	if s.state != slotActive || s.id != id {
		return nil
	}
	return s
}

// alloc takes the slot parked for key (resumed), else a free slot, else, when this loop's share is used up,
// any parked slot (the engine then drops that parked player early); ok is
// false when every slot is active. The caller fills the session and must
// either commit it or give it back with unalloc.
func (p *partition) alloc(key uint64) (local int32, resumed, ok bool) {
	if local, ok := p.parked[key]; ok {
		delete(p.parked, key)
		return local, true, true
	}
	if len(p.freeList) > 0 {
		local = p.freeList[len(p.freeList)-1]
		p.freeList = p.freeList[:len(p.freeList)-1]
		return local, false, true
	}
	for k, local := range p.parked {
		delete(p.parked, k)
		return local, false, true
	}
	return 0, false, false
}

func (p *partition) unalloc(local int32, resumed bool) {
	if resumed || p.sess[local].state == slotParked {
		p.parked[p.sess[local].key] = local
		return
	}
	p.freeList = append(p.freeList, local)
}

// end takes an active session out of service: its id and address stop
// matching at once. The slot stays taken until its RecLeave is in the ring
// (release), so the engine never sees a slot joined twice without a leave.
func (p *partition) end(local int32) {
	s := &p.sess[local]
	if cur, ok := p.byAddr[s.addr]; ok && cur == local {
		delete(p.byAddr, s.addr)
	}
	if cur, ok := p.live[s.key]; ok && cur == local {
		delete(p.live, s.key)
	}
	s.state = slotLeaving
	p.active--
}

// release returns a slot whose RecLeave is in the ring: parked for its key
// when there is a grace period, free otherwise. The generation is kept and
// bumped at the next join (a resume too), so ids and records of the old
// session stay invalid.
func (p *partition) release(local int32, now int64) {
	s := &p.sess[local]
	s.id = 0
	if p.grace > 0 {
		s.state, s.parkedAt = slotParked, now
		p.parked[s.key] = local
		return
	}
	s.state = slotFree
	p.freeList = append(p.freeList, local)
}

// expireParked frees the parked slots whose grace is over.
func (p *partition) expireParked(now int64) {
	for i := range p.sess {
		s := &p.sess[i]
		if s.state != slotParked || now-s.parkedAt <= p.grace {
			continue
		}
		if cur, ok := p.parked[s.key]; ok && cur == int32(i) {
			delete(p.parked, s.key)
		}
		s.state = slotFree
		p.freeList = append(p.freeList, int32(i))
	}
}

// RestoreFunc tells a new server what the world it runs remembers about a
// player slot: the newest generation used in it (new sessions continue
// after it, so a slot and generation never name two players, even across
// a restart), and whether a parked player with that key waits in it.
type RestoreFunc func(slot int32) (gen uint32, key uint64, parked bool)

// restore sets the partition's slots from the world, before any datagram.
// Parked slots count from server clock 0 (grace ns from the start).
func (p *partition) restore(f RestoreFunc, grace int64) {
	p.grace = grace
	if f == nil {
		return
	}
	p.freeList = p.freeList[:0]
	for i := len(p.sess) - 1; i >= 0; i-- {
		s := &p.sess[i]
		var parked bool
		s.gen, s.key, parked = f(p.slotOf(int32(i)))
		if parked && grace > 0 {
			s.state = slotParked
			p.parked[s.key] = int32(i)
			continue
		}
		p.freeList = append(p.freeList, int32(i))
	}
}

// tokenBucket limits one session's datagram rate, in integer nanoseconds of
// credit so it needs no floats and no allocation: each datagram costs
// cost ns of credit, credit refills at one ns per ns and holds at most
// burst*cost (burst datagrams back to back).
type tokenBucket struct {
	credit  int64
	last    int64
	flooder bool // limited at least once: the session is counted as a flooder once
}

// allow charges one datagram at now. It reports whether the datagram may
// pass and whether this is the session's first limited datagram.
func (b *tokenBucket) allow(now, cost, max int64) (ok, firstFlood bool) {
	if d := now - b.last; d > 0 {
		b.credit = min(b.credit+d, max)
	}
	b.last = now
	if b.credit < cost {
		firstFlood = !b.flooder
		b.flooder = true
		return false, firstFlood
	}
	b.credit -= cost
	return true, false
}

func (b *tokenBucket) reset(now, max int64) { *b = tokenBucket{credit: max, last: now} }

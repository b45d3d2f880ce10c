package netio

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/treasured/treasured/engine"
	"github.com/treasured/treasured/netio/auth"
	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// World is what the tick goroutine drives. *engine.World satisfies it
// through EngineWorld; tests drive a fake. It is an interface because it is a
// real seam: netio's tests must not depend on the game's rules.
//
// All methods are called from the tick goroutine, except Snapshot on the
// Snapshotters, which fan-out workers call concurrently for distinct players
// between two Steps (the engine's promise).
type World interface {
	// Step runs one tick over recs (any order; Step may reorder the slice).
	Step(recs []engine.Record)
	Tick() uint32
	Hash() uint64
	// LastOrdered is the last Step's records in the order they were
	// applied (what the journal stores); valid until the next Step.
	LastOrdered() []engine.Record
	// ActivePlayers appends the slots of joined players to dst.
	ActivePlayers(dst []int32) []int32
	// NewSnapshotter returns the per-worker snapshot encoder (the engine's
	// Scratch): each fan-out worker gets its own.
	NewSnapshotter() Snapshotter
	// Config is the world's configuration: the one source of its size
	// (MaxPlayers, Regions) and tick rate (TickHz) that netio serves.
	Config() engine.Config
}

// Snapshotter encodes one player's snapshot of the current tick. The bytes
// are owned by the Snapshotter and valid until its next call.
type Snapshotter interface {
	Snapshot(player int32) []byte
}

// peer is the fan-out's view of one slot: where to send, and the session id
// for the shutdown Bye. Owner: the tick goroutine writes it while draining
// the rings; workers read it during the fan-out that follows, which the
// dispatch (channel send / WaitGroup) orders after the writes.
type peer struct {
	addr    Addr
	session uint64
	gen     uint32
	live    bool
	// seal seals the player's datagrams (nil without authentication). The
	// session's loop holds the same Sealer for its replies; Sealer is safe
	// for both.
	seal *auth.Sealer
}

// fanout sends every active player its snapshot once per tick.
type fanout struct {
	peers   []peer
	players []int32
	workers []*fanWorker

	// Workers 1..W-1 run on their own goroutines (worker 0 is the tick
	// goroutine itself). One start channel per worker and a WaitGroup: this
	// is once per tick, not per datagram, and neither allocates.
	start []chan fanJob
	done  sync.WaitGroup
}

type fanJob struct {
	players []int32
	bye     bool
}

// fanWorker owns a batch of datagram buffers, a snapshot encoder and a
// sender with its own duplicate of the socket. Owner: one goroutine.
type fanWorker struct {
	snap   Snapshotter
	sender BatchSender
	enc    *schema.Encoder // Bye datagrams at shutdown
	bufs   [][]byte        // BatchSize buffers of MaxDatagram, one backing array
	addrs  []Addr
	n      int
	nonce  [12]byte // sealing scratch (auth.Sealer.Seal)
	// wait is true until a batch of this tick gave up on EAGAIN; then the
	// rest of the tick sends without waiting (see BatchSender).
	wait  bool
	bye   bool // the current job sends Byes (counted apart from snapshots)
	stats *FanoutStats
	// between, if set, runs after each full batch of snapshots that more
	// may follow: the tick goroutine's worker, when it also serves the
	// socket (InlineIO), receives there, so a Ping or Input waits at most
	// one send batch, not the whole fan-out.
	between func()
}

func newFanWorker(snap Snapshotter, sender BatchSender, stats *FanoutStats) *fanWorker {
	b := sender.BatchSize()
	backing := make([]byte, b*schema.MaxDatagram)
	w := &fanWorker{
		snap: snap, sender: sender, enc: schema.NewEncoder(),
		bufs:  make([][]byte, b),
		addrs: make([]Addr, b),
		stats: stats,
	}
	for i := range w.bufs {
		w.bufs[i] = backing[i*schema.MaxDatagram : i*schema.MaxDatagram : (i+1)*schema.MaxDatagram]
	}
	return w
}

func (w *fanWorker) run(job fanJob, peers []peer) {
	w.wait = true
	w.bye = job.bye
	for _, p := range job.players {
		if p < 0 || int(p) >= len(peers) || !peers[p].live {
			w.stats.NoAddress.inc()
			continue
		}
		var b []byte
		if job.bye {
			b = w.enc.Bye(&schema.ByeFrame{SessionID: peers[p].session, Reason: uint8(wire.ByeReasonServerShutdown)})
		} else {
			b = w.snap.Snapshot(p)
		}
		if len(b) == 0 || len(b) > schema.MaxDatagram {
			w.stats.EncodeErrors.inc()
			continue
		}
		w.queue(b, &peers[p])
	}
	w.flush()
}

// queue copies b into the next batch buffer, sealing it in place there
// when the peer has keys. The copy is what lets the engine's Scratch (and
// the Bye encoder) be reused for the next player while the batch fills;
// 1,200 bytes per player is cheap next to a syscall.
func (w *fanWorker) queue(b []byte, p *peer) {
	if p.seal == nil {
		w.bufs[w.n] = append(w.bufs[w.n][:0], b...)
	} else {
		if len(b) > maxSealedBody {
			w.stats.EncodeErrors.inc()
			return
		}
		buf := w.bufs[w.n][:cap(w.bufs[w.n])]
		n := copy(buf[auth.HeaderSize:], b)
		out, err := p.seal.Seal(buf, n, &w.nonce)
		if err != nil {
			w.stats.EncodeErrors.inc()
			return
		}
		w.bufs[w.n] = out
	}
	w.addrs[w.n] = p.addr
	w.n++
	if w.n == len(w.bufs) {
		w.flush()
		if w.between != nil && !w.bye {
			w.between()
		}
	}
}

func (w *fanWorker) flush() {
	if w.n == 0 {
		return
	}
	r := w.sender.Send(w.bufs[:w.n], w.addrs[:w.n], w.wait)
	w.n = 0
	st := w.stats
	st.Syscalls.add(uint64(r.Syscalls))
	if r.Sent > 0 {
		if w.bye {
			st.Byes.add(uint64(r.Sent))
		} else {
			st.Snapshots.add(uint64(r.Sent))
		}
		st.Bytes.add(uint64(r.Bytes))
	}
	if r.Failed > 0 {
		st.SendErrors.add(uint64(r.Failed))
	}
	if r.WouldBlock > 0 {
		st.WouldBlock.add(uint64(r.WouldBlock))
	}
	if r.Partial > 0 {
		st.PartialSends.add(uint64(r.Partial))
	}
	if r.Dropped > 0 {
		st.Dropped.add(uint64(r.Dropped))
		w.wait = false
	}
}

// newFanout builds W workers. With lock, each extra worker's goroutine is
// locked to its thread and pin, if not nil, runs there with the worker's
// index; without it, the workers are plain goroutines and pin is not called.
func newFanout(maxPlayers int, workers []*fanWorker, lock bool, pin func(w int)) (*fanout, error) {
	if len(workers) == 0 {
		return nil, fmt.Errorf("netio: fan-out needs at least one worker")
	}
	f := &fanout{
		peers:   make([]peer, maxPlayers),
		players: make([]int32, 0, maxPlayers),
		workers: workers,
		start:   make([]chan fanJob, len(workers)),
	}
	for i := 1; i < len(workers); i++ {
		ch := make(chan fanJob, 1)
		f.start[i] = ch
		w := workers[i]
		go func() {
			if lock {
				// Never unlocked, like the tick goroutine: the pinned
				// thread exits with the worker.
				runtime.LockOSThread()
				if pin != nil {
					pin(i)
				}
			}
			for job := range ch {
				w.run(job, f.peers)
				f.done.Done()
			}
		}()
	}
	return f, nil
}

// apply records a join or leave drained from a ring, in ring order. Called
// by the tick goroutine only.
func (f *fanout) apply(e *ringEntry) {
	r := &e.rec
	if r.Player < 0 || int(r.Player) >= len(f.peers) {
		return
	}
	p := &f.peers[r.Player]
	if e.move {
		if p.live && p.gen == r.Gen {
			p.addr = e.addr
		}
		return
	}
	switch r.Kind {
	case engine.RecJoin:
		*p = peer{addr: e.addr, session: e.session, gen: r.Gen, live: true, seal: e.seal}
	case engine.RecLeave:
		if p.gen == r.Gen {
			p.live = false
		}
	}
}

// send runs one fan-out over players: snapshots, or Byes when bye is set.
// The players are split into contiguous chunks, one per worker; the tick
// goroutine does chunk 0 and waits for the rest.
func (f *fanout) send(players []int32, bye bool) {
	w := len(f.workers)
	chunk := (len(players) + w - 1) / w
	if w == 1 || chunk == 0 {
		f.workers[0].run(fanJob{players: players, bye: bye}, f.peers)
		return
	}
	for i := 1; i < w; i++ {
		lo, hi := min(i*chunk, len(players)), min((i+1)*chunk, len(players))
		f.done.Add(1)
		f.start[i] <- fanJob{players: players[lo:hi], bye: bye}
	}
	f.workers[0].run(fanJob{players: players[:min(chunk, len(players))], bye: bye}, f.peers)
	f.done.Wait()
}

// close stops the extra workers and closes every sender.
func (f *fanout) close() error {
	var first error
	for i, w := range f.workers {
		if i > 0 {
			close(f.start[i])
		}
		if err := w.sender.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

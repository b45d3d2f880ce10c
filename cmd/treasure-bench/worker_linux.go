//go:build linux

package main

import (
	"cmp"
	crand "crypto/rand"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/treasured/treasured/client"
	"github.com/treasured/treasured/netio/auth"
	"github.com/treasured/treasured/netio/udp"
	"github.com/treasured/treasured/schema"
)

// Why a few event loops and not a goroutine per player: with one goroutine
// per player, 10,000 players means 10,000 goroutines woken 40 times a second
// each (a send timer and a receive), and the Go scheduler, the netpoller and
// the timer heap become the generator's bottleneck, and its latency, long
// before the server's. Here each worker owns a share of the players' sockets
// (non-blocking, registered in the worker's own epoll set), keeps their sends
// in one phase-sorted schedule (the next send is always at the cursor), and
// sleeps in epoll_pwait2 until the next send is due or a datagram arrives. A
// wake-up costs one syscall for any number of ready sockets; nothing is
// allocated per datagram; the workers share nothing until the run ends.
//
// Every socket is connect()ed to the server, so the kernel filters foreign
// datagrams and a plain write sends. Receiving uses recvmmsg on each ready
// socket: usually it returns the one queued datagram, and when it returns
// fewer than asked the queue is empty, which saves the read that would
// otherwise only come back with EAGAIN (half the receive syscalls).

const (
	epollBatch      = 256
	recvBatch       = 8                      // datagrams per recvmmsg; one player rarely has more queued
	sendBudget      = 512                    // scheduled sends per loop before receiving again
	betweenBudget   = 64                     // scheduled sends between two receive batches (sendBetween): a receive batch's worth
	hsRetransmit    = 250 * time.Millisecond // Hello/Connect repeat interval
	keepalivePeriod = 2 * time.Second        // ack-only Input while waiting for the run
	connectPoll     = 10 * time.Millisecond  // longest sleep before the plan is set
)

type player struct {
	idx   int32
	fd    int        // own socket (a socket per player), or -1
	s     *sock      // shared socket, or nil
	addr  netip.Addr // source address on the shared socket
	w     *Worker
	sess  *client.Session
	bot   *Bot
	audit map[client.LootKey]struct{}

	sendImp, recvImp *client.Impairer
	write, deliver   func([]byte) // bound once: no allocation per datagram
	held             bool         // in w.held
	failed           bool         // handshake timed out: never connected, never sends

	state    client.State // as of the last check (transitions)
	hsStart  int64
	winTicks uint64
}

type hsItem struct {
	due int64
	p   *player
}

// Worker drives a share of the players from one goroutine.
type Worker struct {
	id      int
	cfg     *Config
	base    time.Time
	epfd    int
	players []*player // in phaseOrder
	first   int       // global index of the worker's first player
	pos     []int32   // pos[g-first]: player g's place in players
	codec   *client.Codec
	events  [epollBatch]unix.EpollEvent
	rbufs   [recvBatch][schema.MaxDatagram + 1]byte
	riovs   [recvBatch]unix.Iovec
	rhdrs   [recvBatch]unix.Mmsghdr
	rctrl   [recvBatch][128]byte // SO_TIMESTAMPNS per datagram (udp.ParseControl)

	// Shared sockets (shared_linux.go); nil with a socket per player.
	server netip.AddrPort
	socks  []*sock
	dirty  []*sock       // sockets with queued sends
	rmsgs  []udp.Message // receive batch
	lagAt  int64         // scheduled time of the datagram being sent, -1: none

	// Connect phase.
	nextStart     int   // next player to send its first Hello
	startInterval int64 // ns between first Hellos of this worker
	nextStartAt   int64
	hs            []hsItem // retransmit FIFO: due times only grow
	hsHead        int
	pending       int // players neither connected nor failed
	nextKeepalive int64

	// Run phase.
	plan     *Plan
	planPtr  atomic.Pointer[Plan]
	inputs   *Schedule
	pings    *Schedule
	inputPh  []int64
	pingPh   []int64
	frozen   bool // epoch estimate fixed (measurement started)
	epochMin int64
	period   int64
	tStart   uint32 // first tick measured for loss
	tEnd     uint32 // last tick measured for loss

	lastSendPass int64 // when sendDue last ran (see Config.SendQuantum)

	held []*player // players with a datagram held back by the impairment
	now  int64     // time of the datagram being handled
	// When the batch being handled was read: the worker's clock and the
	// wall clock of the same instant (arrived).
	readAt, readWall int64

	res *WorkerResult

	// Progress, read by the main goroutine.
	progSent, progSnaps, progConnected atomic.Uint64
	// Datagrams the kernel took from or gave to this worker, any kind: the
	// generator's CPU per datagram does not depend on how much of a core
	// a shared machine left it, its CPU percentage does.
	progDatagrams atomic.Uint64
	connectDone   atomic.Bool
}

func (w *Worker) clock() int64 { return int64(time.Since(w.base)) }

// newWorker creates the sockets of players [first, first+n), perSocket
// players to a socket, and registers them. inputPhase and pingPhase are
// those players' phases.
func newWorker(id int, cfg *Config, base time.Time, server netip.AddrPort, first, n, perSocket int, inputPhase, pingPhase []int64, startInterval int64) (*Worker, error) {
	w := &Worker{id: id, cfg: cfg, base: base, codec: client.NewCodec(), res: newWorkerResult(), server: server, lagAt: -1,
		startInterval: startInterval, period: int64(50 * time.Millisecond)}
	for i := range w.rhdrs {
		w.riovs[i].Base = &w.rbufs[i][0]
		w.riovs[i].SetLen(len(w.rbufs[i]))
		w.rhdrs[i].Hdr.Iov = &w.riovs[i]
		w.rhdrs[i].Hdr.SetIovlen(1)
		w.rhdrs[i].Hdr.Control = &w.rctrl[i][0]
	}
	var err error
	w.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if perSocket > 1 {
		if err := w.openShared(first, n, perSocket); err != nil {
			w.close()
			return nil, err
		}
	}
	order := w.phaseOrder(n, inputPhase, pingPhase)
	w.first, w.pos = first, make([]int32, n)
	for i, j := range order {
		p, err := w.newPlayer(int32(first+j), perSocket)
		if err != nil {
			w.close()
			return nil, err
		}
		w.pos[j] = int32(i)
		w.players = append(w.players, p)
	}
	w.res.Players = n
	w.pending = n
	return w, nil
}

// phaseOrder is the order in which the worker holds its n players: by
// input phase, so that the inputs due in one pass of the loop belong to
// neighbouring players, which share a socket (one full sendmmsg instead of
// one short call per socket) and were allocated one after another (the
// pass walks memory in order instead of taking a cache miss per player).
// The handshakes go in this order too, so a server that sends in join
// order (the sink, treasured's fan-out) sends in it as well. It sets the
// worker's phases in that order; SpreadPhases has already spread them over
// players and workers.
func (w *Worker) phaseOrder(n int, inputPhase, pingPhase []int64) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(inputPhase[a], inputPhase[b]) })
	w.inputPh, w.pingPh = make([]int64, n), make([]int64, n)
	for i, j := range order {
		w.inputPh[i], w.pingPh[i] = inputPhase[j], pingPhase[j]
	}
	return order
}

// newPlayer makes player g: its session, bot and impairment, and its own
// connected socket or its place on a shared one.
func (w *Worker) newPlayer(g int32, perSocket int) (*player, error) {
	cfg := w.cfg
	p := &player{idx: g, fd: -1, w: w, bot: NewBot(cfg.Seed, uint64(g))}
	if perSocket > 1 {
		p.s = w.socks[len(w.players)/perSocket]
		p.addr = cfg.PlayerAddr(int(g))
	} else {
		sa, family := sockaddr(w.server)
		fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("socket for player %d: %w (raise the file limit: ulimit -n)", g, err)
		}
		p.fd = fd // closed by w.close from here on
		if err := udp.EnableTimestamps(fd); err != nil {
			return nil, fmt.Errorf("player %d: %w", g, err)
		}
		if err := unix.Connect(fd, sa); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("connect player %d to %v: %w", g, w.server, err)
		}
		if err := w.epollAdd(fd, len(w.players)); err != nil {
			unix.Close(fd)
			return nil, err
		}
	}
	if cfg.AuditLoot {
		p.audit = make(map[client.LootKey]struct{}, 64)
	}
	region := cfg.Region
	if region < 0 {
		region = int(g) % cfg.Regions
	}
	user := cfg.Seed<<32 ^ uint64(g) + 1
	cred, err := issueCredentials(cfg.tokenKey, user, w.server)
	if err != nil {
		return nil, err
	}
	p.sess = client.NewSession(client.Config{
		Credentials: cred,
		PlayerKey:   user,
		Region:      uint8(region),
		Nonce:       playerNonce(cfg.Seed, g),
		Codec:       w.codec,
		Retransmit:  hsRetransmit,
	}, client.Handlers{
		Snapshot: func(f *schema.SnapshotFrame, now int64) { w.onSnapshot(p, f, now) },
		Loot:     func(ev *schema.LootEvent, now int64) { w.onLoot(p, ev) },
		Applied:  func(_ uint32, sched, sent, now int64) { w.onApplied(sched, sent, now) },
		Pong:     func(sched, sent, now int64, _ uint32) { w.onPong(sched, sent, now) },
	})
	p.write = func(b []byte) { w.write(p, b) }
	p.deliver = func(b []byte) { w.handle(p, b) }
	if imp := (client.Impairment{Loss: cfg.Loss, Dup: cfg.Dup, Reorder: cfg.Reorder, Seed: cfg.Seed}); imp.Active() {
		p.sendImp = client.NewImpairer(imp, 2*uint64(g))
		p.recvImp = client.NewImpairer(imp, 2*uint64(g)+1)
	}
	return p, nil
}

// epollAdd registers fd for input; idx comes back in the event (a player's
// index, or a shared socket's).
func (w *Worker) epollAdd(fd, idx int) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(idx)}
	if err := unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	return nil
}

// playerNonce is player g's handshake nonce: distinct per player and seed.
func playerNonce(seed uint64, g int32) uint64 {
	return (seed*0x9e3779b97f4a7c15 ^ uint64(g)*0xbf58476d1ce4e5b9) | 1
}

func sockaddr(ap netip.AddrPort) (unix.Sockaddr, int) {
	if ap.Addr().Is4() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}, unix.AF_INET
	}
	return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}, unix.AF_INET6
}

func (w *Worker) close() {
	for _, p := range w.players {
		if p.fd >= 0 {
			unix.Close(p.fd)
		}
	}
	w.players = nil
	for _, s := range w.socks {
		s.conn.Close()
	}
	w.socks = nil
	if w.epfd > 0 {
		unix.Close(w.epfd)
		w.epfd = 0
	}
}

// SetPlan starts the run phase; safe from another goroutine.
func (w *Worker) SetPlan(p *Plan) { w.planPtr.Store(p) }

// Run is the worker's event loop: handshakes, then (once SetPlan was called)
// the scheduled sends, until the plan's DrainEnd. It returns the results and
// closes the sockets.
func (w *Worker) Run(connectTimeout int64) *WorkerResult {
	defer w.close()
	w.nextStartAt = w.clock()
	for {
		now := w.clock()
		if w.plan == nil {
			w.connectStep(now, connectTimeout)
			if pl := w.planPtr.Load(); pl != nil {
				w.startRun(pl)
			}
		}
		if w.plan != nil {
			if now >= w.plan.DrainEnd {
				break
			}
			if !w.frozen && now >= w.plan.MeasureStart {
				w.freezeEpoch()
			}
			w.sendPass(now, sendBudget)
		}
		if len(w.held) > 0 {
			w.flushHeld(now)
		}
		w.flushAll()
		w.poll(w.nextWake(w.clock()))
	}
	w.finish()
	return w.res
}

// connectStep starts handshakes at the connect rate and retransmits
// unanswered ones; players that time out fail.
func (w *Worker) connectStep(now, timeout int64) {
	for w.nextStart < len(w.players) && now >= w.nextStartAt {
		p := w.players[w.nextStart]
		w.nextStart++
		w.nextStartAt += w.startInterval
		p.hsStart = now
		w.handshake(p, now)
		p.state = p.sess.State()
	}
	for w.hsHead < len(w.hs) && w.hs[w.hsHead].due <= now {
		it := w.hs[w.hsHead]
		w.hs[w.hsHead] = hsItem{}
		w.hsHead++
		p := it.p
		switch p.sess.State() {
		case client.StateHello, client.StateChallenged:
		default:
			continue // answered meanwhile
		}
		if now-p.hsStart >= timeout {
			p.state = client.StateClosed
			p.failed = true
			w.res.Failed++
			w.pending--
			continue
		}
		w.handshake(p, now)
	}
	if w.hsHead > 1024 && w.hsHead*2 > len(w.hs) { // compact the FIFO
		w.hs = append(w.hs[:0], w.hs[w.hsHead:]...)
		w.hsHead = 0
	}
	if w.pending == 0 {
		w.connectDone.Store(true)
	}
	// Keep connected sessions alive while the other workers finish.
	if now >= w.nextKeepalive {
		w.nextKeepalive = now + int64(keepalivePeriod)
		for _, p := range w.players {
			if !p.failed && p.sess.State() == client.StateConnected {
				w.send(p, p.sess.Input(now), now)
			}
		}
	}
}

// handshake sends what p's session says is due and queues p again for
// when the next retransmit is.
func (w *Worker) handshake(p *player, now int64) {
	if b := p.sess.Handshake(now); b != nil {
		w.send(p, b, now)
	}
	if due, ok := p.sess.HandshakeDue(); ok {
		w.hs = append(w.hs, hsItem{max(due, now+1), p})
	}
}

// transitions reacts to handshake state changes after a datagram.
func (w *Worker) transitions(p *player, now int64) {
	st := p.sess.State()
	if st == p.state || p.failed {
		// A player that timed out stays failed: a late Welcome must not
		// count it connected too, nor make it send.
		return
	}
	prev := p.state
	p.state = st
	switch st {
	case client.StateChallenged:
		// Answered at once; its retransmits ride the player's FIFO entry.
		if b := p.sess.Handshake(now); b != nil {
			w.send(p, b, now)
		}
	case client.StateConnected:
		if hz := p.sess.Welcome().TickHz; hz > 0 {
			w.period = int64(time.Second) / int64(hz)
		}
		if prev == client.StateHello || prev == client.StateChallenged {
			w.res.Connected++
			w.pending--
			w.progConnected.Add(1)
		}
	case client.StateRejected:
		w.res.Rejected++
		w.res.RejectReasons[p.sess.RejectReason().String()]++
		if prev == client.StateHello || prev == client.StateChallenged {
			w.pending--
		}
	case client.StateClosed:
		w.res.Closed++ // the server said Bye
	}
}

func (w *Worker) startRun(pl *Plan) {
	w.plan = pl
	w.epochMin = 1<<63 - 1
	inputInterval := int64(float64(time.Second) / w.cfg.Rate)
	who := make([]int32, len(w.players))
	for i := range who {
		who[i] = int32(i)
	}
	w.inputs = NewSchedule(pl.Start, inputInterval, pl.DrainEnd, w.inputPh, who)
	if w.cfg.PingRate > 0 {
		who2 := make([]int32, len(w.players))
		copy(who2, who)
		w.pings = NewSchedule(pl.Start, int64(float64(time.Second)/w.cfg.PingRate), pl.MeasureEnd, w.pingPh, who2)
	}
}

// freezeEpoch fixes the tick clock estimate learned during the warm-up; see
// onSnapshot.
func (w *Worker) freezeEpoch() {
	w.frozen = true
	if w.res.EpochSamples == 0 {
		return
	}
	w.res.Epoch, w.res.MinFilter = w.epochMin, w.epochMin
	if w.plan.ServerPeriod > 0 {
		// The server said when its ticks are scheduled: exact, up to the
		// two processes' clock reads (same host, same CLOCK_REALTIME).
		// The min-filter's off = receipt - T*period used the Welcome's
		// period, which is the server's whenever the period is a whole
		// number of Hz; recompute it with the server's for the record.
		w.res.Epoch, w.period = w.plan.ServerEpoch, w.plan.ServerPeriod
	}
	w.res.TickPeriod = w.period
	// Ticks whose scheduled start lies in [MeasureStart, MeasureEnd).
	w.tStart = uint32(ceilDiv(w.plan.MeasureStart-w.res.Epoch, w.period))
	w.tEnd = uint32(ceilDiv(w.plan.MeasureEnd-w.res.Epoch, w.period) - 1)
}

func ceilDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a > 0) == (b > 0) {
		q++
	}
	return q
}

// sendPass sends what is due by now, at most budget sends (see sendDue).
func (w *Worker) sendPass(now int64, budget int) {
	w.sendDue(now, budget)
	w.lastSendPass = now
}

// sendBetween runs a pass of sends between two receive batches when one is
// due: handling a tick's burst of snapshots takes the worker milliseconds
// (a few µs each, thousands of players), and the sends that fall due
// meanwhile must not wait for the whole burst, nor for a share of a core
// that a busy machine gives out in slices.
//
// Only while the worker keeps up: once its oldest due send is later than
// --max-lag the run is INVALID anyway, and receiving first, as the loop
// does, keeps its sockets from overflowing, so the server's figures stay
// readable. Sending between batches regardless lost 44-89 % of the
// snapshots in the generator's own sockets at 4,200 players against
// treasured on a busy machine (none lost without it).
func (w *Worker) sendBetween() {
	if w.plan == nil {
		return // the loop itself starts the run
	}
	now := w.clock()
	if !w.frozen && now >= w.plan.MeasureStart || now >= w.plan.DrainEnd ||
		now-w.lastSendPass < int64(w.cfg.SendQuantum) {
		return // the loop itself starts and ends the measurement
	}
	due := int64(math.MaxInt64)
	if at, _, ok := w.inputs.Peek(); ok {
		due = at
	}
	if w.pings != nil {
		if at, _, ok := w.pings.Peek(); ok {
			due = min(due, at)
		}
	}
	if due > now || now-due > int64(w.cfg.MaxLag) {
		return
	}
	w.sendPass(now, betweenBudget)
	w.flushAll()
}

// sendDue sends every input and ping due by now, at most budget per call
// so that receiving is not starved when the worker is behind.
func (w *Worker) sendDue(now int64, budget int) {
	for ; budget > 0; budget-- {
		atIn, pi, okIn := w.inputs.Peek()
		atPing, pp, okPing := int64(0), int32(0), false
		if w.pings != nil {
			atPing, pp, okPing = w.pings.Peek()
		}
		switch {
		case okPing && atPing <= now && (!okIn || atPing <= atIn):
			w.pings.Pop()
			w.sendPing(w.players[pp], atPing)
		case okIn && atIn <= now:
			w.inputs.Pop()
			w.sendInput(w.players[pi], atIn)
		default:
			return
		}
	}
}

func (w *Worker) sendInput(p *player, at int64) {
	measured := w.plan.inWindow(at)
	if measured {
		w.res.InputsPlannedWindow++
	}
	if p.failed || p.sess.State() != client.StateConnected {
		w.res.SkippedNotConnected++
		return
	}
	if at < w.plan.MeasureEnd {
		a := p.bot.Next(p.sess.View(), w.cfg.Mix)
		if _, ok := p.sess.Queue(a, at); !ok {
			w.res.ActionsRefused++
		} else if measured {
			w.res.ActionsWindow++
		}
	}
	now := w.clock()
	w.sendMeasured(p, p.sess.Input(now), now, at, measured)
	if measured {
		w.res.InputsSentWindow++
	}
	w.progSent.Add(1)
}

func (w *Worker) sendPing(p *player, at int64) {
	if p.failed || p.sess.State() != client.StateConnected {
		w.res.SkippedNotConnected++
		return
	}
	now := w.clock()
	measured := w.plan.inWindow(at)
	w.sendMeasured(p, p.sess.Ping(at, now), now, at, measured)
	if measured {
		w.res.PingsSentWindow++
	}
}

// sendMeasured sends b and, when measured, records its send lag: at once
// for a socket per player (the write is the send), at the batch's sendmmsg
// for a shared socket (flushSock); at once too when the impairment dropped
// or held the datagram.
func (w *Worker) sendMeasured(p *player, b []byte, now, at int64, measured bool) {
	if measured {
		w.lagAt = at
	}
	w.send(p, b, now)
	if w.lagAt >= 0 {
		recordNs(w.res.SendLag, now-at)
		w.lagAt = -1
	}
}

func (w *Worker) send(p *player, b []byte, now int64) {
	if p.sendImp != nil {
		p.sendImp.Pass(b, now, p.write)
		w.noteHeld(p)
		return
	}
	w.write(p, b)
}

func (w *Worker) write(p *player, b []byte) {
	if p.s != nil {
		w.enqueue(p, b)
		return
	}
	_, err := unix.Write(p.fd, b)
	switch {
	case err == nil:
		w.progDatagrams.Add(1)
	case errors.Is(err, unix.EAGAIN):
		w.res.SendWouldBlck++
	case errors.Is(err, unix.ECONNREFUSED):
		w.res.Refused++
	default:
		w.res.SendErrors++
	}
}

func (w *Worker) noteHeld(p *player) {
	if !p.held && ((p.sendImp != nil && p.sendImp.Held()) || (p.recvImp != nil && p.recvImp.Held())) {
		p.held = true
		w.held = append(w.held, p)
	}
}

func (w *Worker) flushHeld(now int64) {
	keep := w.held[:0]
	for _, p := range w.held {
		w.now = now
		p.sendImp.Flush(now, p.write)
		p.recvImp.Flush(now, p.deliver)
		if p.sendImp.Held() || p.recvImp.Held() {
			keep = append(keep, p)
		} else {
			p.held = false
		}
	}
	clear(w.held[len(keep):])
	w.held = keep
}

// nextWake is when the loop must run next: the next due send, retransmit or
// held datagram; at most connectPoll ahead before the plan arrives.
func (w *Worker) nextWake(now int64) int64 {
	wake := now + int64(time.Second)
	if w.plan == nil {
		wake = now + int64(connectPoll)
		if w.nextStart < len(w.players) {
			wake = min(wake, w.nextStartAt)
		}
		if w.hsHead < len(w.hs) {
			wake = min(wake, w.hs[w.hsHead].due)
		}
	} else {
		// Sends wait for the quantum after the last pass: a wake-up per
		// send (tens of thousands a second, each a context switch) would
		// cost more than the sends. Arriving datagrams still wake at once.
		q := w.lastSendPass + int64(w.cfg.SendQuantum)
		if at, _, ok := w.inputs.Peek(); ok {
			wake = min(wake, max(at, q))
		}
		if w.pings != nil {
			if at, _, ok := w.pings.Peek(); ok {
				wake = min(wake, max(at, q))
			}
		}
		wake = min(wake, w.plan.DrainEnd)
		if !w.frozen {
			wake = min(wake, w.plan.MeasureStart)
		}
	}
	if len(w.held) > 0 {
		wake = min(wake, now+int64(time.Millisecond))
	}
	return wake
}

// poll waits until wake (or a datagram) and handles every ready socket.
func (w *Worker) poll(wake int64) {
	timeout := max(wake-w.clock(), 0)
	if w.plan != nil {
		if w.cfg.BusyPoll {
			timeout = 0 // a raw epoll_pwait2 that returns at once: never asleep
		} else if timeout > 0 {
			w.res.SleepingWaits++
		}
	}
	n, err := epollWait(w.epfd, w.events[:], timeout)
	if err != nil {
		if !errors.Is(err, unix.EINTR) {
			w.res.RecvErrors++
		}
		return
	}
	for i := range n {
		if w.socks != nil {
			w.drainSock(w.socks[w.events[i].Fd])
		} else {
			w.drain(w.players[w.events[i].Fd])
		}
	}
}

// drain reads p's socket until it is empty, recvBatch datagrams per call.
func (w *Worker) drain(p *player) {
	for range 8 { // bounded: one socket must not starve the others
		for i := range w.rhdrs {
			w.rhdrs[i].Hdr.SetControllen(len(w.rctrl[i])) // in-out
		}
		n, e := udp.Recvmmsg(p.fd, w.rhdrs[:], unix.MSG_DONTWAIT)
		if e != 0 {
			switch e {
			case unix.EAGAIN, unix.EINTR:
			case unix.ECONNREFUSED:
				w.res.Refused++
				continue
			default:
				w.res.RecvErrors++
			}
			return
		}
		w.received(n)
		for i := range n {
			h := &w.rhdrs[i]
			_, stamp := udp.ParseControl(w.rctrl[i][:min(int(h.Hdr.Controllen), len(w.rctrl[i]))])
			w.receive(p, w.rbufs[i][:h.Len], w.arrived(stamp))
		}
		w.sendBetween()
		if n < recvBatch {
			return
		}
	}
}

// received counts n datagrams just read for the progress line and notes
// when they were read (readAt, readWall), for arrived.
func (w *Worker) received(n int) {
	w.progDatagrams.Add(uint64(n))
	t := time.Now()
	w.readAt, w.readWall = int64(t.Sub(w.base)), t.UnixNano()
}

// arrived converts a datagram's kernel receive time (stamp, Unix ns; 0 if
// the kernel gave none) to the worker's clock and makes it the worker's
// now: every latency ends when the datagram reached the generator's
// socket, not when the generator got round to reading it. A worker busy
// with a burst would otherwise add its own queueing to the server's
// figures; that wait is recorded apart, as recv_delay.
func (w *Worker) arrived(stamp int64) int64 {
	w.now = w.readAt
	if stamp != 0 {
		d := max(w.readWall-stamp, 0)
		w.now -= d
		if w.plan != nil && w.plan.inWindow(w.now) {
			recordNs(w.res.RecvDelay, d)
		}
	}
	return w.now
}

// receive hands a datagram for p to its receive impairment, or handles it.
func (w *Worker) receive(p *player, b []byte, now int64) {
	if p.recvImp != nil {
		p.recvImp.Pass(b, now, p.deliver)
		w.noteHeld(p)
		return
	}
	w.handle(p, b)
}

func (w *Worker) handle(p *player, b []byte) {
	now := w.now
	if _, err := p.sess.Handle(b, now); err != nil {
		w.res.BadDatagrams++
		return
	}
	if p.sess.State() != p.state {
		w.transitions(p, now)
	}
}

// onSnapshot learns the server's tick clock and measures tick_to_wire.
//
// When the server exports its tick epoch (Plan.ServerPeriod > 0), that is
// the reference: tick_to_wire is then the true delay from the scheduled
// tick start, and the min-filter below is kept only as a cross-check
// (MinFilter - Epoch is the fastest warm-up snapshot's delay). Otherwise:
//
// The server starts tick T at epoch + T*period (absolute deadlines) and
// sends its snapshot after the tick's work, so a snapshot of tick T received
// at r gives r - T*period = epoch + d, d >= 0 being that snapshot's
// tick-start-to-receipt delay. The minimum over the warm-up's snapshots (all
// players, thousands of samples) estimates epoch + d_min, and is then frozen.
// tick_to_wire of a measured snapshot is r - (estimate + T*period) = d -
// d_min: the delay beyond the fastest snapshot seen in the warm-up. It
// understates the true delay by d_min, which is at least the engine's work
// before the first send (drain, step, encode of one player) plus one
// loopback hop; scheduled, not actual, tick starts are the reference, so
// tick jitter and overruns are included, as coordinated-omission-free
// measurement requires. Same host, same monotonic clock: no drift. Snapshots
// that arrive below the frozen estimate are recorded as 0 and counted.
func (w *Worker) onSnapshot(p *player, f *schema.SnapshotFrame, now int64) {
	w.progSnaps.Add(1)
	if w.plan == nil {
		return // still connecting: the estimate is learned in the warm-up
	}
	off := now - int64(f.Tick)*w.period
	if !w.frozen {
		if off < w.epochMin {
			w.epochMin = off
		}
		w.res.EpochSamples++
		return
	}
	if w.res.EpochSamples == 0 {
		return
	}
	if f.Tick >= w.tStart && f.Tick <= w.tEnd {
		p.winTicks++
		d := off - w.res.Epoch
		if d < 0 {
			w.res.BelowEpoch++
			w.res.BelowEpochMin = min(w.res.BelowEpochMin, d)
			d = 0
		}
		recordNs(w.res.TickToWire, d)
	}
}

func (w *Worker) onLoot(p *player, ev *schema.LootEvent) {
	p.bot.SeeLoot(ev)
	if p.audit != nil {
		k := client.LootKey{ID: ev.LootID, Kind: ev.Kind}
		if _, dup := p.audit[k]; dup {
			w.res.AuditTwice++
		} else {
			p.audit[k] = struct{}{}
		}
		w.res.AuditShown++
	}
}

func (w *Worker) onApplied(sched, sent, now int64) {
	if w.plan != nil && w.plan.inWindow(sched) {
		w.res.AppliedWindow++
		w.res.Apply.Record(sched, sent, now)
	}
}

func (w *Worker) onPong(sched, sent, now int64) {
	if w.plan != nil && w.plan.inWindow(sched) {
		w.res.PongsWindow++
		w.res.RTT.Record(sched, sent, now)
	}
}

// finish says Bye and collects the per-player counters.
func (w *Worker) finish() {
	r := w.res
	for _, p := range w.players {
		s := p.sess
		if s.State() == client.StateConnected {
			b := s.Bye()
			w.write(p, b)
			w.write(p, b) // unacknowledged; a lost Bye costs a 10 s timeout
		}
		if !p.failed && (p.state == client.StateConnected || p.state == client.StateClosed) {
			if w.tEnd >= w.tStart && w.res.EpochSamples > 0 {
				r.SnapExpected += uint64(w.tEnd - w.tStart + 1)
			}
			r.SnapReceived += p.winTicks
		}
		// Actions of the window never acknowledged.
		if w.plan != nil {
			s.Outbox().Each(func(_ uint32, sched, _ int64) {
				if w.plan.inWindow(sched) {
					r.UnappliedWindow++
				}
			})
		}
		st := s.Stats
		// With authentication the replay window refuses a duplicated
		// datagram before it is read as a snapshot.
		r.SnapDups += st.SnapshotDups + st.Replayed
		r.Snapshots += st.Snapshots
		for i, n := range st.Bad {
			if i != 0 {
				r.BadDatagrams += n
			}
		}
		r.Unexpected += st.Unexpected + st.WrongNonce
		ls := s.Loot().Stats
		addLoot(&r.Loot, &ls)
		r.LootOwnLost += s.Loot().Lost()
		vs := s.View().Stats
		r.ViewFull += vs.Full
		r.ViewDelta += vs.Delta
		r.ViewStale += vs.Stale
		r.ViewNoBase += vs.NoBase
		if p.sendImp != nil {
			addImpair(&r.ImpairSend, &p.sendImp.Stats)
			addImpair(&r.ImpairRecv, &p.recvImp.Stats)
		}
		r.BotOpens += p.bot.Opens
		r.BotPickups += p.bot.Pickups
		r.BotMoves += p.bot.Moves
		r.BotFallbacks += p.bot.Fallbacks
	}
	w.flushAll()
	if r.TickPeriod == 0 {
		r.TickPeriod = w.period
	}
}

// rawWaitMax is the longest wait epollWait makes as a raw system call.
const rawWaitMax = 5 * time.Millisecond

// epollWait waits up to timeout ns. epoll_pwait2 (Linux 5.11) takes a
// timespec: epoll_wait's millisecond timeout would round a 0.3 ms wait to
// 1 ms and add that to every send's lag. Older kernels fall back to it.
func epollWait(epfd int, events []unix.EpollEvent, timeout int64) (int, error) {
	if !noPwait2.Load() {
		ts := unix.NsecToTimespec(timeout)
		// A short wait, the measuring phase's (at most --send-quantum
		// plus a send's lateness), is a raw system call: the worker keeps
		// its P meanwhile (GOMAXPROCS is workers + 1, so the other
		// goroutines have one of their own). Scheduled, each wait gave
		// sysmon a P in a system call to watch: at 1,000 players ~3,100
		// sysmon sleeps and ~2,600 futex calls a second, ~16 % of the
		// generator's CPU (BENCHMARKS.md, "Raw batch calls, again",
		// part 6). A long wait stays scheduled, so a stop-the-world
		// never waits for it.
		call := unix.Syscall6
		if timeout <= int64(rawWaitMax) {
			call = unix.RawSyscall6
		}
		r, _, e := call(unix.SYS_EPOLL_PWAIT2, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])),
			uintptr(len(events)), uintptr(unsafe.Pointer(&ts)), 0, 0)
		if e == 0 {
			return int(r), nil
		}
		if e != unix.ENOSYS {
			return 0, e
		}
		noPwait2.Store(true)
	}
	ms := int((timeout + int64(time.Millisecond) - 1) / int64(time.Millisecond))
	return unix.EpollWait(epfd, events, ms)
}

var noPwait2 atomic.Bool

// issueCredentials issues user a token for server, as a login backend
// would (docs/PROTOCOL.md "Connect tokens"); none without a key. Tokens
// live an hour: longer than any run, and the replay cache is sized for it.
func issueCredentials(key *auth.Key, user uint64, server netip.AddrPort) (client.Credentials, error) {
	if key == nil {
		return client.Credentials{}, nil
	}
	tok, keys, err := key.Issue(nil, auth.Claims{UserID: user, Servers: []netip.AddrPort{server}, Expires: time.Now().Add(time.Hour)}, crand.Reader)
	if err != nil {
		return client.Credentials{}, fmt.Errorf("issue a token for player %d: %w", user, err)
	}
	return client.Credentials{Token: tok, Keys: keys}, nil
}

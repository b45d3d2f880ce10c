package client

import (
	"errors"
	"time"

	"github.com/treasured/treasured/netio/auth"

	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// State is where a Session is in its life.
type State uint8

// Session states, in order.
const (
	StateIdle       State = iota // nothing sent yet
	StateHello                   // Hello sent, waiting for the Challenge
	StateChallenged              // Challenge received: send Connect
	StateConnected               // Welcome received: inputs, pings and snapshots flow
	StateRejected                // the server answered Reject (see RejectReason)
	StateClosed                  // Bye sent or received
)

var stateNames = [...]string{"idle", "hello", "challenged", "connected", "rejected", "closed"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "invalid"
}

// Config is what a Session needs to know before its Hello.
type Config struct {
	// Credentials are the connect token and its session keys, from the
	// backend that authenticated the user (docs/PROTOCOL.md "Connect
	// tokens"). With a token, the Connect carries it and every datagram
	// after the handshake is sealed and opened with the keys; without one
	// the session speaks the plain protocol of a server run without
	// authentication (a measurement setup).
	Credentials Credentials
	// PlayerKey is the player identity presented in Connect; only a server
	// without authentication reads it (with tokens the user id is the key).
	PlayerKey uint64
	Region    uint8  // requested region
	Nonce     uint64 // client nonce of the handshake; must not be 0
	// LootWindow is Loot.Window, in ticks. 0 means 1200 (60 s at 20 Hz).
	LootWindow uint32
	// Codec is shared by the sessions one goroutine drives (the bench
	// drives thousands); nil gives the session its own.
	Codec *Codec
	// Retransmit is how often Handshake repeats an unanswered Hello or
	// Connect. 0 means 200 ms.
	Retransmit time.Duration
}

// Credentials are what a backend hands a client for one connection: a
// connect token (single use: a reconnect needs a new one) and its session
// keys. A zero Credentials means no authentication.
type Credentials struct {
	Token []byte
	Keys  auth.SessionKeys
}

// Codec is the encoder, decoder and snapshot frame of one goroutine. The
// bytes a Session's encode methods return alias its encoder and are valid
// until the next encode on the same Codec: send them first.
type Codec struct {
	Enc   *schema.Encoder
	Dec   schema.Decoder
	Frame *schema.SnapshotFrame
}

// NewCodec returns a Codec that never allocates after construction.
func NewCodec() *Codec {
	return &Codec{Enc: schema.NewEncoder(), Frame: schema.NewSnapshotFrame()}
}

// Handlers are called by Session.Handle, on the goroutine that calls it; a
// nil handler is skipped. now is the caller's clock (ns) at receipt.
type Handlers struct {
	// Snapshot is called for every snapshot of a tick not received
	// before, after it was applied to the view, acks and loot.
	Snapshot func(f *schema.SnapshotFrame, now int64)
	// Loot is called once per loot event (loot id and kind): the one
	// showing the application must do.
	Loot func(ev *schema.LootEvent, now int64)
	// Applied is called when a snapshot's last_action_seq first covers an
	// action, with the action's scheduled and first-send times.
	Applied func(seq uint32, sched, sent, now int64)
	// Pong is called for a Pong that matches a Ping, with the Ping's
	// scheduled and actual send times.
	Pong func(sched, sent, now int64, serverTick uint32)
}

// SessionStats counts datagrams by fate.
type SessionStats struct {
	Datagrams    uint64                    // handed to Handle
	Bad          [schema.NumReasons]uint64 // failed verification, by schema.Reason
	Unexpected   uint64                    // well-formed, but not for a client in this state
	WrongNonce   uint64                    // handshake answers to another nonce
	Snapshots    uint64                    // snapshots of a tick not seen before
	SnapshotDups uint64                    // snapshots of a tick already received
	SnapshotOld  uint64                    // snapshots too old to classify
	Unsealed     uint64                    // plain datagrams a session with keys must not accept
	Unopened     uint64                    // sealed datagrams that did not open (forged, other session)
	Replayed     uint64                    // sealed datagrams the replay window refused: network duplicates
	PathAnswers  uint64                    // PathChallenges answered (the server checks a new address)
	Pongs        uint64                    // matched Pongs
	OutboxFull   uint64                    // actions refused by Queue
	AutoAcks     uint64                    // Inputs Client.Poll sent only to acknowledge
	SeqRebases   uint64                    // connections whose server numbered this player's actions elsewhere (Outbox.Rebase)
}

// Session is the protocol state of one player, with no I/O (sans-IO): it
// turns received datagrams into view, ack, loot and latency updates and
// produces the datagrams to send. Client wraps one around a UDP socket;
// the load generator drives thousands of them from a few event loops.
//
// Flow: Hello -> (Challenge) -> Connect -> (Welcome) -> Input/Ping as often
// as the caller likes, each Input carrying the newest snapshot tick received
// (the ack the server deltas against) and the oldest unacknowledged actions
// (the redundancy window) -> Bye.
//
// A Session is owned by one goroutine.
type Session struct {
	cfg   Config
	h     Handlers
	codec *Codec
	state State

	challenge schema.ChallengeFrame
	welcome   schema.WelcomeFrame
	reject    schema.RejectFrame
	in        schema.InputFrame

	out   Outbox
	view  View
	loot  Loot
	ticks TickSet
	pings PingTracker

	// onApplied and onOwnLoot are method values bound once, so passing
	// them on the hot path does not allocate.
	onApplied func(seq uint32, sched, sent int64)
	onOwnLoot func(lootID uint64)
	now       int64  // receipt time of the datagram being handled
	ackSent   uint32 // ack tick of the last Input built

	// synced: the first snapshot of this connection has been handled, so
	// the outbox's seqs agree with the server's window for this player and
	// Inputs may carry actions. everSynced: some earlier connection got
	// that far (the outbox's seqs were ever seen by a server).
	synced, everSynced bool

	// The handshake's retransmit clock: the state the last Hello or
	// Connect was sent in, and when to send it again.
	hsState State
	hsDue   int64

	// Authentication (with Credentials): the session's channel from the
	// Welcome on, the buffer datagrams are sealed in, and a PathChallenge
	// to answer.
	ch       *auth.Channel
	pending  *auth.Channel // opened the datagram being handled, before the Welcome
	sealBuf  []byte
	pathData uint64

	Stats SessionStats
}

// NewSession returns an idle session.
func NewSession(cfg Config, h Handlers) *Session {
	if cfg.Codec == nil {
		cfg.Codec = NewCodec()
	}
	if cfg.LootWindow == 0 {
		cfg.LootWindow = 1200
	}
	if cfg.Retransmit <= 0 {
		cfg.Retransmit = 200 * time.Millisecond
	}
	s := &Session{cfg: cfg, h: h, codec: cfg.Codec}
	if len(cfg.Credentials.Token) > 0 {
		s.sealBuf = make([]byte, schema.MaxDatagram)
	}
	s.out.Reset()
	s.loot.Window = cfg.LootWindow
	s.onApplied = s.applied
	s.onOwnLoot = s.loot.Expect
	return s
}

// State is the session's state.
func (s *Session) State() State { return s.state }

// Welcome is the server's Welcome (valid once connected).
func (s *Session) Welcome() schema.WelcomeFrame { return s.welcome }

// RejectReason is the wire.RejectReason of a rejected session.
func (s *Session) RejectReason() wire.RejectReason { return wire.RejectReason(s.reject.Reason) }

// View is the world as the snapshots received so far describe it.
func (s *Session) View() *View { return &s.view }

// Loot is the loot de-duplication and its accounting.
func (s *Session) Loot() *Loot { return &s.loot }

// Ticks records which snapshot ticks arrived.
func (s *Session) Ticks() *TickSet { return &s.ticks }

// Pings matches Pongs to Pings.
func (s *Session) Pings() *PingTracker { return &s.pings }

// Outbox is the redundancy window of unacknowledged actions.
func (s *Session) Outbox() *Outbox { return &s.out }

// AckTick is the tick the next Input acknowledges: the newest snapshot tick
// received, 0 before any.
func (s *Session) AckTick() uint32 {
	t, _ := s.ticks.Newest()
	return t
}

// AckDue reports whether a snapshot arrived that no Input has acknowledged
// yet: an Input is owed even if there is no action to send.
func (s *Session) AckDue() bool { return s.AckTick() > s.ackSent }

// Hello returns the Hello datagram and moves to StateHello. Call it again
// to retransmit (same nonce) while no Challenge has come.
func (s *Session) Hello() []byte {
	if s.state == StateIdle {
		s.state = StateHello
	}
	return s.codec.Enc.Hello(&schema.HelloFrame{Version: schema.Version, ClientNonce: s.cfg.Nonce})
}

// Connect returns the Connect datagram answering the Challenge. Retransmit
// it while no Welcome has come: the server answers a repeated Connect with
// the same Welcome.
func (s *Session) Connect() []byte {
	c := &s.challenge
	return s.codec.Enc.Connect(&schema.ConnectFrame{
		Version:     schema.Version,
		Cookie:      c.Cookie,
		Expiry:      c.Expiry,
		ClientNonce: s.cfg.Nonce,
		PlayerKey:   s.cfg.PlayerKey,
		Region:      s.cfg.Region,
		Token:       s.cfg.Credentials.Token,
	})
}

// Seal returns msg, an encoded message, sealed with the session's keys, or
// msg itself before the Welcome or without keys: for a driver that encodes
// a message itself. The result is valid until the next datagram built.
func (s *Session) Seal(msg []byte) []byte { return s.sealed(msg) }

// sealed seals an encoded message when the session has keys, in the
// session's own buffer; the result is valid until the next datagram built.
func (s *Session) sealed(msg []byte) []byte { return s.seal(msg, false) }

// seal is sealed, with the urgent mark when urgent (auth.UrgentBit).
func (s *Session) seal(msg []byte, urgent bool) []byte {
	if s.ch == nil {
		return msg
	}
	n := copy(s.sealBuf[auth.HeaderSize:], msg)
	var out []byte
	var err error
	if urgent {
		out, err = s.ch.SealUrgent(s.sealBuf, n)
	} else {
		out, err = s.ch.Seal(s.sealBuf, n)
	}
	if err != nil {
		return nil // 2^63 datagrams: unreachable; nothing is sent
	}
	return out
}

// PathResponse returns the answer to the server's last PathChallenge, once,
// or nil when none is owed. Drivers send it as soon as Handle returned
// wire.BodyPathChallenge: the server moves the stream to this client's new
// address only after it (docs/PROTOCOL.md "Address migration").
func (s *Session) PathResponse() []byte {
	if s.pathData == 0 || s.ch == nil {
		return nil
	}
	d := s.pathData
	s.pathData = 0
	s.Stats.PathAnswers++
	return s.sealed(s.codec.Enc.PathResponse(&schema.PathResponseFrame{Data: d}))
}

// SetCredentials replaces the token and keys for the next handshake (a
// token is good for one connection; call it before Restart's handshake).
func (s *Session) SetCredentials(c Credentials) {
	s.cfg.Credentials = c
	if len(c.Token) > 0 && s.sealBuf == nil {
		s.sealBuf = make([]byte, schema.MaxDatagram)
	}
}

// Handshake returns the handshake datagram due at time now, or nil when none
// is: a Hello (state Idle or Hello) or a Connect (Challenged) as soon as the
// state asks for it, then again every Config.Retransmit while no answer
// moves the state on. HandshakeDue says when the next one is due. Drivers
// (Client, the load generator) send what it returns and keep no
// retransmit clock of their own.
func (s *Session) Handshake(now int64) []byte {
	switch s.state {
	case StateIdle, StateHello, StateChallenged:
	default:
		return nil
	}
	if s.state == s.hsState && now < s.hsDue {
		return nil
	}
	var b []byte
	if s.state == StateChallenged {
		b = s.Connect()
	} else {
		b = s.Hello()
	}
	s.hsState, s.hsDue = s.state, now+int64(s.cfg.Retransmit)
	return b
}

// HandshakeDue is when Handshake next returns a datagram if no answer
// changes the state first; ok is false outside the handshake.
func (s *Session) HandshakeDue() (due int64, ok bool) {
	switch s.state {
	case StateIdle, StateHello, StateChallenged:
	default:
		return 0, false
	}
	if s.state != s.hsState {
		return 0, true // a new state: at once
	}
	return s.hsDue, true
}

// Queue adds an action to the redundancy window; its seq is assigned here.
// sched is when the action was scheduled to be sent (for the Applied
// latency); ok is false when OutboxCap actions are already unacknowledged.
// The seq of an action queued before a connection's first snapshot may
// still change then (Outbox.Rebase): the Applied handler gets the final one.
func (s *Session) Queue(a schema.Action, sched int64) (seq uint32, ok bool) {
	seq, ok = s.out.Queue(a, sched)
	if !ok {
		s.Stats.OutboxFull++
	}
	return seq, ok
}

// Input returns an Input datagram: the ack tick and the oldest
// unacknowledged actions, at most schema.MaxActions. now stamps the first
// send of actions that never left before. Until the connection's first
// snapshot it carries no actions: that snapshot says where the server's
// action_seq window for this player stands (docs/PROTOCOL.md "Inputs").
func (s *Session) Input(now int64) []byte {
	in := &s.in
	in.SessionID = s.welcome.SessionID
	in.AckTick = s.AckTick()
	s.ackSent = in.AckTick
	acts := in.Actions[:0]
	if s.synced {
		acts = s.out.Window(acts, now)
	}
	in.N = len(acts)
	return s.sealed(s.codec.Enc.Input(in))
}

// Ping returns a Ping datagram carrying sched, the time it was scheduled,
// which the Pong echoes. sent is the actual send time. sched must differ
// between the pings in flight of one session. It carries the urgent mark
// (auth.UrgentBit): a server may read it ahead of the Inputs queued before
// it, so the round trip it measures is not the length of the server's
// snapshot fan-out.
func (s *Session) Ping(sched, sent int64) []byte {
	s.pings.Record(sched, sent)
	return s.seal(s.codec.Enc.Ping(&schema.PingFrame{SessionID: s.welcome.SessionID, T: uint64(sched)}), true)
}

// Restart prepares a new handshake after the session was lost (the server
// restarted, or ended it): state Idle with a new nonce, and an empty view,
// because the server's first snapshot of the new session is a full one.
// What makes a reconnect seamless is kept: the loot de-duplication (so a
// loot event the server owes again is not shown twice) and the outbox of
// unacknowledged actions (sent again with their seqs). The received ticks
// are forgotten (their counters kept): after a power loss the restarted
// server may number ticks again that this session already saw, and they
// are new snapshots. The server resumes the player by its key (same slot,
// position, items, undelivered loot).
func (s *Session) Restart(nonce uint64) {
	s.state = StateIdle
	s.cfg.Nonce = nonce
	s.ch, s.pathData = nil, 0
	s.synced = false
	s.challenge, s.reject = schema.ChallengeFrame{}, schema.RejectFrame{}
	s.view = View{Stats: s.view.Stats}
	s.ticks = TickSet{Distinct: s.ticks.Distinct, Dups: s.ticks.Dups, TooOld: s.ticks.TooOld}
}

// Bye returns the Bye datagram and closes the session.
func (s *Session) Bye() []byte {
	s.state = StateClosed
	return s.sealed(s.codec.Enc.Bye(&schema.ByeFrame{SessionID: s.welcome.SessionID, Reason: uint8(wire.ByeReasonClientQuit)}))
}

// Handle verifies and processes one received datagram at time now and
// returns its body type. A datagram that fails verification is counted and
// returned as an error; the session is unchanged by it. b is not retained.
//
// With Credentials, a sealed datagram is opened in place (b is overwritten)
// and only Challenge and Reject may come plain: a plain Welcome, Snapshot,
// Pong or Bye is what an injector without the keys can send.
func (s *Session) Handle(b []byte, now int64) (wire.Body, error) {
	s.Stats.Datagrams++
	d := &s.codec.Dec
	b, wasSealed, err := s.unseal(b)
	if b == nil {
		return wire.BodyNONE, err
	}
	body, err := d.Decode(b)
	if err != nil {
		s.Stats.Bad[schema.Reason(err)]++
		return wire.BodyNONE, err
	}
	if s.keyed() && !wasSealed && body != wire.BodyChallenge && body != wire.BodyReject {
		s.Stats.Unsealed++
		return body, errUnsealed
	}
	switch body {
	case wire.BodyChallenge, wire.BodyWelcome, wire.BodyReject:
		s.handshakeAnswer(body)
	case wire.BodySnapshot:
		if s.state != StateConnected {
			s.Stats.Unexpected++
			break
		}
		s.snapshot(now)
	case wire.BodyPong:
		var p schema.PongFrame
		d.PongInto(&p)
		if sched, sent, ok := s.pings.Match(int64(p.T)); ok {
			s.Stats.Pongs++
			if s.h.Pong != nil {
				s.h.Pong(sched, sent, now, p.ServerTick)
			}
		}
	case wire.BodyPathChallenge:
		var pc schema.PathChallengeFrame
		d.PathChallengeInto(&pc)
		if s.state == StateConnected {
			s.pathData = pc.Data
		} else {
			s.Stats.Unexpected++
		}
	case wire.BodyBye:
		var by schema.ByeFrame
		d.ByeInto(&by)
		if s.state == StateConnected && by.SessionID == s.welcome.SessionID {
			s.state = StateClosed
		} else {
			s.Stats.Unexpected++
		}
	default:
		// Hello, Connect, Input, Ping, PathResponse: client-to-server.
		s.Stats.Unexpected++
	}
	return body, nil
}

func (s *Session) keyed() bool { return len(s.cfg.Credentials.Token) > 0 }

// unseal opens b in place when the session has keys and b is sealed (byte
// 7 >= 0x80). It returns the message, whether it was sealed, and nil with
// the reason when there is nothing to read: a duplicate the replay window
// refused (counted, not an error) or a datagram that did not open.
func (s *Session) unseal(b []byte) (msg []byte, wasSealed bool, err error) {
	s.pending = nil
	if !s.keyed() || len(b) < 8 || b[7] < 0x80 {
		return b, false, nil
	}
	body, err := s.open(b)
	if errors.Is(err, auth.ErrReplayedDatagram) || errors.Is(err, auth.ErrTooOld) {
		// A duplicate (or a datagram reordered past the window) of the
		// network's: nothing in it is new.
		s.Stats.Replayed++
		return nil, true, nil
	}
	if err != nil {
		s.Stats.Unopened++
		return nil, true, err
	}
	return body, true, nil
}

// handshakeAnswer takes a decoded Challenge, Welcome or Reject.
func (s *Session) handshakeAnswer(body wire.Body) {
	d := &s.codec.Dec
	switch body {
	case wire.BodyChallenge:
		var c schema.ChallengeFrame
		d.ChallengeInto(&c)
		if s.answersHello(c.ClientNonce) {
			// A later Challenge (a retransmitted Hello's) replaces the
			// cookie: either is valid until its expiry.
			s.challenge, s.state = c, StateChallenged
		}
	case wire.BodyWelcome:
		var w schema.WelcomeFrame
		d.WelcomeInto(&w)
		switch {
		case w.ClientNonce != s.cfg.Nonce:
			s.Stats.WrongNonce++
		case s.state == StateChallenged && s.keyed() && (s.pending == nil || s.pending.Session() != w.SessionID):
			// Sealed for another session than it names.
			s.Stats.Unexpected++
		case s.state == StateChallenged:
			s.welcome = w
			s.state = StateConnected
			s.ch = s.pending
			s.synced = false
		case s.state == StateConnected && w.SessionID == s.welcome.SessionID:
			// The answer to a retransmitted Connect.
		default:
			s.Stats.Unexpected++
		}
	case wire.BodyReject:
		var r schema.RejectFrame
		d.RejectInto(&r)
		if s.answersHello(r.ClientNonce) {
			s.reject, s.state = r, StateRejected
		}
	}
}

// answersHello says whether a Challenge or Reject carrying nonce may be
// taken now, as the answer to this session's Hello or Connect, and counts
// why not.
func (s *Session) answersHello(nonce uint64) bool {
	switch {
	case nonce != s.cfg.Nonce:
		s.Stats.WrongNonce++
	case s.state == StateHello || s.state == StateChallenged:
		return true
	default:
		s.Stats.Unexpected++
	}
	return false
}

func (s *Session) snapshot(now int64) {
	f := s.codec.Frame
	s.codec.Dec.SnapshotInto(f)
	if oldTooOld := s.ticks.TooOld; !s.ticks.Add(f.Tick) {
		if s.ticks.TooOld != oldTooOld {
			s.Stats.SnapshotOld++
		} else {
			s.Stats.SnapshotDups++
		}
		// Everything in it was handled when the tick first arrived.
		return
	}
	s.Stats.Snapshots++
	s.loot.Advance(f.Tick)
	s.view.Apply(f, s.welcome.PlayerID, s.onOwnLoot)
	s.now = now
	if !s.synced {
		s.sync(f.LastActionSeq)
	}
	s.out.Ack(f.LastActionSeq, s.onApplied)
	for i := range f.Events {
		ev := &f.Events[i]
		if s.loot.Offer(ev) && s.h.Loot != nil {
			s.h.Loot(ev, now)
		}
	}
	if s.h.Snapshot != nil {
		s.h.Snapshot(f, now)
	}
}

// sync lines the outbox up with the server's action_seq window at the
// connection's first snapshot. The server keeps a resumed player's window
// (so an action repeated across the break is applied once), which a new
// client process does not know: it numbers on from last. A server that
// knows less than this session saw acknowledged (the player's grace
// period ran out, or another world) starts the player afresh: the pending
// actions are new to it and numbered on from its last too. Otherwise the
// seqs already agree and the pending actions are repeats the window sorts
// out.
func (s *Session) sync(last uint32) {
	if !s.everSynced || last < s.out.Acked() {
		if last != s.out.Acked() {
			s.Stats.SeqRebases++
		}
		s.out.Rebase(last)
	}
	s.synced, s.everSynced = true, true
}

func (s *Session) applied(seq uint32, sched, sent int64) {
	if s.h.Applied != nil {
		s.h.Applied(seq, sched, sent, s.now)
	}
}

var errUnsealed = errors.New("client: plain datagram where a sealed one is due")

// open opens a sealed datagram in place. Before the Welcome the session has
// no channel yet: the datagram's clear session id names the one the server
// just created, and the Welcome inside must open under the token's keys.
func (s *Session) open(b []byte) ([]byte, error) {
	ch := s.ch
	if ch == nil {
		if s.state != StateChallenged {
			return nil, errNoChannel
		}
		id, ok := auth.PeekSession(b)
		if !ok {
			return nil, auth.ErrShortDatagram
		}
		var err error
		if ch, err = auth.NewChannel(id, &s.cfg.Credentials.Keys, auth.RoleClient); err != nil {
			return nil, err
		}
	}
	body, err := ch.Open(b)
	if err != nil {
		return nil, err
	}
	if s.ch == nil {
		// Kept only if it carries this attempt's Welcome (Handle).
		s.pending = ch
	}
	return body, nil
}

var errNoChannel = errors.New("client: sealed datagram before the Welcome")

package schema

import (
	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/treasured/treasured/schema/wire"
)

// Decoder verifies datagrams and exposes them as typed views read in place.
// One Decoder serves one receive loop: Decode overwrites the views, so a view
// (and anything read through it lazily) is valid until the next Decode on
// the same Decoder or until the caller reuses the datagram's buffer. The
// *Into methods copy into caller-owned frames for anything that must outlive
// the buffer, e.g. records pushed to the engine's rings.
//
// Nothing here allocates: the views are fields of the Decoder, the verifier
// lives on the stack, and errors are schema.Error values.
//
// The zero Decoder is ready to use.
type Decoder struct {
	body wire.Body
	msg  wire.Message

	hello     wire.Hello
	challenge wire.Challenge
	connect   wire.Connect
	welcome   wire.Welcome
	reject    wire.Reject
	input     wire.Input
	ping      wire.Ping
	pong      wire.Pong
	snapshot  wire.Snapshot
	bye       wire.Bye
	pathCh    wire.PathChallenge
	pathResp  wire.PathResponse
}

// Decode verifies buf and, if it is a well-formed treasured Message, points
// the view of its body at it and returns the body type. On error it returns
// wire.BodyNONE and a schema.Error (see Reason), and every view is nil.
//
// Beyond the FlatBuffers structure, Decode enforces two protocol limits that
// every receiver would otherwise have to repeat: an Input carries at most
// MaxActions actions, and a Hello or Connect datagram is at least
// MinHandshake bytes. It does not judge values (versions, cookies,
// sessions): that is the handshake's job, which answers them with a Reject.
func (d *Decoder) Decode(buf []byte) (wire.Body, error) {
	d.body = wire.BodyNONE
	if err := verify(buf); err != 0 {
		return wire.BodyNONE, err
	}
	// Accessors below run only on verified bytes: the root offset, every
	// vtable entry and the union value were bounds-checked by verify.
	d.msg.Init(buf, flatbuffers.GetUOffsetT(buf))
	var t flatbuffers.Table
	if !d.msg.Body(&t) {
		return wire.BodyNONE, ErrNoBody
	}
	body := d.msg.BodyType()
	switch body {
	case wire.BodyHello:
		if len(buf) < MinHandshake {
			return wire.BodyNONE, ErrShortHandshake
		}
		d.hello.Init(t.Bytes, t.Pos)
	case wire.BodyChallenge:
		d.challenge.Init(t.Bytes, t.Pos)
	case wire.BodyConnect:
		if len(buf) < MinHandshake {
			return wire.BodyNONE, ErrShortHandshake
		}
		d.connect.Init(t.Bytes, t.Pos)
	case wire.BodyWelcome:
		d.welcome.Init(t.Bytes, t.Pos)
	case wire.BodyReject:
		d.reject.Init(t.Bytes, t.Pos)
	case wire.BodyInput:
		d.input.Init(t.Bytes, t.Pos)
		if d.input.ActionsLength() > MaxActions {
			return wire.BodyNONE, ErrTooManyActions
		}
	case wire.BodyPing:
		d.ping.Init(t.Bytes, t.Pos)
	case wire.BodyPong:
		d.pong.Init(t.Bytes, t.Pos)
	case wire.BodySnapshot:
		d.snapshot.Init(t.Bytes, t.Pos)
	case wire.BodyBye:
		d.bye.Init(t.Bytes, t.Pos)
	case wire.BodyPathChallenge:
		d.pathCh.Init(t.Bytes, t.Pos)
	case wire.BodyPathResponse:
		d.pathResp.Init(t.Bytes, t.Pos)
	default:
		// verify accepts only the union members it knows; reaching this
		// means verify_gen.go and this switch disagree about the schema.
		return wire.BodyNONE, ErrUnion
	}
	d.body = body
	return body, nil
}

// Body is the body type of the last successful Decode, or wire.BodyNONE.
func (d *Decoder) Body() wire.Body { return d.body }

// Message is the root view of the last successful Decode, or nil.
func (d *Decoder) Message() *wire.Message {
	if d.body == wire.BodyNONE {
		return nil
	}
	return &d.msg
}

// Hello is the body view if the last Decode returned wire.BodyHello, else nil.
func (d *Decoder) Hello() *wire.Hello {
	if d.body != wire.BodyHello {
		return nil
	}
	return &d.hello
}

// Challenge is the body view if the last Decode returned wire.BodyChallenge, else nil.
func (d *Decoder) Challenge() *wire.Challenge {
	if d.body != wire.BodyChallenge {
		return nil
	}
	return &d.challenge
}

// Connect is the body view if the last Decode returned wire.BodyConnect, else nil.
func (d *Decoder) Connect() *wire.Connect {
	if d.body != wire.BodyConnect {
		return nil
	}
	return &d.connect
}

// Welcome is the body view if the last Decode returned wire.BodyWelcome, else nil.
func (d *Decoder) Welcome() *wire.Welcome {
	if d.body != wire.BodyWelcome {
		return nil
	}
	return &d.welcome
}

// Reject is the body view if the last Decode returned wire.BodyReject, else nil.
func (d *Decoder) Reject() *wire.Reject {
	if d.body != wire.BodyReject {
		return nil
	}
	return &d.reject
}

// Input is the body view if the last Decode returned wire.BodyInput, else nil.
// Its ActionsLength is at most MaxActions.
func (d *Decoder) Input() *wire.Input {
	if d.body != wire.BodyInput {
		return nil
	}
	return &d.input
}

// Ping is the body view if the last Decode returned wire.BodyPing, else nil.
func (d *Decoder) Ping() *wire.Ping {
	if d.body != wire.BodyPing {
		return nil
	}
	return &d.ping
}

// Pong is the body view if the last Decode returned wire.BodyPong, else nil.
func (d *Decoder) Pong() *wire.Pong {
	if d.body != wire.BodyPong {
		return nil
	}
	return &d.pong
}

// Snapshot is the body view if the last Decode returned wire.BodySnapshot, else nil.
func (d *Decoder) Snapshot() *wire.Snapshot {
	if d.body != wire.BodySnapshot {
		return nil
	}
	return &d.snapshot
}

// Bye is the body view if the last Decode returned wire.BodyBye, else nil.
func (d *Decoder) Bye() *wire.Bye {
	if d.body != wire.BodyBye {
		return nil
	}
	return &d.bye
}

// The *Into methods copy the last decoded body into a frame and report
// whether the body had that type; on false the frame is untouched.

// HelloInto copies a decoded Hello into f.
func (d *Decoder) HelloInto(f *HelloFrame) bool {
	h := d.Hello()
	if h == nil {
		return false
	}
	*f = HelloFrame{Version: h.Version(), ClientNonce: h.ClientNonce()}
	return true
}

// ChallengeInto copies a decoded Challenge into f.
func (d *Decoder) ChallengeInto(f *ChallengeFrame) bool {
	c := d.Challenge()
	if c == nil {
		return false
	}
	var ck wire.Cookie
	*f = ChallengeFrame{Cookie: cookieOf(c.Cookie(&ck)), Expiry: c.Expiry(), ClientNonce: c.ClientNonce()}
	return true
}

// ConnectInto copies a decoded Connect into f. The padding is not copied;
// the token is not copied either: f.Token points into the datagram.
func (d *Decoder) ConnectInto(f *ConnectFrame) bool {
	c := d.Connect()
	if c == nil {
		return false
	}
	var ck wire.Cookie
	*f = ConnectFrame{
		Version:     c.Version(),
		Cookie:      cookieOf(c.Cookie(&ck)),
		Expiry:      c.Expiry(),
		ClientNonce: c.ClientNonce(),
		PlayerKey:   c.PlayerKey(),
		Region:      c.Region(),
	}
	if c.TokenLength() > 0 {
		// An empty token reads as absent: one form for "no token".
		f.Token = c.TokenBytes()
	}
	return true
}

// PathChallengeInto copies a decoded PathChallenge into f.
func (d *Decoder) PathChallengeInto(f *PathChallengeFrame) bool {
	if d.body != wire.BodyPathChallenge {
		return false
	}
	f.Data = d.pathCh.Data()
	return true
}

// PathResponseInto copies a decoded PathResponse into f.
func (d *Decoder) PathResponseInto(f *PathResponseFrame) bool {
	if d.body != wire.BodyPathResponse {
		return false
	}
	f.Data = d.pathResp.Data()
	return true
}

// WelcomeInto copies a decoded Welcome into f.
func (d *Decoder) WelcomeInto(f *WelcomeFrame) bool {
	w := d.Welcome()
	if w == nil {
		return false
	}
	*f = WelcomeFrame{
		SessionID:   w.SessionId(),
		PlayerID:    w.PlayerId(),
		TickHz:      w.TickHz(),
		ServerTick:  w.ServerTick(),
		Region:      w.Region(),
		ClientNonce: w.ClientNonce(),
	}
	return true
}

// RejectInto copies a decoded Reject into f.
func (d *Decoder) RejectInto(f *RejectFrame) bool {
	r := d.Reject()
	if r == nil {
		return false
	}
	*f = RejectFrame{Reason: uint8(r.Reason()), ClientNonce: r.ClientNonce()}
	return true
}

// InputInto copies a decoded Input into f: N actions, oldest first, and the
// rest of f.Actions zeroed so no action of an earlier datagram lingers.
func (d *Decoder) InputInto(f *InputFrame) bool {
	in := d.Input()
	if in == nil {
		return false
	}
	f.SessionID = in.SessionId()
	f.AckTick = in.AckTick()
	n := in.ActionsLength() // <= MaxActions: Decode checked it
	var a wire.Action
	var p wire.Vec2
	for j := range n {
		in.Actions(&a, j)
		a.Pos(&p)
		f.Actions[j] = Action{Seq: a.Seq(), Kind: uint8(a.Kind()), Target: a.Target(), Pos: Vec2{p.X(), p.Y()}}
	}
	clear(f.Actions[n:])
	f.N = n
	return true
}

// PingInto copies a decoded Ping into f.
func (d *Decoder) PingInto(f *PingFrame) bool {
	p := d.Ping()
	if p == nil {
		return false
	}
	*f = PingFrame{SessionID: p.SessionId(), T: p.T()}
	return true
}

// PongInto copies a decoded Pong into f.
func (d *Decoder) PongInto(f *PongFrame) bool {
	p := d.Pong()
	if p == nil {
		return false
	}
	*f = PongFrame{T: p.T(), ServerTick: p.ServerTick()}
	return true
}

// ByeInto copies a decoded Bye into f.
func (d *Decoder) ByeInto(f *ByeFrame) bool {
	b := d.Bye()
	if b == nil {
		return false
	}
	*f = ByeFrame{SessionID: b.SessionId(), Reason: uint8(b.Reason())}
	return true
}

// SnapshotInto copies a decoded Snapshot into f, replacing the contents of
// its slices (appended from length 0). A slice whose capacity is too small is
// replaced once by one of the Max* capacity, a constant: nothing is ever
// allocated in proportion to a length read from the wire. A frame from
// NewSnapshotFrame never allocates.
func (d *Decoder) SnapshotInto(f *SnapshotFrame) bool {
	s := d.Snapshot()
	if s == nil {
		return false
	}
	f.Tick = s.Tick()
	f.BaselineTick = s.BaselineTick()
	f.LastActionSeq = s.LastActionSeq()
	f.StateHash = s.StateHash()
	f.More = s.More()

	var ps wire.PlayerState
	var pos wire.Vec2
	if s.You(&ps) != nil {
		f.You = playerOf(&ps, &pos)
	} else {
		f.You = PlayerState{}
	}

	// Each vector accessor call looks its field up in the vtable again;
	// elements are instead addressed from element 0's position and the
	// record sizes, which TestLayoutMatchesFlatc holds equal to flatc's.
	n := s.ChestsLength()
	f.Chests = reuse(f.Chests, n, MaxSnapshotChests)
	var c wire.ChestState
	if n > 0 {
		s.Chests(&c, 0)
	}
	buf, base := c.Table().Bytes, c.Table().Pos
	for j := range n {
		c.Init(buf, base+flatbuffers.UOffsetT(j*SizeChestState))
		c.Pos(&pos)
		f.Chests = append(f.Chests, ChestState{
			ID: c.Id(), Status: uint8(c.Status()), Generation: c.Generation(), LootID: c.LootId(),
			OpenedBy: c.OpenedBy(), Pos: Vec2{pos.X(), pos.Y()}, ChangedTick: c.ChangedTick(),
		})
	}

	n = s.PlayersLength()
	f.Players = reuse(f.Players, n, MaxSnapshotPlayers)
	if n > 0 {
		s.Players(&ps, 0)
	}
	buf, base = ps.Table().Bytes, ps.Table().Pos
	for j := range n {
		ps.Init(buf, base+flatbuffers.UOffsetT(j*SizePlayerState))
		f.Players = append(f.Players, playerOf(&ps, &pos))
	}

	n = s.GoneLength()
	f.Gone = reuse(f.Gone, n, MaxSnapshotGone)
	for j := range n {
		f.Gone = append(f.Gone, s.Gone(j))
	}

	n = s.EventsLength()
	f.Events = reuse(f.Events, n, MaxSnapshotEvents)
	var ev wire.LootEvent
	if n > 0 {
		s.Events(&ev, 0)
	}
	buf, base = ev.Table().Bytes, ev.Table().Pos
	for j := range n {
		ev.Init(buf, base+flatbuffers.UOffsetT(j*SizeLootEvent))
		ev.Pos(&pos)
		f.Events = append(f.Events, LootEvent{
			LootID: ev.LootId(), Kind: uint8(ev.Kind()), Item: ev.Item(), Qty: ev.Qty(),
			Chest: ev.Chest(), Player: ev.Player(), Tick: ev.Tick(), Pos: Vec2{pos.X(), pos.Y()},
		})
	}
	return true
}

// reuse empties s for n appends, replacing it by a slice of capacity limit
// (a constant; verify keeps n <= limit) if it cannot hold n.
func reuse[T any](s []T, n, limit int) []T {
	if cap(s) < n {
		return make([]T, 0, max(n, limit))
	}
	return s[:0]
}

func cookieOf(c *wire.Cookie) Cookie {
	if c == nil {
		return Cookie{}
	}
	return Cookie{Hi: c.MacHi(), Lo: c.MacLo()}
}

func playerOf(p *wire.PlayerState, pos *wire.Vec2) PlayerState {
	p.Pos(pos)
	return PlayerState{ID: p.Id(), Pos: Vec2{pos.X(), pos.Y()}, Zone: p.Zone(), Items: p.Items(), ChangedTick: p.ChangedTick()}
}

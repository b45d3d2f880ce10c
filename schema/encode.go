package schema

import (
	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/treasured/treasured/schema/wire"
)

// Encoder writes treasured messages with one reused flatbuffers.Builder,
// except Snapshot, which writes the same bytes itself into a reused buffer
// (see Encoder.Snapshot). NewEncoder warms them up, after which no encode
// method allocates as long as messages stay within MaxDatagram (a buffer
// would grow once for a larger one). An Encoder is owned by one goroutine;
// the bytes an encode method returns alias its buffers and are valid until
// the next call on the same Encoder.
//
// Every method writes a complete datagram: body table, Message root with the
// union, file identifier. Fields equal to their schema default are omitted by
// the builder (FlatBuffers leaves them out of the vtable), and the decoder
// reads them back as the default, so a round trip is exact. Within a table,
// fields are added largest first so the builder inserts the least alignment
// padding.
type Encoder struct {
	b *flatbuffers.Builder

	// snap is Snapshot's own buffer (Snapshot writes without the builder).
	snap []byte

	// Padding bytes that bring the smallest possible Hello or Connect
	// (every field default) to MinHandshake; see NewEncoder.
	helloPad, connectPad int
}

// zeroPad is the source of Hello and Connect padding: copied, never written,
// so padding costs no allocation.
var zeroPad [MinHandshake]byte

// NewEncoder returns an Encoder whose builder is sized for MaxDatagram and
// warmed up with one message of each kind, so that its vtable scratch space
// already fits the largest table.
func NewEncoder() *Encoder {
	e := &Encoder{b: flatbuffers.NewBuilder(MaxDatagram + 256), snap: make([]byte, MaxDatagram+256)}
	// A message with every field at its default is the smallest the
	// encoder can write; padding it to MinHandshake pads every other one
	// past it too, because the padding vector's bytes only add to the
	// size. This is measured, not hard-coded, so it follows the schema.
	e.helloPad = max(0, MinHandshake-len(e.hello(&HelloFrame{}, 0)))
	e.connectPad = max(0, MinHandshake-len(e.connect(&ConnectFrame{}, 0)))
	e.Challenge(&ChallengeFrame{})
	e.Welcome(&WelcomeFrame{})
	e.Reject(&RejectFrame{})
	e.Input(&InputFrame{N: MaxActions})
	e.Ping(&PingFrame{})
	e.Pong(&PongFrame{})
	e.Bye(&ByeFrame{})
	e.PathChallenge(&PathChallengeFrame{})
	e.PathResponse(&PathResponseFrame{})
	e.Connect(&ConnectFrame{Token: zeroPad[:208]})
	e.Snapshot(&SnapshotFrame{})
	return e
}

func (e *Encoder) finish(body wire.Body, bodyOff flatbuffers.UOffsetT) []byte {
	b := e.b
	wire.MessageStart(b)
	wire.MessageAddBody(b, bodyOff)
	wire.MessageAddBodyType(b, body)
	root := wire.MessageEnd(b)
	b.FinishWithFileIdentifier(root, identifierBytes[:])
	return b.FinishedBytes()
}

var identifierBytes = [4]byte{Identifier[0], Identifier[1], Identifier[2], Identifier[3]}

// Hello encodes f, padded to at least MinHandshake bytes.
func (e *Encoder) Hello(f *HelloFrame) []byte { return e.hello(f, e.helloPad) }

func (e *Encoder) hello(f *HelloFrame, pad int) []byte {
	b := e.b
	b.Reset()
	padding := b.CreateByteVector(zeroPad[:pad])
	wire.HelloStart(b)
	wire.HelloAddClientNonce(b, f.ClientNonce)
	wire.HelloAddPadding(b, padding)
	wire.HelloAddVersion(b, f.Version)
	return e.finish(wire.BodyHello, wire.HelloEnd(b))
}

// Challenge encodes f.
func (e *Encoder) Challenge(f *ChallengeFrame) []byte {
	b := e.b
	b.Reset()
	wire.ChallengeStart(b)
	wire.ChallengeAddExpiry(b, f.Expiry)
	wire.ChallengeAddClientNonce(b, f.ClientNonce)
	// A struct is written inline, inside the table being built, right
	// before the slot that refers to it.
	wire.ChallengeAddCookie(b, wire.CreateCookie(b, f.Cookie.Hi, f.Cookie.Lo))
	return e.finish(wire.BodyChallenge, wire.ChallengeEnd(b))
}

// Connect encodes f, padded to at least MinHandshake bytes. A Connect with
// its token is already larger: it gets no padding beyond what it lacks.
func (e *Encoder) Connect(f *ConnectFrame) []byte {
	if len(f.Token) == 0 {
		return e.connect(f, e.connectPad)
	}
	out := e.connect(f, 0)
	if len(out) >= MinHandshake {
		return out
	}
	// The padding vector adds its length word and alignment on top of
	// the bytes asked for, so this reaches MinHandshake.
	return e.connect(f, MinHandshake-len(out))
}

func (e *Encoder) connect(f *ConnectFrame, pad int) []byte {
	b := e.b
	b.Reset()
	var token flatbuffers.UOffsetT
	if len(f.Token) > 0 {
		token = b.CreateByteVector(f.Token)
	}
	padding := b.CreateByteVector(zeroPad[:pad])
	wire.ConnectStart(b)
	if token != 0 {
		wire.ConnectAddToken(b, token)
	}
	wire.ConnectAddExpiry(b, f.Expiry)
	wire.ConnectAddClientNonce(b, f.ClientNonce)
	wire.ConnectAddPlayerKey(b, f.PlayerKey)
	wire.ConnectAddCookie(b, wire.CreateCookie(b, f.Cookie.Hi, f.Cookie.Lo))
	wire.ConnectAddPadding(b, padding)
	wire.ConnectAddVersion(b, f.Version)
	wire.ConnectAddRegion(b, f.Region)
	return e.finish(wire.BodyConnect, wire.ConnectEnd(b))
}

// Welcome encodes f.
func (e *Encoder) Welcome(f *WelcomeFrame) []byte {
	b := e.b
	b.Reset()
	wire.WelcomeStart(b)
	wire.WelcomeAddSessionId(b, f.SessionID)
	wire.WelcomeAddClientNonce(b, f.ClientNonce)
	wire.WelcomeAddPlayerId(b, f.PlayerID)
	wire.WelcomeAddServerTick(b, f.ServerTick)
	wire.WelcomeAddTickHz(b, f.TickHz)
	wire.WelcomeAddRegion(b, f.Region)
	return e.finish(wire.BodyWelcome, wire.WelcomeEnd(b))
}

// Reject encodes f.
func (e *Encoder) Reject(f *RejectFrame) []byte {
	b := e.b
	b.Reset()
	wire.RejectStart(b)
	wire.RejectAddClientNonce(b, f.ClientNonce)
	wire.RejectAddReason(b, wire.RejectReason(f.Reason))
	return e.finish(wire.BodyReject, wire.RejectEnd(b))
}

// Input encodes f with its first N actions; N is clamped to [0, MaxActions]
// so a bad N can neither panic nor write an Input the decoder would refuse.
func (e *Encoder) Input(f *InputFrame) []byte {
	b := e.b
	b.Reset()
	n := min(max(f.N, 0), MaxActions)
	var actions flatbuffers.UOffsetT
	if n > 0 {
		// Back to front: the builder writes from the end of its buffer.
		wire.InputStartActionsVector(b, n)
		for i := n - 1; i >= 0; i-- {
			placeAction(b, &f.Actions[i])
		}
		actions = b.EndVector(n)
	}
	wire.InputStart(b)
	wire.InputAddSessionId(b, f.SessionID)
	if actions != 0 {
		wire.InputAddActions(b, actions)
	}
	wire.InputAddAckTick(b, f.AckTick)
	return e.finish(wire.BodyInput, wire.InputEnd(b))
}

// Ping encodes f.
func (e *Encoder) Ping(f *PingFrame) []byte {
	b := e.b
	b.Reset()
	wire.PingStart(b)
	wire.PingAddSessionId(b, f.SessionID)
	wire.PingAddT(b, f.T)
	return e.finish(wire.BodyPing, wire.PingEnd(b))
}

// Pong encodes f.
func (e *Encoder) Pong(f *PongFrame) []byte {
	b := e.b
	b.Reset()
	wire.PongStart(b)
	wire.PongAddT(b, f.T)
	wire.PongAddServerTick(b, f.ServerTick)
	return e.finish(wire.BodyPong, wire.PongEnd(b))
}

// PathChallenge encodes f (server to client, sealed only).
func (e *Encoder) PathChallenge(f *PathChallengeFrame) []byte {
	b := e.b
	b.Reset()
	wire.PathChallengeStart(b)
	wire.PathChallengeAddData(b, f.Data)
	return e.finish(wire.BodyPathChallenge, wire.PathChallengeEnd(b))
}

// PathResponse encodes f (client to server, sealed only).
func (e *Encoder) PathResponse(f *PathResponseFrame) []byte {
	b := e.b
	b.Reset()
	wire.PathResponseStart(b)
	wire.PathResponseAddData(b, f.Data)
	return e.finish(wire.BodyPathResponse, wire.PathResponseEnd(b))
}

// Bye encodes f.
func (e *Encoder) Bye(f *ByeFrame) []byte {
	b := e.b
	b.Reset()
	wire.ByeStart(b)
	wire.ByeAddSessionId(b, f.SessionID)
	wire.ByeAddReason(b, wire.ByeReason(f.Reason))
	return e.finish(wire.BodyBye, wire.ByeEnd(b))
}

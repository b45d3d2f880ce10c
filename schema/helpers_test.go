package schema

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/treasured/treasured/schema/wire"
)

// allBodies lists every union member in type-code order. TestUnionCovered
// keeps it equal to the schema's union.
var allBodies = []wire.Body{
	wire.BodyHello, wire.BodyChallenge, wire.BodyConnect, wire.BodyWelcome, wire.BodyReject,
	wire.BodyInput, wire.BodyPing, wire.BodyPong, wire.BodySnapshot, wire.BodyBye,
	wire.BodyPathChallenge, wire.BodyPathResponse,
}

// encodeFrame encodes any frame pointer with e.
func encodeFrame(e *Encoder, f any) []byte {
	switch f := f.(type) {
	case *HelloFrame:
		return e.Hello(f)
	case *ChallengeFrame:
		return e.Challenge(f)
	case *ConnectFrame:
		return e.Connect(f)
	case *WelcomeFrame:
		return e.Welcome(f)
	case *RejectFrame:
		return e.Reject(f)
	case *InputFrame:
		return e.Input(f)
	case *PingFrame:
		return e.Ping(f)
	case *PongFrame:
		return e.Pong(f)
	case *ByeFrame:
		return e.Bye(f)
	case *PathChallengeFrame:
		return e.PathChallenge(f)
	case *PathResponseFrame:
		return e.PathResponse(f)
	case *SnapshotFrame:
		return e.Snapshot(f)
	}
	panic(fmt.Sprintf("no encoder for %T", f))
}

// bodyOf is the body type a frame encodes to.
func bodyOf(f any) wire.Body {
	switch f.(type) {
	case *HelloFrame:
		return wire.BodyHello
	case *ChallengeFrame:
		return wire.BodyChallenge
	case *ConnectFrame:
		return wire.BodyConnect
	case *WelcomeFrame:
		return wire.BodyWelcome
	case *RejectFrame:
		return wire.BodyReject
	case *InputFrame:
		return wire.BodyInput
	case *PingFrame:
		return wire.BodyPing
	case *PongFrame:
		return wire.BodyPong
	case *ByeFrame:
		return wire.BodyBye
	case *PathChallengeFrame:
		return wire.BodyPathChallenge
	case *PathResponseFrame:
		return wire.BodyPathResponse
	case *SnapshotFrame:
		return wire.BodySnapshot
	}
	panic(fmt.Sprintf("no body for %T", f))
}

// decodeFrame copies the decoder's last body into a new frame.
func decodeFrame(d *Decoder) any {
	var ok bool
	var f any
	switch d.Body() {
	case wire.BodyHello:
		x := new(HelloFrame)
		ok, f = d.HelloInto(x), x
	case wire.BodyChallenge:
		x := new(ChallengeFrame)
		ok, f = d.ChallengeInto(x), x
	case wire.BodyConnect:
		x := new(ConnectFrame)
		ok, f = d.ConnectInto(x), x
	case wire.BodyWelcome:
		x := new(WelcomeFrame)
		ok, f = d.WelcomeInto(x), x
	case wire.BodyReject:
		x := new(RejectFrame)
		ok, f = d.RejectInto(x), x
	case wire.BodyInput:
		x := new(InputFrame)
		ok, f = d.InputInto(x), x
	case wire.BodyPing:
		x := new(PingFrame)
		ok, f = d.PingInto(x), x
	case wire.BodyPong:
		x := new(PongFrame)
		ok, f = d.PongInto(x), x
	case wire.BodyBye:
		x := new(ByeFrame)
		ok, f = d.ByeInto(x), x
	case wire.BodyPathChallenge:
		x := new(PathChallengeFrame)
		ok, f = d.PathChallengeInto(x), x
	case wire.BodyPathResponse:
		x := new(PathResponseFrame)
		ok, f = d.PathResponseInto(x), x
	case wire.BodySnapshot:
		x := new(SnapshotFrame)
		ok, f = d.SnapshotInto(x), x
	}
	if !ok {
		panic(fmt.Sprintf("Into failed for body %v", d.Body()))
	}
	return f
}

// frameEqual compares frames by value; nil and empty snapshot slices are
// equal, since the wire cannot tell them apart.
func frameEqual(a, b any) bool {
	sa, ok1 := a.(*SnapshotFrame)
	sb, ok2 := b.(*SnapshotFrame)
	if ok1 && ok2 {
		return sa.Tick == sb.Tick && sa.BaselineTick == sb.BaselineTick &&
			sa.LastActionSeq == sb.LastActionSeq && sa.StateHash == sb.StateHash &&
			sa.You == sb.You && sa.More == sb.More &&
			slices.Equal(sa.Chests, sb.Chests) && slices.Equal(sa.Players, sb.Players) &&
			slices.Equal(sa.Gone, sb.Gone) && slices.Equal(sa.Events, sb.Events)
	}
	return reflect.DeepEqual(a, b)
}

// fullFrames returns one frame per body type with every field set to a
// non-default value and every vector non-empty, so each field is present in
// the encoded vtable (TestEveryFieldVerified relies on it).
func fullFrames() []any {
	var in InputFrame
	in.SessionID, in.AckTick, in.N = 0x1122334455667788, 77, MaxActions
	for i := range in.Actions {
		in.Actions[i] = Action{Seq: uint32(100 + i), Kind: uint8(1 + i%3), Target: uint64(1000 + i), Pos: Vec2{int32(-i - 1), int32(i + 1)}}
	}
	return []any{
		&HelloFrame{Version: Version, ClientNonce: 0xabcdef0123456789},
		&ChallengeFrame{Cookie: Cookie{Hi: 1, Lo: 2}, Expiry: 3, ClientNonce: 4},
		&ConnectFrame{Version: Version, Cookie: Cookie{Hi: 5, Lo: 6}, Expiry: 7, ClientNonce: 8, PlayerKey: 9, Region: 2, Token: testToken()[:16]},
		&WelcomeFrame{SessionID: 10, PlayerID: 11, TickHz: 20, ServerTick: 12, Region: 1, ClientNonce: 13},
		&RejectFrame{Reason: uint8(wire.RejectReasonBadCookie), ClientNonce: 14},
		&in,
		&PingFrame{SessionID: 15, T: 16},
		&PongFrame{T: 17, ServerTick: 18},
		&ByeFrame{SessionID: 19, Reason: uint8(wire.ByeReasonTimeout)},
		&PathChallengeFrame{Data: 20},
		&PathResponseFrame{Data: 21},
		&SnapshotFrame{
			Tick: 42, BaselineTick: 40, LastActionSeq: 9, StateHash: 0xdeadbeefcafef00d,
			You:     PlayerState{ID: 3, Pos: Vec2{-5, 6}, Zone: 2, Items: 4, ChangedTick: 41},
			Chests:  []ChestState{{ID: 1, Status: 1, Generation: 2, LootID: 77, OpenedBy: 3, Pos: Vec2{1, 2}, ChangedTick: 42}, {ID: 2, Status: 1, OpenedBy: NoPlayer}},
			Players: []PlayerState{{ID: 4, Pos: Vec2{7, -8}, Zone: 2, Items: 1, ChangedTick: 39}},
			Gone:    []uint32{5, 6},
			Events:  []LootEvent{{LootID: 77, Kind: 1, Item: 3, Qty: 2, Chest: 1, Player: 3, Tick: 42, Pos: Vec2{1, 2}}},
			More:    true,
		},
	}
}

func randVec(r *rand.Rand) Vec2 { return Vec2{r.Int32() - 1<<30, int32(r.Uint32())} }

// randU64 favours the values an encoder treats specially (the default 0 is
// omitted from the table) besides uniform ones.
func randU64(r *rand.Rand) uint64 {
	switch r.IntN(4) {
	case 0:
		return 0
	case 1:
		return ^uint64(0)
	}
	return r.Uint64()
}

func randPlayer(r *rand.Rand) PlayerState {
	return PlayerState{ID: uint32(randU64(r)), Pos: randVec(r), Zone: r.Uint32(), Items: uint32(randU64(r)), ChangedTick: r.Uint32()}
}

// randFrame returns a random valid frame of the given body type.
func randFrame(r *rand.Rand, body wire.Body) any {
	switch body {
	case wire.BodyHello:
		return &HelloFrame{Version: uint16(randU64(r)), ClientNonce: randU64(r)}
	case wire.BodyChallenge:
		return &ChallengeFrame{Cookie: Cookie{randU64(r), randU64(r)}, Expiry: randU64(r), ClientNonce: randU64(r)}
	case wire.BodyConnect:
		return &ConnectFrame{Version: uint16(randU64(r)), Cookie: Cookie{randU64(r), randU64(r)}, Expiry: randU64(r),
			ClientNonce: randU64(r), PlayerKey: randU64(r), Region: uint8(randU64(r))}
	case wire.BodyWelcome:
		return &WelcomeFrame{SessionID: randU64(r), PlayerID: uint32(randU64(r)), TickHz: uint16(randU64(r)),
			ServerTick: uint32(randU64(r)), Region: uint8(randU64(r)), ClientNonce: randU64(r)}
	case wire.BodyReject:
		return &RejectFrame{Reason: uint8(r.IntN(int(wire.RejectReasonShuttingDown) + 1)), ClientNonce: randU64(r)}
	case wire.BodyInput:
		f := &InputFrame{SessionID: randU64(r), AckTick: uint32(randU64(r)), N: r.IntN(MaxActions + 1)}
		for i := range f.N {
			f.Actions[i] = Action{Seq: r.Uint32(), Kind: uint8(r.IntN(int(wire.ActionKindPickupLoot) + 1)), Target: randU64(r), Pos: randVec(r)}
		}
		return f
	case wire.BodyPing:
		return &PingFrame{SessionID: randU64(r), T: randU64(r)}
	case wire.BodyPong:
		return &PongFrame{T: randU64(r), ServerTick: uint32(randU64(r))}
	case wire.BodyBye:
		return &ByeFrame{SessionID: randU64(r), Reason: uint8(r.IntN(int(wire.ByeReasonKicked) + 1))}
	case wire.BodyPathChallenge:
		return &PathChallengeFrame{Data: randU64(r)}
	case wire.BodyPathResponse:
		return &PathResponseFrame{Data: randU64(r)}
	case wire.BodySnapshot:
		f := &SnapshotFrame{Tick: r.Uint32(), BaselineTick: uint32(randU64(r)), LastActionSeq: r.Uint32(),
			StateHash: randU64(r), You: randPlayer(r), More: r.IntN(2) == 0}
		// Grow vectors at random while the size bound allows, as the
		// engine does when it packs a snapshot.
		for range 200 {
			nc, np, ng, ne := len(f.Chests), len(f.Players), len(f.Gone), len(f.Events)
			switch r.IntN(4) {
			case 0:
				nc++
			case 1:
				np++
			case 2:
				ng++
			case 3:
				ne++
			}
			if SnapshotSize(nc, np, ng, ne) > MaxDatagram {
				break
			}
			switch {
			case nc > len(f.Chests):
				f.Chests = append(f.Chests, ChestState{ID: r.Uint32(), Status: uint8(r.IntN(2)), Generation: r.Uint32(),
					LootID: randU64(r), OpenedBy: r.Uint32(), Pos: randVec(r), ChangedTick: r.Uint32()})
			case np > len(f.Players):
				f.Players = append(f.Players, randPlayer(r))
			case ng > len(f.Gone):
				f.Gone = append(f.Gone, r.Uint32())
			default:
				f.Events = append(f.Events, LootEvent{LootID: randU64(r), Kind: uint8(r.IntN(3)), Item: uint16(r.Uint32()),
					Qty: uint16(r.Uint32()), Chest: r.Uint32(), Player: r.Uint32(), Tick: r.Uint32(), Pos: randVec(r)})
			}
			if r.IntN(30) == 0 {
				break // also produce small snapshots
			}
		}
		return f
	}
	panic("unknown body")
}

// fullSnapshot is a Snapshot as close to MaxDatagram as SnapshotSize allows,
// the shape the fan-out sends under load.
func fullSnapshot() *SnapshotFrame {
	f := &SnapshotFrame{Tick: 1000, BaselineTick: 990, LastActionSeq: 55, StateHash: 0x0123456789abcdef,
		You: PlayerState{ID: 1, Pos: Vec2{100, 200}, Zone: 4, Items: 3, ChangedTick: 999}, More: true}
	for i := 0; ; i++ {
		nc, np, ng, ne := len(f.Chests), len(f.Players), len(f.Gone), len(f.Events)
		switch i % 4 {
		case 0, 1:
			nc++
		case 2:
			np++
		case 3:
			if i%8 == 3 {
				ne++
			} else {
				ng++
			}
		}
		if SnapshotSize(nc, np, ng, ne) > MaxDatagram {
			return f
		}
		u := uint32(i)
		switch {
		case nc > len(f.Chests):
			f.Chests = append(f.Chests, ChestState{ID: u, Status: 1, Generation: u, LootID: uint64(u) << 20, OpenedBy: u, Pos: Vec2{int32(u), -int32(u)}, ChangedTick: 999})
		case np > len(f.Players):
			f.Players = append(f.Players, PlayerState{ID: u, Pos: Vec2{int32(u), 5}, Zone: 4, Items: u, ChangedTick: 998})
		case ng > len(f.Gone):
			f.Gone = append(f.Gone, u)
		default:
			f.Events = append(f.Events, LootEvent{LootID: uint64(u) << 20, Kind: 0, Item: 7, Qty: 1, Chest: u, Player: 1, Tick: 999, Pos: Vec2{1, 1}})
		}
	}
}

// fullInput is an Input carrying MaxActions actions.
func fullInput() *InputFrame {
	f := fullFrames()[5].(*InputFrame)
	return f
}

// touchAll reads every field of the last decoded body through the typed
// path the server uses (the *Into copies, which call every generated field
// accessor) plus the accessors the copies skip. Cheap enough to run on
// hundreds of thousands of mutants.
func touchAll(d *Decoder) any {
	f := decodeFrame(d)
	if h := d.Hello(); h != nil {
		_ = h.PaddingBytes()
		for j := range h.PaddingLength() {
			_ = h.Padding(j)
		}
	}
	if c := d.Connect(); c != nil {
		_ = c.PaddingBytes()
		for j := range c.PaddingLength() {
			_ = c.Padding(j)
		}
	}
	return f
}

// bodyView is the decoder's typed view of its last body.
func bodyView(d *Decoder) any {
	switch d.Body() {
	case wire.BodyHello:
		return d.Hello()
	case wire.BodyChallenge:
		return d.Challenge()
	case wire.BodyConnect:
		return d.Connect()
	case wire.BodyWelcome:
		return d.Welcome()
	case wire.BodyReject:
		return d.Reject()
	case wire.BodyInput:
		return d.Input()
	case wire.BodyPing:
		return d.Ping()
	case wire.BodyPong:
		return d.Pong()
	case wire.BodySnapshot:
		return d.Snapshot()
	case wire.BodyBye:
		return d.Bye()
	case wire.BodyPathChallenge:
		return d.Message()
	case wire.BodyPathResponse:
		return d.Message()
	}
	return nil
}

var tableType = reflect.TypeFor[*flatbuffers.Table]()

// walk calls, by reflection, every read accessor flatc generated on the
// view v (a pointer to a wire table or struct) and recurses into structs
// and vector elements. Being driven by the method set, it keeps up with the
// schema: a new field is walked without editing this function, and an
// accessor shape it does not know fails the test instead of being skipped.
func walk(tb testing.TB, v reflect.Value) {
	tb.Helper()
	typ := v.Type()
	for i := range typ.NumMethod() {
		m := typ.Method(i)
		name := m.Name
		if name == "Init" || name == "Table" || strings.HasPrefix(name, "Mutate") {
			continue
		}
		mt := m.Type // In(0) is the receiver
		fn := v.Method(i)
		length := func() int {
			l := v.MethodByName(name + "Length")
			if !l.IsValid() {
				tb.Fatalf("%s.%s has no %sLength", typ, name, name)
			}
			return int(l.Call(nil)[0].Int())
		}
		switch {
		case mt.NumIn() == 1:
			fn.Call(nil) // scalar, enum, byte slice or vector length
		case mt.NumIn() == 2 && mt.In(1).Kind() == reflect.Int:
			for j := range length() { // element of a scalar vector
				fn.Call([]reflect.Value{reflect.ValueOf(j)})
			}
		case mt.NumIn() == 3 && mt.In(2).Kind() == reflect.Int:
			for j := range length() { // element of a struct vector
				obj := reflect.New(mt.In(1).Elem())
				fn.Call([]reflect.Value{obj, reflect.ValueOf(j)})
				walk(tb, obj)
			}
		case mt.NumIn() == 2 && mt.In(1) == tableType:
			// The union value: the decoder's typed view is walked by
			// the caller; here only check the call itself is safe.
			fn.Call([]reflect.Value{reflect.ValueOf(new(flatbuffers.Table))})
		case mt.NumIn() == 2 && mt.In(1).Kind() == reflect.Pointer:
			obj := reflect.New(mt.In(1).Elem()) // struct field
			if out := fn.Call([]reflect.Value{obj})[0]; !out.IsNil() {
				walk(tb, out)
			}
		default:
			tb.Fatalf("walk: accessor %s.%s%s has a shape walk does not know", typ, name, mt)
		}
	}
}

// walkDecoded walks the root and the body of the last successful Decode by
// reflection, then copies the body through the typed path.
func walkDecoded(tb testing.TB, d *Decoder) {
	tb.Helper()
	walk(tb, reflect.ValueOf(d.Message()))
	walk(tb, reflect.ValueOf(bodyView(d)))
	touchAll(d)
}

// testToken is a connect token's worth of recognisable bytes: the codec
// carries it opaque (netio/auth parses it).
func testToken() []byte {
	t := make([]byte, 208)
	for i := range t {
		t[i] = byte(i*7 + 1)
	}
	return t
}

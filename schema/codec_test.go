package schema

import (
	"errors"
	"math/rand/v2"
	"testing"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/treasured/treasured/schema/wire"
)

func TestRoundTripFull(t *testing.T) {
	e := NewEncoder()
	var d Decoder
	seen := map[wire.Body]bool{}
	for _, f := range fullFrames() {
		buf := encodeFrame(e, f)
		body, err := d.Decode(buf)
		if err != nil {
			t.Fatalf("%T: Decode: %v", f, err)
		}
		if body != bodyOf(f) || d.Body() != body {
			t.Fatalf("%T: body %v, want %v", f, body, bodyOf(f))
		}
		seen[body] = true
		walkDecoded(t, &d)
		if got := decodeFrame(&d); !frameEqual(got, f) {
			t.Fatalf("%T: round trip\n got %+v\nwant %+v", f, got, f)
		}
	}
	for _, b := range allBodies {
		if !seen[b] {
			t.Errorf("no round trip for %v", b)
		}
	}
}

// TestRoundTripZero: a frame of zero values encodes to a body whose fields
// are all absent (the builder omits defaults); it must decode to zeros too.
func TestRoundTripZero(t *testing.T) {
	e := NewEncoder()
	var d Decoder
	for _, b := range allBodies {
		f := zeroFrame(b)
		buf := encodeFrame(e, f)
		if _, err := d.Decode(buf); err != nil {
			t.Fatalf("%v: %v", b, err)
		}
		walkDecoded(t, &d)
		if got := decodeFrame(&d); !frameEqual(got, f) {
			t.Fatalf("%v: got %+v want %+v", b, got, f)
		}
	}
}

func zeroFrame(b wire.Body) any {
	switch b {
	case wire.BodyHello:
		return new(HelloFrame)
	case wire.BodyChallenge:
		return new(ChallengeFrame)
	case wire.BodyConnect:
		return new(ConnectFrame)
	case wire.BodyWelcome:
		return new(WelcomeFrame)
	case wire.BodyReject:
		return new(RejectFrame)
	case wire.BodyInput:
		return new(InputFrame)
	case wire.BodyPing:
		return new(PingFrame)
	case wire.BodyPong:
		return new(PongFrame)
	case wire.BodyBye:
		return new(ByeFrame)
	case wire.BodyPathChallenge:
		return new(PathChallengeFrame)
	case wire.BodyPathResponse:
		return new(PathResponseFrame)
	}
	return new(SnapshotFrame)
}

// TestRoundTripRandom is the property "random valid messages are accepted
// and decode to what was encoded", over fixed seeds so failures reproduce.
func TestRoundTripRandom(t *testing.T) {
	e := NewEncoder()
	var d Decoder
	n := 400
	if testing.Short() {
		n = 50
	}
	for seed := range uint64(4) {
		r := rand.New(rand.NewPCG(seed, 0x7265617375726564))
		for i := range n {
			for _, b := range allBodies {
				f := randFrame(r, b)
				buf := encodeFrame(e, f)
				if len(buf) > MaxDatagram {
					t.Fatalf("seed %d #%d %v: encoded %d bytes > MaxDatagram", seed, i, b, len(buf))
				}
				if _, err := d.Decode(buf); err != nil {
					t.Fatalf("seed %d #%d %v: Decode: %v\n% x", seed, i, b, err, buf)
				}
				if got := touchAll(&d); !frameEqual(got, f) {
					t.Fatalf("seed %d #%d %v: got %+v want %+v", seed, i, b, got, f)
				}
			}
		}
	}
}

func TestIdentifier(t *testing.T) {
	if Identifier != schemaIdentifier {
		t.Fatalf("Identifier %q, treasure.fbs file_identifier %q", Identifier, schemaIdentifier)
	}
	if string(identifierBytes[:]) != Identifier {
		t.Fatalf("identifierBytes %q", identifierBytes)
	}
	e := NewEncoder()
	var d Decoder
	for _, f := range fullFrames() {
		buf := encodeFrame(e, f)
		if string(buf[4:8]) != Identifier {
			t.Fatalf("%T: identifier %q", f, buf[4:8])
		}
		// flatbuffers' own check agrees on where the identifier sits.
		if !flatbuffers.BufferHasIdentifier(buf, Identifier) {
			t.Fatalf("%T: BufferHasIdentifier false", f)
		}
		for i := 4; i < 8; i++ {
			bad := append([]byte(nil), buf...)
			bad[i] ^= 0x20
			if _, err := d.Decode(bad); err != ErrIdentifier {
				t.Fatalf("%T: identifier byte %d flipped: err %v", f, i, err)
			}
		}
	}
}

func TestHandshakePadding(t *testing.T) {
	e := NewEncoder()
	var d Decoder
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		var buf []byte
		if i%2 == 0 {
			buf = e.Hello(randFrame(r, wire.BodyHello).(*HelloFrame))
		} else {
			buf = e.Connect(randFrame(r, wire.BodyConnect).(*ConnectFrame))
		}
		// At least MinHandshake, and not much more: the padding is sized
		// for the smallest message, larger ones exceed it by their fields.
		if len(buf) < MinHandshake || len(buf) > MinHandshake+64 {
			t.Fatalf("handshake datagram of %d bytes", len(buf))
		}
		if _, err := d.Decode(buf); err != nil {
			t.Fatal(err)
		}
	}
	// An unpadded Hello is well-formed FlatBuffers but refused.
	if _, err := d.Decode(e.hello(&HelloFrame{Version: Version}, 0)); err != ErrShortHandshake {
		t.Fatalf("unpadded Hello: %v", err)
	}
	if _, err := d.Decode(e.connect(&ConnectFrame{Version: Version}, 0)); err != ErrShortHandshake {
		t.Fatalf("unpadded Connect: %v", err)
	}
	// Every answer to an unauthenticated request is smaller than it.
	for _, f := range []any{&ChallengeFrame{Cookie{^uint64(0), ^uint64(0)}, ^uint64(0), ^uint64(0)},
		&RejectFrame{Reason: uint8(wire.RejectReasonShuttingDown), ClientNonce: ^uint64(0)},
		&WelcomeFrame{^uint64(0), ^uint32(0), ^uint16(0), ^uint32(0), 255, ^uint64(0)}} {
		if n := len(encodeFrame(e, f)); n >= MinHandshake {
			t.Fatalf("%T is %d bytes, not below MinHandshake", f, n)
		}
	}
}

// TestTooLargeFirst: an oversized datagram is refused by its size alone,
// whatever it contains (here a valid message followed by junk).
func TestTooLargeFirst(t *testing.T) {
	e := NewEncoder()
	var d Decoder
	buf := append([]byte(nil), e.Ping(&PingFrame{SessionID: 1, T: 2})...)
	buf = append(buf, make([]byte, MaxDatagram+1-len(buf))...)
	if _, err := d.Decode(buf); err != ErrTooLarge {
		t.Fatalf("err %v", err)
	}
	if _, err := d.Decode(make([]byte, 64<<10)); err != ErrTooLarge {
		t.Fatalf("64 KiB: err %v", err)
	}
	if _, err := d.Decode(buf[:MaxDatagram]); err != nil {
		t.Fatalf("trailing bytes within MaxDatagram are allowed: %v", err)
	}
}

func TestTooManyActions(t *testing.T) {
	// The encoder clamps N, so build a 9-action Input by hand.
	b := flatbuffers.NewBuilder(0)
	wire.InputStartActionsVector(b, MaxActions+1)
	for i := 0; i < MaxActions+1; i++ {
		wire.CreateAction(b, uint32(i), wire.ActionKindMove, 0, 0, 0)
	}
	acts := b.EndVector(MaxActions + 1)
	wire.InputStart(b)
	wire.InputAddActions(b, acts)
	body := wire.InputEnd(b)
	wire.MessageStart(b)
	wire.MessageAddBodyType(b, wire.BodyInput)
	wire.MessageAddBody(b, body)
	b.FinishWithFileIdentifier(wire.MessageEnd(b), []byte(Identifier))
	var d Decoder
	if _, err := d.Decode(b.FinishedBytes()); err != ErrTooManyActions {
		t.Fatalf("err %v", err)
	}
	if d.Input() != nil || d.Body() != wire.BodyNONE || d.Message() != nil {
		t.Fatal("views left set after an error")
	}
	// N beyond MaxActions is clamped on encode, never a panic.
	e := NewEncoder()
	f := fullInput()
	f.N = 99
	if _, err := d.Decode(e.Input(f)); err != nil || d.Input().ActionsLength() != MaxActions {
		t.Fatalf("clamped Input: %v", err)
	}
	f.N = -1
	if _, err := d.Decode(e.Input(f)); err != nil || d.Input().ActionsLength() != 0 {
		t.Fatalf("negative N: %v", err)
	}
}

func TestNoBody(t *testing.T) {
	b := flatbuffers.NewBuilder(0)
	wire.MessageStart(b)
	b.FinishWithFileIdentifier(wire.MessageEnd(b), []byte(Identifier))
	var d Decoder
	if _, err := d.Decode(b.FinishedBytes()); err != ErrNoBody {
		t.Fatalf("err %v", err)
	}
}

func TestIntoWrongBody(t *testing.T) {
	e := NewEncoder()
	var d Decoder
	if _, err := d.Decode(e.Ping(&PingFrame{T: 1})); err != nil {
		t.Fatal(err)
	}
	in := InputFrame{N: 3}
	if d.InputInto(&in) || in.N != 3 || d.Input() != nil || d.Snapshot() != nil {
		t.Fatal("Input view of a Ping")
	}
	if !d.PingInto(new(PingFrame)) {
		t.Fatal("PingInto false")
	}
	// A failed Decode clears the views.
	if _, err := d.Decode([]byte("short")); err == nil || d.Ping() != nil {
		t.Fatal("Ping view survived a failed Decode")
	}
}

// TestInputIntoClearsStale: actions of an earlier, longer Input never leak
// into a shorter one's frame.
func TestInputIntoClearsStale(t *testing.T) {
	e := NewEncoder()
	var d Decoder
	var f InputFrame
	d.Decode(e.Input(fullInput()))
	d.InputInto(&f)
	d.Decode(e.Input(&InputFrame{SessionID: 1, N: 1, Actions: [MaxActions]Action{{Seq: 5, Kind: 1}}}))
	d.InputInto(&f)
	if f.N != 1 || f.Actions[1] != (Action{}) || f.Actions[MaxActions-1] != (Action{}) {
		t.Fatalf("stale actions: %+v", f)
	}
}

func TestSnapshotIntoReusesSlices(t *testing.T) {
	e := NewEncoder()
	var d Decoder
	var f SnapshotFrame // nil slices: SnapshotInto must give them capacity once
	d.Decode(e.Snapshot(fullSnapshot()))
	d.SnapshotInto(&f)
	if cap(f.Chests) < MaxSnapshotChests || cap(f.Gone) < MaxSnapshotGone {
		t.Fatalf("caps %d %d", cap(f.Chests), cap(f.Gone))
	}
	chests := &f.Chests[:1][0]
	d.Decode(e.Snapshot(&SnapshotFrame{Chests: []ChestState{{ID: 9}}}))
	d.SnapshotInto(&f)
	if len(f.Chests) != 1 || &f.Chests[0] != chests || len(f.Players)+len(f.Gone)+len(f.Events) != 0 || f.More {
		t.Fatalf("slices not reused or not reset: %+v", f)
	}
}

func TestReason(t *testing.T) {
	if Reason(nil) != 0 || Reason(ErrVector) != ErrVector || Reason(errors.New("x")) != ErrOther {
		t.Fatal("Reason")
	}
	if !errors.Is(ErrEnum, ErrEnum) || ErrEnum.String() != "enum" || ErrTooLarge.Error() == "" {
		t.Fatal("labels")
	}
	seen := map[string]bool{}
	for i := range NumReasons {
		l := Error(i).String()
		if l == "" || seen[l] || Error(i).Error() == "" {
			t.Fatalf("reason %d: label %q duplicate or empty", i, l)
		}
		seen[l] = true
	}
	if Error(NumReasons).String() != "unknown" {
		t.Fatal("out of range label")
	}
}

// TestNoAllocs guards the zero-allocation promise (docs/ARCHITECTURE.md "Memory") for every
// encoder and for decoding, including the error path the receive loop takes
// on junk.
func TestNoAllocs(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation changes allocation")
	}
	e := NewEncoder()
	var d Decoder
	frames := fullFrames()
	frames = append(frames, fullSnapshot())
	for _, f := range frames {
		if n := testing.AllocsPerRun(50, func() { encodeFrame(e, f) }); n != 0 {
			t.Errorf("encode %T: %v allocs", f, n)
		}
	}
	in := e.Input(fullInput())
	in = append([]byte(nil), in...)
	var inf InputFrame
	if n := testing.AllocsPerRun(100, func() {
		if _, err := d.Decode(in); err != nil {
			t.Fatal(err)
		}
		d.InputInto(&inf)
	}); n != 0 {
		t.Errorf("decode Input: %v allocs", n)
	}
	snap := append([]byte(nil), e.Snapshot(fullSnapshot())...)
	sf := NewSnapshotFrame()
	if n := testing.AllocsPerRun(100, func() {
		if _, err := d.Decode(snap); err != nil {
			t.Fatal(err)
		}
		d.SnapshotInto(sf)
	}); n != 0 {
		t.Errorf("decode Snapshot: %v allocs", n)
	}
	bufs := make([][]byte, 0, len(frames))
	for _, f := range frames {
		bufs = append(bufs, append([]byte(nil), encodeFrame(e, f)...))
	}
	if n := testing.AllocsPerRun(20, func() {
		for _, b := range bufs {
			d.Decode(b)
			touchAllNoAlloc(&d)
		}
	}); n != 0 {
		t.Errorf("decode every body: %v allocs", n)
	}
	bad := append([]byte(nil), snap...)
	bad[4] = 'X'
	big := make([]byte, 1500)
	var sink error
	if n := testing.AllocsPerRun(100, func() {
		_, sink = d.Decode(bad)
		_, sink = d.Decode(bad[:5])
		_, sink = d.Decode(big)
	}); n != 0 || sink == nil {
		t.Errorf("decode errors: %v allocs", n)
	}
}

// touchAllNoAlloc copies every body type into preallocated frames.
var (
	naHello     HelloFrame
	naChallenge ChallengeFrame
	naConnect   ConnectFrame
	naWelcome   WelcomeFrame
	naReject    RejectFrame
	naInput     InputFrame
	naPing      PingFrame
	naPong      PongFrame
	naBye       ByeFrame
	naPathCh    PathChallengeFrame
	naPathResp  PathResponseFrame
	naSnapshot  = NewSnapshotFrame()
)

func touchAllNoAlloc(d *Decoder) {
	d.HelloInto(&naHello)
	d.ChallengeInto(&naChallenge)
	d.ConnectInto(&naConnect)
	d.WelcomeInto(&naWelcome)
	d.RejectInto(&naReject)
	d.InputInto(&naInput)
	d.PingInto(&naPing)
	d.PongInto(&naPong)
	d.ByeInto(&naBye)
	d.PathChallengeInto(&naPathCh)
	d.PathResponseInto(&naPathResp)
	d.SnapshotInto(naSnapshot)
}

package schema

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/treasured/treasured/schema/wire"
)

// The protocol test vectors (docs/PROTOCOL.md "Test vectors"): one valid
// datagram of every message type, as hex, in testdata/vectors. An
// implementation in another language encodes the frame described in each
// file's header and compares bytes, and decodes the bytes and compares
// fields. TestVectors keeps the files equal to what our encoder writes and
// to what our verifier accepts; -update-vectors rewrites them after a
// deliberate change of the encoder or the schema.
var updateVectors = flag.Bool("update-vectors", false, "rewrite testdata/vectors from the encoder")

const vectorDir = "testdata/vectors"

type vector struct {
	name  string // file name without .hex
	about string // the frame's fields, for the file header
	frame any
}

// vectors returns one frame per body type, with the values a real session
// would carry, every field non-default so each appears in the vtable.
func vectors() []vector {
	var in InputFrame
	in.SessionID, in.AckTick, in.N = 0x8000_0001_0000_0007, 1041, 3
	in.Actions[0] = Action{Seq: 17, Kind: uint8(wire.ActionKindMove), Pos: Vec2{X: 12_500, Y: -3_000}}
	in.Actions[1] = Action{Seq: 18, Kind: uint8(wire.ActionKindOpenChest), Target: 4711}
	in.Actions[2] = Action{Seq: 19, Kind: uint8(wire.ActionKindPickupLoot), Target: 0x0000_1268_0000_0002}
	cookie := Cookie{Hi: 0x0011_2233_4455_6677, Lo: 0x8899_aabb_ccdd_eeff}
	const nonce = 0x0123_4567_89ab_cdef
	return []vector{
		{"01-hello", "Hello{version: 2, client_nonce: 0x0123456789abcdef}, padding of zero bytes to 256 bytes",
			&HelloFrame{Version: Version, ClientNonce: nonce}},
		{"02-challenge", "Challenge{cookie: {mac_hi: 0x0011223344556677, mac_lo: 0x8899aabbccddeeff}, expiry: 1767225600000, client_nonce: 0x0123456789abcdef}",
			&ChallengeFrame{Cookie: cookie, Expiry: 1_767_225_600_000, ClientNonce: nonce}},
		{"03-connect", "Connect{version: 2, cookie: {mac_hi: 0x0011223344556677, mac_lo: 0x8899aabbccddeeff}, expiry: 1767225600000, client_nonce: 0x0123456789abcdef, player_key: 42, region: 2, token: 208 bytes, byte i = (7i+1) mod 256 (opaque here: netio/auth's vectors are real tokens)}, no padding (the token makes it over 256 bytes)",
			&ConnectFrame{Version: Version, Cookie: cookie, Expiry: 1_767_225_600_000, ClientNonce: nonce, PlayerKey: 42, Region: 2, Token: testToken()}},
		{"04-welcome", "Welcome{session_id: 0x8000000100000007, player_id: 7, tick_hz: 20, server_tick: 1040, region: 2, client_nonce: 0x0123456789abcdef}",
			&WelcomeFrame{SessionID: 0x8000_0001_0000_0007, PlayerID: 7, TickHz: 20, ServerTick: 1040, Region: 2, ClientNonce: nonce}},
		{"05-reject", "Reject{reason: ServerFull (1), client_nonce: 0x0123456789abcdef}",
			&RejectFrame{Reason: uint8(wire.RejectReasonServerFull), ClientNonce: nonce}},
		{"06-input", "Input{session_id: 0x8000000100000007, ack_tick: 1041, actions: [{seq: 17, kind: Move (1), target: 0, pos: {x: 12500, y: -3000}}, {seq: 18, kind: OpenChest (2), target: 4711, pos: {0, 0}}, {seq: 19, kind: PickupLoot (3), target: 0x0000126800000002, pos: {0, 0}}]}",
			&in},
		{"07-ping", "Ping{session_id: 0x8000000100000007, t: 123456789}",
			&PingFrame{SessionID: 0x8000_0001_0000_0007, T: 123_456_789}},
		{"08-pong", "Pong{t: 123456789, server_tick: 1042}",
			&PongFrame{T: 123_456_789, ServerTick: 1042}},
		{"09-snapshot", "Snapshot{tick: 1043, baseline_tick: 1041, last_action_seq: 19, state_hash: 0x9e3779b97f4a7c15, " +
			"you: {id: 7, pos: {12500, -3000}, zone: 33, items: 1, changed_tick: 1043}, " +
			"chests: [{id: 4711, status: Opened (1), generation: 3, loot_id: 0x0000126800000003, opened_by: 7, pos: {13000, -2500}, changed_tick: 1042}], " +
			"players: [{id: 9, pos: {20000, 1000}, zone: 34, items: 0, changed_tick: 1040}], gone: [11, 12], " +
			"events: [{loot_id: 0x0000126800000003, kind: Generated (0), item: 5, qty: 2, chest: 4711, player: 7, tick: 1042, pos: {13000, -2500}}], more: true}",
			&SnapshotFrame{
				Tick: 1043, BaselineTick: 1041, LastActionSeq: 19, StateHash: 0x9e37_79b9_7f4a_7c15,
				You:     PlayerState{ID: 7, Pos: Vec2{12_500, -3_000}, Zone: 33, Items: 1, ChangedTick: 1043},
				Chests:  []ChestState{{ID: 4711, Status: uint8(wire.ChestStatusOpened), Generation: 3, LootID: 0x0000_1268_0000_0003, OpenedBy: 7, Pos: Vec2{13_000, -2_500}, ChangedTick: 1042}},
				Players: []PlayerState{{ID: 9, Pos: Vec2{20_000, 1_000}, Zone: 34, ChangedTick: 1040}},
				Gone:    []uint32{11, 12},
				Events:  []LootEvent{{LootID: 0x0000_1268_0000_0003, Kind: uint8(wire.LootEventKindGenerated), Item: 5, Qty: 2, Chest: 4711, Player: 7, Tick: 1042, Pos: Vec2{13_000, -2_500}}},
				More:    true,
			}},
		{"10-bye", "Bye{session_id: 0x8000000100000007, reason: ClientQuit (0)}",
			&ByeFrame{SessionID: 0x8000_0001_0000_0007, Reason: uint8(wire.ByeReasonClientQuit)}},
		{"11-path-challenge", "PathChallenge{data: 0x5a5a0123456789ab} (sent sealed only)",
			&PathChallengeFrame{Data: 0x5a5a_0123_4567_89ab}},
		{"12-path-response", "PathResponse{data: 0x5a5a0123456789ab} (sent sealed only)",
			&PathResponseFrame{Data: 0x5a5a_0123_4567_89ab}},
	}
}

// formatVector writes a vector file: '#' comment lines, then the bytes as
// "offset: hex bytes", 16 per line.
func formatVector(v vector, b []byte) []byte {
	var w bytes.Buffer
	fmt.Fprintf(&w, "# %s: one valid treasured datagram (docs/PROTOCOL.md \"Test vectors\").\n", wire.EnumNamesBody[bodyOf(v.frame)])
	fmt.Fprintf(&w, "# %s\n", v.about)
	fmt.Fprintf(&w, "# %d bytes; union type (Message.body_type) %d. Lines: byte offset (hex), then bytes.\n", len(b), bodyOf(v.frame))
	writeHexDump(&w, b)
	return w.Bytes()
}

// writeHexDump writes b as "offset: bytes" lines of 16, the format
// ParseHexDump reads.
func writeHexDump(w *bytes.Buffer, b []byte) {
	for off := 0; off < len(b); off += 16 {
		fmt.Fprintf(w, "%04x:", off)
		for _, c := range b[off:min(off+16, len(b))] {
			fmt.Fprintf(w, " %02x", c)
		}
		w.WriteByte('\n')
	}
}

// vectorFile returns the text of the vector file at path, after writing
// want there first with -update-vectors.
func vectorFile(t *testing.T, path string, want []byte) []byte {
	t.Helper()
	if *updateVectors {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./schema -run Vectors -update-vectors to write it)", err)
	}
	return text
}

func TestVectors(t *testing.T) {
	e := NewEncoder()
	covered := map[wire.Body]bool{}
	for _, v := range vectors() {
		t.Run(v.name, func(t *testing.T) {
			body := bodyOf(v.frame)
			covered[body] = true
			enc := bytes.Clone(encodeFrame(e, v.frame))
			path := filepath.Join(vectorDir, v.name+".hex")
			text := vectorFile(t, path, formatVector(v, enc))
			want, err := ParseHexDump(text)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if !bytes.Equal(enc, want) {
				t.Fatalf("%s differs from the encoder's bytes:\nfile:    %x\nencoder: %x\n(a deliberate wire change: -update-vectors and bump schema.Version)", path, want, enc)
			}
			if !bytes.Equal(text, formatVector(v, want)) {
				t.Errorf("%s: header or layout is stale; rewrite with -update-vectors", path)
			}

			// The file's bytes are a valid datagram of that type whose
			// fields are the ones its header names.
			var d Decoder
			got, err := d.Decode(want)
			if err != nil || got != body {
				t.Fatalf("Decode(%s) = %v, %v; want %v", path, got, err, body)
			}
			if back := decodeFrame(&d); !frameEqual(back, v.frame) {
				t.Fatalf("decoded %+v, want %+v", back, v.frame)
			}
			if len(want) > MaxDatagram {
				t.Fatalf("%d bytes > MaxDatagram", len(want))
			}
			if (body == wire.BodyHello || body == wire.BodyConnect) && len(want) < MinHandshake {
				t.Fatalf("%d bytes < MinHandshake", len(want))
			}
		})
	}
	for _, b := range allBodies {
		if !covered[b] {
			t.Errorf("no test vector for %v", b)
		}
	}
}

// refusedVector is a datagram every receiver must drop whole, with the
// verifier's reason and the label the server counts it under in
// treasured_drops_total (docs/PROTOCOL.md "What the verifier refuses").
type refusedVector struct {
	name, about string
	want        Error
	label       string
	bytes       func() []byte
}

// mutateVector decodes a valid datagram, lets f change bytes of it in place
// (given the decoder's views of the original), and returns the result.
func mutateVector(valid []byte, f func(d *Decoder, b []byte)) []byte {
	b := bytes.Clone(valid)
	var d Decoder
	if _, err := d.Decode(b); err != nil {
		panic(err)
	}
	f(&d, b)
	return b
}

func refusedVectors() []refusedVector {
	e := NewEncoder()
	vs := vectors()
	enc := func(i int) []byte { return bytes.Clone(encodeFrame(e, vs[i].frame)) }
	return []refusedVector{
		{"input-9-actions", "Input with 9 actions (the limit is 8): dropped whole, its ack_tick included", ErrTooManyActions, "malformed",
			func() []byte {
				// The Encoder clamps to MaxActions, so this one is built by
				// hand with its builder and finished like every message.
				e := NewEncoder()
				b := e.b
				b.Reset()
				wire.InputStartActionsVector(b, MaxActions+1)
				for i := MaxActions; i >= 0; i-- {
					placeAction(b, &Action{Seq: uint32(17 + i), Kind: uint8(wire.ActionKindMove), Pos: Vec2{X: int32(i) * 100}})
				}
				acts := b.EndVector(MaxActions + 1)
				wire.InputStart(b)
				wire.InputAddSessionId(b, 0x8000_0001_0000_0007)
				wire.InputAddActions(b, acts)
				wire.InputAddAckTick(b, 1041)
				return bytes.Clone(e.finish(wire.BodyInput, wire.InputEnd(b)))
			}},
		{"snapshot-bool-2", "the valid Snapshot vector with its `more` byte set to 2: a bool must be 0 or 1", ErrEnum, "malformed",
			func() []byte {
				return mutateVector(enc(8), func(d *Decoder, b []byte) {
					t := d.Snapshot().Table()
					b[t.Pos+flatbuffers.UOffsetT(t.Offset(22))] = 2 // vtable slot of `more`
				})
			}},
		{"input-action-kind-4", "the valid Input vector with its first action's kind set to 4, which ActionKind does not declare", ErrEnum, "malformed",
			func() []byte {
				return mutateVector(enc(5), func(d *Decoder, b []byte) {
					var a wire.Action
					d.Input().Actions(&a, 0)
					b[a.Table().Pos+4] = 4 // Action: seq u32, then kind
				})
			}},
		{"ping-union-type-13", "the valid Ping vector with Message.body_type set to 13, a union member the schema does not declare", ErrUnion, "malformed",
			func() []byte {
				return mutateVector(enc(6), func(d *Decoder, b []byte) {
					t := d.Message().Table()
					b[t.Pos+flatbuffers.UOffsetT(t.Offset(4))] = 13 // vtable slot of body_type
				})
			}},
		{"hello-unpadded", "Hello{version: 2, client_nonce: 0x0123456789abcdef} without padding: under 256 bytes", ErrShortHandshake, "unpadded",
			func() []byte {
				return bytes.Clone(e.hello(&HelloFrame{Version: Version, ClientNonce: 0x0123_4567_89ab_cdef}, 0))
			}},
		{"ping-identifier", "the valid Ping vector with the file identifier TRSX instead of TRSR", ErrIdentifier, "bad_identifier",
			func() []byte { return mutateVector(enc(6), func(_ *Decoder, b []byte) { b[7] = 'X' }) }},
	}
}

func formatRefused(v refusedVector, b []byte) []byte {
	var w bytes.Buffer
	fmt.Fprintf(&w, "# REFUSED: a receiver must drop this datagram whole (docs/PROTOCOL.md \"What the verifier refuses\").\n")
	fmt.Fprintf(&w, "# %s\n", v.about)
	fmt.Fprintf(&w, "# %d bytes; verifier error %q; the server counts it in treasured_drops_total{reason=%q}.\n", len(b), v.want.String(), v.label)
	writeHexDump(&w, b)
	return w.Bytes()
}

// TestRefusedVectors keeps testdata/vectors/refused equal to what the
// mutations above produce and checks that the decoder refuses each for the
// stated reason.
func TestRefusedVectors(t *testing.T) {
	dir := filepath.Join(vectorDir, "refused")
	for _, v := range refusedVectors() {
		t.Run(v.name, func(t *testing.T) {
			b := v.bytes()
			path := filepath.Join(dir, v.name+".hex")
			text := vectorFile(t, path, formatRefused(v, b))
			if !bytes.Equal(text, formatRefused(v, b)) {
				t.Fatalf("%s is stale; rewrite with -update-vectors", path)
			}
			var d Decoder
			if body, err := d.Decode(b); err != v.want {
				t.Fatalf("Decode = %v, %v; want error %v", body, err, v.want)
			}
		})
	}
}

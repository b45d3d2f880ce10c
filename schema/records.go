// Package schema owns the treasured wire protocol: treasure.fbs, the Go code
// flatc generates from it (package wire), a verifier that makes any byte
// string safe to read, and zero-allocation encoders and decoders.
//
// Bytes from the network reach package wire only through Decoder.Decode,
// which verifies them first: flatc's Go accessors (GetRootAsMessage and the
// rest) trust their input and panic on a bad offset. Encoder writes every
// message; Decoder reads every message, as in-place views (Decoder.Input,
// ...) or as copies into the frames of frames.go (Decoder.InputInto, ...).
// Decode errors are schema.Error values, one per drop reason (see Reason).
//
// Regenerate after editing treasure.fbs: go generate ./schema (generate.go).
package schema

// Identifier is the FlatBuffers file identifier of every treasured datagram
// (bytes 4..8). flatc 2.0.8 does not emit it for Go, so it lives here and in
// treasure.fbs; a test keeps the two equal.
const Identifier = "TRSR"

// Version is the protocol version carried in Hello and Connect.
const Version uint16 = 2

// MaxDatagram is the largest datagram either side sends or accepts. 1200 bytes
// fits the IPv6 minimum MTU with room for UDP/IP headers, so no datagram is
// ever fragmented.
const MaxDatagram = 1200

// MaxActions is how many actions one Input carries at most: the client repeats
// its last unacknowledged actions so a lost packet loses nothing
// (docs/PROTOCOL.md "Inputs").
const MaxActions = 8

// NoPlayer marks "no player" in opened_by / player fields.
const NoPlayer = ^uint32(0)

// The records below mirror the FlatBuffers structs of treasure.fbs as plain,
// pointer-free Go values: the engine fills them, the encoders write them and
// the decoders read into them.

// Vec2 is a position in fixed-point millimetres.
type Vec2 struct{ X, Y int32 }

// Cookie mirrors wire.Cookie: the 128-bit truncated HMAC of a Challenge.
type Cookie struct{ Hi, Lo uint64 }

// Action mirrors wire.Action.
type Action struct {
	Seq    uint32
	Kind   uint8 // wire.ActionKind
	Target uint64
	Pos    Vec2
}

// PlayerState mirrors wire.PlayerState.
type PlayerState struct {
	ID          uint32
	Pos         Vec2
	Zone        uint32
	Items       uint32
	ChangedTick uint32
}

// ChestState mirrors wire.ChestState.
type ChestState struct {
	ID          uint32
	Status      uint8 // wire.ChestStatus
	Generation  uint32
	LootID      uint64
	OpenedBy    uint32
	Pos         Vec2
	ChangedTick uint32
}

// LootEvent mirrors wire.LootEvent.
type LootEvent struct {
	LootID uint64
	Kind   uint8 // wire.LootEventKind
	Item   uint16
	Qty    uint16
	Chest  uint32
	Player uint32
	Tick   uint32
	Pos    Vec2
}

// Encoded sizes of the wire structs (see the Prep calls flatc generates).
const (
	SizeVec2        = 8
	SizeCookie      = 16
	SizeAction      = 24
	SizePlayerState = 24
	SizeChestState  = 40
	SizeLootEvent   = 40
)

// SnapshotFrame is everything one Snapshot datagram carries. The slices are
// owned by the caller and reused tick after tick.
type SnapshotFrame struct {
	Tick          uint32
	BaselineTick  uint32
	LastActionSeq uint32
	StateHash     uint64
	You           PlayerState
	Chests        []ChestState
	Players       []PlayerState
	Gone          []uint32
	Events        []LootEvent
	More          bool
}

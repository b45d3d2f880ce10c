package schema

// Frames are the plain Go form of each message body: the encoder writes one,
// the decoder fills one. They hold no pointers (SnapshotFrame excepted, whose
// slices the caller owns and reuses), so they can sit in preallocated arrays
// and rings without giving the GC anything to scan. Enum fields are uint8
// holding the wire enum's value, as in the records of records.go.

// MinHandshake is the smallest Hello or Connect datagram accepted. The server
// answers them before the client has proved anything, so requiring the
// request to be at least as large as any answer (Challenge, Welcome, Reject
// are all far smaller) denies amplification (netcode.io does the same).
// The encoders pad to it; Decode rejects shorter ones with ErrShortHandshake.
const MinHandshake = 256

// Most elements of each Snapshot vector a MaxDatagram datagram can carry. The
// verifier guarantees a vector's bytes fit in the datagram, so these bound
// what SnapshotInto can ever append.
const (
	MaxSnapshotChests  = MaxDatagram / SizeChestState
	MaxSnapshotPlayers = MaxDatagram / SizePlayerState
	MaxSnapshotGone    = MaxDatagram / 4
	MaxSnapshotEvents  = MaxDatagram / SizeLootEvent
)

// HelloFrame is a Hello body.
type HelloFrame struct {
	Version     uint16
	ClientNonce uint64
}

// ChallengeFrame is a Challenge body.
type ChallengeFrame struct {
	Cookie      Cookie
	Expiry      uint64 // server clock, unix milliseconds
	ClientNonce uint64
}

// ConnectFrame is a Connect body.
type ConnectFrame struct {
	Version     uint16
	Cookie      Cookie
	Expiry      uint64
	ClientNonce uint64
	PlayerKey   uint64 // version 1; a version 2 server ignores it (the token names the user)
	Region      uint8
	// Token is the connect token (version 2). Decoding points it into the
	// datagram, so it is valid as long as the datagram's buffer; it is the
	// one slice of a handshake frame, and nothing keeps the frame longer.
	Token []byte
}

// WelcomeFrame is a Welcome body.
type WelcomeFrame struct {
	SessionID   uint64
	PlayerID    uint32
	TickHz      uint16
	ServerTick  uint32
	Region      uint8
	ClientNonce uint64
}

// RejectFrame is a Reject body.
type RejectFrame struct {
	Reason      uint8 // wire.RejectReason
	ClientNonce uint64
}

// InputFrame is an Input body. Actions[:N] are used, oldest first; the array
// is fixed so an Input never allocates and copies straight into the engine's
// ring records.
type InputFrame struct {
	SessionID uint64
	AckTick   uint32
	N         int
	Actions   [MaxActions]Action
}

// PingFrame is a Ping body.
type PingFrame struct {
	SessionID uint64
	T         uint64 // client clock, echoed in Pong
}

// PongFrame is a Pong body.
type PongFrame struct {
	T          uint64
	ServerTick uint32
}

// PathChallengeFrame is a PathChallenge body: a random value the server
// sends to a client's new address (docs/PROTOCOL.md "Address migration").
type PathChallengeFrame struct {
	Data uint64
}

// PathResponseFrame is a PathResponse body: the client's echo of Data.
type PathResponseFrame struct {
	Data uint64
}

// ByeFrame is a Bye body.
type ByeFrame struct {
	SessionID uint64
	Reason    uint8 // wire.ByeReason
}

// NewSnapshotFrame returns a SnapshotFrame whose slices have the capacity of
// the largest snapshot a datagram can carry, so Decoder.SnapshotInto never
// allocates into it.
func NewSnapshotFrame() *SnapshotFrame {
	return &SnapshotFrame{
		Chests:  make([]ChestState, 0, MaxSnapshotChests),
		Players: make([]PlayerState, 0, MaxSnapshotPlayers),
		Gone:    make([]uint32, 0, MaxSnapshotGone),
		Events:  make([]LootEvent, 0, MaxSnapshotEvents),
	}
}

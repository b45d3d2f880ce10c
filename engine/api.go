package engine

import "github.com/treasured/treasured/schema"

// RecordKind says what a Record asks of the engine.
type RecordKind uint8

// Record kinds. Within one tick the engine orders records by (player,
// generation, lifecycle, content), the lifecycle of one generation being
// Join, Inputs, Leave (order.go). So a Leave of generation g and a Join of
// g+1 in one tick mean "the old session left, a new one joined", and a Join
// and a Leave of the same generation mean "it came, acted and left".
const (
	RecLeave RecordKind = 1 // session ended (Bye, idle timeout, shutdown)
	RecJoin  RecordKind = 2 // slot activated after a valid Connect
	RecInput RecordKind = 3 // actions and ack of one Input datagram
)

// Record is the fixed-size, pointer-free entry netio copies into its ring to
// the engine. It is a value type on purpose: the rings hold arrays of it, so
// the GC never scans them and nothing from the datagram outlives OnTraffic.
type Record struct {
	Kind    RecordKind
	N       uint8  // RecInput: actions used in Actions[:N]
	Region  uint8  // RecJoin: requested region
	Player  int32  // player slot, equal to the session slot netio allocated
	Gen     uint32 // slot generation; records of a stale generation are ignored
	AckTick uint32 // RecInput: newest snapshot tick the client received
	Key     uint64 // RecJoin: player_key from Connect
	Actions [schema.MaxActions]schema.Action
}

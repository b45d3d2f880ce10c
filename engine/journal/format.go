package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"

	"github.com/treasured/treasured/engine"
	"github.com/treasured/treasured/schema"
)

// The byte layout is documented in doc.go; the constants here are its
// numbers. Encoders are append-style (docs/ARCHITECTURE.md "Code conventions"): the caller owns and
// reuses the buffer, so a steady-state tick allocates nothing.

// Magic opens every journal file.
const Magic = "TRSRJRNL"

// Version is the format version this package writes and reads.
const Version uint16 = 3

const (
	configSize = engine.ConfigSize
	// HeaderSize is the size of the file header.
	HeaderSize = 16 + configSize + 4

	// frameHead is size, tick, count, hash; frameOverhead adds the CRC.
	frameHead     = 20
	frameOverhead = frameHead + 4

	// RecordsPerPlayer bounds a frame's record count at MaxPlayers times
	// this. netio admits at most SessionBurst (default 40) datagrams of one
	// session back to back, so one tick brings a player at most that many
	// Inputs plus a Leave and a Join; 64 leaves room for a raised burst
	// without letting a corrupt count ask for gigabytes.
	RecordsPerPlayer = 64
	// MinRecordCap is the record cap of a small world: a few player slots
	// must not make a burst of Joins and Inputs unjournalable, and 64K
	// records (13 MB at most) is no danger to a reader.
	MinRecordCap = 1 << 16

	// MaxFrameSize caps a frame whatever the config: a frame's size field
	// is a uint32, and a tick that needs a gigabyte of journal is a bug.
	MaxFrameSize = 1 << 30

	minRecordSize = 9 // head, player, gen
	actionMaxSize = 4 + 1 + 1 + 8 + 8
	maxRecordSize = minRecordSize + 1 + 4 + 8 + 1 + schema.MaxActions*actionMaxSize
)

// Record head bits.
const (
	recKindMask = 0x03
	recRegion   = 1 << 2
	recAck      = 1 << 3
	recKey      = 1 << 4
	recActions  = 1 << 5
	recReserved = 0xc0
)

// Action flag bits.
const (
	actTarget   = 1 << 0
	actPos      = 1 << 1
	actReserved = 0xfc
)

var (
	le         = binary.LittleEndian
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
)

func checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// maxRecords is the record-count cap of one frame for cfg.
func maxRecords(cfg *engine.Config) int {
	return max(cfg.MaxPlayers*RecordsPerPlayer, MinRecordCap)
}

// maxFrameSize is the frame-size cap for cfg: the count cap at the largest
// record encoding, but never above MaxFrameSize.
func maxFrameSize(cfg *engine.Config) int {
	n := int64(maxRecords(cfg))*maxRecordSize + frameOverhead
	return int(min(n, MaxFrameSize))
}

// Header is what a journal file says about itself.
type Header struct {
	Version uint16
	// StartTick is the tick of the state the first frame applies to: 0 for
	// a fresh engine.New(Config), T for a checkpoint of tick T.
	StartTick uint32
	// Config is the engine configuration of the journaled world.
	Config engine.Config
}

// appendHeader appends the encoded header to dst.
func appendHeader(dst []byte, h *Header) []byte {
	start := len(dst)
	dst = append(dst, Magic...)
	dst = le.AppendUint16(dst, h.Version)
	dst = le.AppendUint16(dst, HeaderSize)
	dst = le.AppendUint32(dst, h.StartTick)
	dst = engine.AppendConfig(dst, &h.Config)
	return le.AppendUint32(dst, checksum(dst[start:]))
}

// ErrHeader is wrapped by every error about the file header: not a journal,
// an unknown version, a bad checksum, an invalid config, a short file.
var ErrHeader = errors.New("journal: bad header")

// parseHeader decodes a HeaderSize-byte header.
func parseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) != HeaderSize {
		return h, fmt.Errorf("%w: %d bytes, want %d", ErrHeader, len(b), HeaderSize)
	}
	if string(b[:8]) != Magic {
		return h, fmt.Errorf("%w: magic %q is not %q (not a journal file)", ErrHeader, b[:8], Magic)
	}
	// The version is checked before the checksum so that a file from a
	// newer writer says so instead of "bad checksum".
	h.Version = le.Uint16(b[8:])
	if h.Version != Version {
		return h, fmt.Errorf("%w: format version %d, this build reads %d", ErrHeader, h.Version, Version)
	}
	if n := le.Uint16(b[10:]); n != HeaderSize {
		return h, fmt.Errorf("%w: header size %d, want %d", ErrHeader, n, HeaderSize)
	}
	if got, want := checksum(b[:HeaderSize-4]), le.Uint32(b[HeaderSize-4:]); got != want {
		return h, fmt.Errorf("%w: checksum %08x, stored %08x", ErrHeader, got, want)
	}
	h.StartTick = le.Uint32(b[12:])
	var err error
	if h.Config, err = engine.ParseConfig(b[16 : 16+configSize]); err != nil {
		return h, fmt.Errorf("%w: %w", ErrHeader, err)
	}
	// The engine's own rule is the only sane bound on the config, and it
	// keeps MaxPlayers (hence the frame caps) within 2^22.
	if err := h.Config.Validate(); err != nil {
		return h, fmt.Errorf("%w: %w", ErrHeader, err)
	}
	return h, nil
}

// errRecord is wrapped by Append's error for a record it cannot store.
var errRecord = errors.New("journal: record cannot be journaled")

// checkRecord reports whether r can be encoded faithfully. The engine drops
// other records before applying anything (they never appear in
// World.LastOrdered), so a journal has no use for them.
func checkRecord(r *engine.Record) bool {
	return r.Kind >= engine.RecLeave && r.Kind <= engine.RecInput && r.N <= schema.MaxActions
}

// appendFrame appends the frame of tick to dst. If recs[i] fails
// checkRecord it returns i and a dst holding a partial frame; else -1.
func appendFrame(dst []byte, tick uint32, recs []engine.Record, hash uint64) ([]byte, int) {
	// One grow for the worst case, so the appends below never reallocate
	// one by one; after the biggest tick so far, never at all.
	start := len(dst)
	dst = slices.Grow(dst, frameOverhead+len(recs)*maxRecordSize)
	dst = dst[:start+frameHead]
	f := dst[start:]
	le.PutUint32(f[4:], tick)
	le.PutUint32(f[8:], uint32(len(recs)))
	le.PutUint64(f[12:], hash)
	for i := range recs {
		if !checkRecord(&recs[i]) {
			return dst, i
		}
		dst = appendRecord(dst, &recs[i])
	}
	le.PutUint32(dst[start:], uint32(len(dst)-start+4))
	return le.AppendUint32(dst, checksum(dst[start:])), -1
}

// appendRecord appends r's encoding to dst. Precondition: checkRecord(r).
func appendRecord(dst []byte, r *engine.Record) []byte {
	head := byte(r.Kind)
	if r.Region != 0 {
		head |= recRegion
	}
	if r.AckTick != 0 {
		head |= recAck
	}
	if r.Key != 0 {
		head |= recKey
	}
	if r.N != 0 {
		head |= recActions
	}
	dst = append(dst, head)
	dst = le.AppendUint32(dst, uint32(r.Player))
	dst = le.AppendUint32(dst, r.Gen)
	if r.Region != 0 {
		dst = append(dst, r.Region)
	}
	if r.AckTick != 0 {
		dst = le.AppendUint32(dst, r.AckTick)
	}
	if r.Key != 0 {
		dst = le.AppendUint64(dst, r.Key)
	}
	if r.N == 0 {
		return dst
	}
	dst = append(dst, r.N)
	for i := range r.N {
		a := &r.Actions[i]
		var fl byte
		if a.Target != 0 {
			fl |= actTarget
		}
		if a.Pos != (schema.Vec2{}) {
			fl |= actPos
		}
		dst = le.AppendUint32(dst, a.Seq)
		dst = append(dst, a.Kind, fl)
		if fl&actTarget != 0 {
			dst = le.AppendUint64(dst, a.Target)
		}
		if fl&actPos != 0 {
			dst = le.AppendUint32(dst, uint32(a.Pos.X))
			dst = le.AppendUint32(dst, uint32(a.Pos.Y))
		}
	}
	return dst
}

// Reasons a checksummed frame still fails to decode. They are sentinels so
// that decoding never allocates; FrameError carries the detail.
var (
	errShortRecord  = errors.New("record runs past the end of the frame")
	errBadHead      = errors.New("record head has an unknown kind or reserved bits")
	errNonCanonical = errors.New("record field flagged present but zero")
	errBadCount     = errors.New("record with more than 8 actions")
	errBadAction    = errors.New("action flags have reserved bits")
)

// decodeRecord decodes one record from the start of b into r and returns
// the bytes it used. Unused actions of r are zeroed, as in LastOrdered.
func decodeRecord(b []byte, r *engine.Record) (int, error) {
	if len(b) < minRecordSize {
		return 0, errShortRecord
	}
	head := b[0]
	kind := engine.RecordKind(head & recKindMask)
	if head&recReserved != 0 || kind < engine.RecLeave {
		return 0, errBadHead
	}
	*r = engine.Record{
		Kind:   kind,
		Player: int32(le.Uint32(b[1:])),
		Gen:    le.Uint32(b[5:]),
	}
	p := minRecordSize
	if head&recRegion != 0 {
		if len(b) < p+1 {
			return 0, errShortRecord
		}
		r.Region = b[p]
		p++
		if r.Region == 0 {
			return 0, errNonCanonical
		}
	}
	if head&recAck != 0 {
		if len(b) < p+4 {
			return 0, errShortRecord
		}
		r.AckTick = le.Uint32(b[p:])
		p += 4
		if r.AckTick == 0 {
			return 0, errNonCanonical
		}
	}
	if head&recKey != 0 {
		var err error
		if r.Key, p, err = nonZero64(b, p); err != nil {
			return 0, err
		}
	}
	if head&recActions == 0 {
		return p, nil
	}
	return decodeActions(b, p, r)
}

// decodeActions decodes the action count at b[p] and the actions after it
// into r, and returns the end of the record.
func decodeActions(b []byte, p int, r *engine.Record) (int, error) {
	if len(b) < p+1 {
		return 0, errShortRecord
	}
	n := b[p]
	p++
	switch {
	case n == 0:
		return 0, errNonCanonical
	case n > schema.MaxActions:
		return 0, errBadCount
	}
	r.N = n
	for i := range n {
		var err error
		if p, err = decodeAction(b, p, &r.Actions[i]); err != nil {
			return 0, err
		}
	}
	return p, nil
}

// nonZero64 reads the optional uint64 field at b[p:] and returns it and
// its end; a present field is never 0 (canonical encoding omits it).
func nonZero64(b []byte, p int) (uint64, int, error) {
	if len(b) < p+8 {
		return 0, 0, errShortRecord
	}
	v := le.Uint64(b[p:])
	if v == 0 {
		return 0, 0, errNonCanonical
	}
	return v, p + 8, nil
}

// decodeAction decodes the action at b[p:] into a and returns its end.
func decodeAction(b []byte, p int, a *schema.Action) (int, error) {
	if len(b) < p+6 {
		return 0, errShortRecord
	}
	a.Seq = le.Uint32(b[p:])
	a.Kind = b[p+4]
	fl := b[p+5]
	p += 6
	if fl&actReserved != 0 {
		return 0, errBadAction
	}
	if fl&actTarget != 0 {
		var err error
		if a.Target, p, err = nonZero64(b, p); err != nil {
			return 0, err
		}
	}
	if fl&actPos != 0 {
		if len(b) < p+8 {
			return 0, errShortRecord
		}
		a.Pos = schema.Vec2{X: int32(le.Uint32(b[p:])), Y: int32(le.Uint32(b[p+4:]))}
		p += 8
		if a.Pos == (schema.Vec2{}) {
			return 0, errNonCanonical
		}
	}
	return p, nil
}

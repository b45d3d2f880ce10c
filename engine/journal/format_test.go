package journal

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/treasured/treasured/engine"
	"github.com/treasured/treasured/schema"
)

// TestHeaderCarriesEveryConfigField: every field of engine.Config gets a
// distinct value and must come back. A field the engine adds later and the
// header forgets fails here, not in a replay that silently builds another
// world.
func TestHeaderCarriesEveryConfigField(t *testing.T) {
	var c engine.Config
	v := reflect.ValueOf(&c).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		n := int64(1000 + 37*i)
		switch f.Kind() {
		case reflect.Int, reflect.Int32, reflect.Int64:
			f.SetInt(-n) // negative: the sign must survive too
		case reflect.Uint32, reflect.Uint64:
			f.SetUint(uint64(n) | 1<<31)
		default:
			t.Fatalf("Config.%s has kind %s: teach engine.AppendConfig and ParseConfig about it", v.Type().Field(i).Name, f.Kind())
		}
	}
	b := appendHeader(nil, &Header{Version: Version, StartTick: 77, Config: c})
	if len(b) != HeaderSize {
		t.Fatalf("header is %d bytes, HeaderSize %d", len(b), HeaderSize)
	}
	got, err := engine.ParseConfig(b[16 : 16+configSize])
	if err != nil || got != c {
		t.Fatalf("config round trip (%v):\n got %+v\nwant %+v", err, got, c)
	}
	// That config is invalid, and a header carrying it is rejected.
	if _, err := parseHeader(b); !errors.Is(err, ErrHeader) || !strings.Contains(err.Error(), "engine:") {
		t.Fatalf("invalid config: %v", err)
	}

	good := testConfig()
	good.NodePool, good.EventPool, good.MaxLoot = 4321, 1234, 17
	h, err := parseHeader(appendHeader(nil, &Header{Version: Version, StartTick: 9, Config: good}))
	if err != nil {
		t.Fatal(err)
	}
	if h != (Header{Version: Version, StartTick: 9, Config: good}) {
		t.Fatalf("header round trip: %+v", h)
	}
}

// TestHeaderErrors: every way a header can be wrong is ErrHeader with a
// message that names the problem.
func TestHeaderErrors(t *testing.T) {
	good := appendHeader(nil, &Header{Version: Version, Config: testConfig()})
	edit := func(f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		return b
	}
	refix := func(b []byte) { le.PutUint32(b[HeaderSize-4:], checksum(b[:HeaderSize-4])) }
	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "file is 0 bytes"},
		{"short", good[:HeaderSize-1], fmt.Sprintf("file is %d bytes", HeaderSize-1)},
		{"magic", edit(func(b []byte) { b[0] = 'X' }), "not a journal file"},
		{"version", edit(func(b []byte) { b[8] = byte(Version + 1); refix(b) }), fmt.Sprintf("format version %d", Version+1)},
		{"size", edit(func(b []byte) { b[10]++; refix(b) }), fmt.Sprintf("header size %d", HeaderSize+1)},
		{"checksum", edit(func(b []byte) { b[20] ^= 1 }), "checksum"},
		{"config", edit(func(b []byte) { le.PutUint64(b[24:], 0); refix(b) }), "Regions 0"},
	} {
		_, err := NewReader(bytes.NewReader(tc.file))
		if !errors.Is(err, ErrHeader) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrHeader containing %q", tc.name, err, tc.want)
		}
	}
	if _, err := NewReader(bytes.NewReader(good)); err != nil {
		t.Fatalf("good header: %v", err)
	}
}

// TestRecordRoundTrip: random records decode to themselves, the encoding is
// canonical (re-encoding gives the same bytes) and never longer than
// maxRecordSize.
func TestRecordRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var buf []byte
	for i := range 20_000 {
		r := randRecord(rng)
		buf = appendRecord(buf[:0], &r)
		if len(buf) > maxRecordSize {
			t.Fatalf("record %d: %d bytes > maxRecordSize %d", i, len(buf), maxRecordSize)
		}
		var got engine.Record
		n, err := decodeRecord(buf, &got)
		if err != nil || n != len(buf) || got != r {
			t.Fatalf("record %d: n=%d/%d err=%v\n got %+v\nwant %+v", i, n, len(buf), err, got, r)
		}
		// Every strict prefix is too short, never mistaken for a record.
		for cut := range len(buf) {
			if _, err := decodeRecord(buf[:cut], &got); err == nil {
				t.Fatalf("record %d: prefix of %d/%d bytes decodes", i, cut, len(buf))
			}
		}
	}
	// The largest record, every field set, is exactly maxRecordSize.
	big := engine.Record{Kind: engine.RecInput, N: schema.MaxActions, Region: 1, Player: 1, Gen: 1, AckTick: 1, Key: 1}
	for i := range big.Actions {
		big.Actions[i] = schema.Action{Seq: 1, Kind: 1, Target: 1, Pos: schema.Vec2{X: 1}}
	}
	if n := len(appendRecord(nil, &big)); n != maxRecordSize {
		t.Fatalf("largest record %d bytes, maxRecordSize %d", n, maxRecordSize)
	}
	// What doc.go promises: a Leave is 9 bytes, an acknowledging Input with
	// one Move 28.
	leave := engine.Record{Kind: engine.RecLeave, Player: 5, Gen: 2}
	move := engine.Record{Kind: engine.RecInput, N: 1, Player: 5, Gen: 2, AckTick: 100}
	move.Actions[0] = schema.Action{Seq: 9, Kind: 1, Pos: schema.Vec2{X: 1, Y: 2}}
	if a, b := len(appendRecord(nil, &leave)), len(appendRecord(nil, &move)); a != 9 || b != 28 {
		t.Fatalf("leave %d bytes, move %d bytes", a, b)
	}
}

// TestRecordRejects: bytes no writer produces are refused, each for its
// reason, so a decoded frame always re-encodes to itself.
func TestRecordRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"kind 0", []byte{0, 0, 0, 0, 0, 0, 0, 0, 0}, errBadHead},
		{"reserved", []byte{1 | 0x40, 0, 0, 0, 0, 0, 0, 0, 0}, errBadHead},
		{"zero region", []byte{2 | recRegion, 0, 0, 0, 0, 0, 0, 0, 0, 0}, errNonCanonical},
		{"zero ack", []byte{3 | recAck, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, errNonCanonical},
		{"zero key", append([]byte{2 | recKey, 0, 0, 0, 0, 0, 0, 0, 0}, make([]byte, 8)...), errNonCanonical},
		{"zero n", []byte{3 | recActions, 0, 0, 0, 0, 0, 0, 0, 0, 0}, errNonCanonical},
		{"n 9", []byte{3 | recActions, 0, 0, 0, 0, 0, 0, 0, 0, 9}, errBadCount},
		{"action flags", []byte{3 | recActions, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 4}, errBadAction},
		{"zero target", append([]byte{3 | recActions, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, actTarget}, make([]byte, 8)...), errNonCanonical},
		{"zero pos", append([]byte{3 | recActions, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, actPos}, make([]byte, 8)...), errNonCanonical},
		{"short action", []byte{3 | recActions, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0}, errShortRecord},
	} {
		var r engine.Record
		if _, err := decodeRecord(tc.b, &r); err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

package schema

import (
	"bytes"
	"encoding/binary"
	"go/ast"
	"go/parser"
	"go/token"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/treasured/treasured/schema/internal/fbs"
	"github.com/treasured/treasured/schema/wire"
)

func parseSchema(t *testing.T) *fbs.Schema {
	t.Helper()
	src, err := os.ReadFile("treasure.fbs")
	if err != nil {
		t.Fatal(err)
	}
	s, err := fbs.Parse("treasure.fbs", string(src))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestVerifierUpToDate fails when treasure.fbs changed and verify_gen.go was
// not regenerated: the verifier cannot silently lag the schema.
func TestVerifierUpToDate(t *testing.T) {
	want, err := fbs.GenerateVerifier(parseSchema(t), "schema", "treasure.fbs")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("verify_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("verify_gen.go is stale: run `go generate ./schema` (make generate) and commit the result")
	}
}

func camel(snake string) string {
	var b strings.Builder
	for _, part := range strings.Split(snake, "_") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

// flatcFacts reads the Go code flatc generated and returns, per "Type.Method",
// the first integer literal of the method body (the vtable offset of a table
// accessor, the byte offset of a struct accessor) and, per struct, the
// (alignment, size) of its CreateX's first builder.Prep call.
func flatcFacts(t *testing.T) (methods map[string]int, prep map[string][2]int) {
	t.Helper()
	methods, prep = map[string]int{}, map[string][2]int{}
	fset := token.NewFileSet()
	files, _ := filepath.Glob("wire/*.go")
	if len(files) == 0 {
		t.Fatal("no wire/*.go")
	}
	intLit := func(e ast.Expr) (int, bool) {
		if l, ok := e.(*ast.BasicLit); ok && l.Kind == token.INT {
			v, err := strconv.Atoi(l.Value)
			return v, err == nil
		}
		return 0, false
	}
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			if fn.Recv == nil {
				if strings.HasPrefix(fn.Name.Name, "Create") {
					ast.Inspect(fn.Body, func(n ast.Node) bool {
						c, ok := n.(*ast.CallExpr)
						if !ok || len(c.Args) != 2 {
							return true
						}
						if sel, ok := c.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Prep" {
							a, ok1 := intLit(c.Args[0])
							s, ok2 := intLit(c.Args[1])
							if _, seen := prep[fn.Name.Name[6:]]; ok1 && ok2 && !seen {
								prep[fn.Name.Name[6:]] = [2]int{a, s}
							}
						}
						return true
					})
				}
				continue
			}
			rt := fn.Recv.List[0].Type
			if star, ok := rt.(*ast.StarExpr); ok {
				rt = star.X
			}
			key := rt.(*ast.Ident).Name + "." + fn.Name.Name
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				if _, seen := methods[key]; seen {
					return false
				}
				if e, ok := n.(ast.Expr); ok {
					if v, ok := intLit(e); ok {
						methods[key] = v
					}
				}
				return true
			})
		}
	}
	return methods, prep
}

// TestLayoutMatchesFlatc ties the generator's view of the schema (vtable
// slots, struct layouts) to what flatc generated: if they ever disagreed,
// the verifier would check bytes the accessors do not read.
func TestLayoutMatchesFlatc(t *testing.T) {
	s := parseSchema(t)
	methods, prep := flatcFacts(t)
	check := func(key string, want int) {
		t.Helper()
		got, ok := methods[key]
		if !ok {
			t.Errorf("flatc generated no %s", key)
		} else if got != want {
			t.Errorf("%s: flatc uses %d, generator %d", key, got, want)
		}
	}
	for _, tab := range s.Tables {
		for _, f := range tab.Fields {
			if f.Type.Kind == fbs.KUnion {
				check(tab.Name+"."+camel(f.Name)+"Type", f.TypeVOffset)
			}
			check(tab.Name+"."+camel(f.Name), f.VOffset)
		}
	}
	records := map[string]struct {
		size int
		typ  reflect.Type
	}{
		"Vec2":        {SizeVec2, reflect.TypeFor[Vec2]()},
		"Cookie":      {SizeCookie, reflect.TypeFor[Cookie]()},
		"Action":      {SizeAction, reflect.TypeFor[Action]()},
		"PlayerState": {SizePlayerState, reflect.TypeFor[PlayerState]()},
		"ChestState":  {SizeChestState, reflect.TypeFor[ChestState]()},
		"LootEvent":   {SizeLootEvent, reflect.TypeFor[LootEvent]()},
	}
	for _, st := range s.Structs {
		for _, f := range st.Fields {
			check(st.Name+"."+camel(f.Name), f.Offset)
		}
		if p := prep[st.Name]; p != [2]int{st.Align, st.Size} {
			t.Errorf("struct %s: flatc Prep(align %d, size %d), generator align %d size %d", st.Name, p[0], p[1], st.Align, st.Size)
		}
		rec, ok := records[st.Name]
		if !ok {
			t.Errorf("struct %s has no Go record and Size constant in records.go", st.Name)
			continue
		}
		if rec.size != st.Size {
			t.Errorf("Size%s = %d, schema says %d", st.Name, rec.size, st.Size)
		}
		if rec.typ.NumField() != len(st.Fields) {
			t.Errorf("record %s has %d fields, schema struct %d", st.Name, rec.typ.NumField(), len(st.Fields))
		}
	}
}

// TestUnionCovered keeps allBodies, fullFrames and Decode in step with the
// schema's union.
func TestUnionCovered(t *testing.T) {
	s := parseSchema(t)
	var body *fbs.Union
	for _, f := range s.RootType.Fields {
		if f.Type.Kind == fbs.KUnion {
			body = f.Type.Union
		}
	}
	if body == nil || len(body.Members) != len(allBodies) {
		t.Fatalf("union has %d members, tests know %d", len(body.Members), len(allBodies))
	}
	for i, m := range body.Members {
		if wire.Body(m.Value) != allBodies[i] || allBodies[i].String() != m.Name {
			t.Errorf("member %s=%d vs %v", m.Name, m.Value, allBodies[i])
		}
	}
}

// tablesIn maps each table of a verified buffer to its position by following
// the schema from the root: unions by their type code, sub-tables by offset.
func tablesIn(s *fbs.Schema, buf []byte) map[*fbs.Table]uint32 {
	out := map[*fbs.Table]uint32{}
	u32 := func(p uint32) uint32 { return binary.LittleEndian.Uint32(buf[p:]) }
	u16 := func(p uint32) uint16 { return binary.LittleEndian.Uint16(buf[p:]) }
	var visit func(t *fbs.Table, pos uint32)
	visit = func(t *fbs.Table, pos uint32) {
		out[t] = pos
		vt := uint32(int64(pos) - int64(int32(u32(pos))))
		vsize := uint32(u16(vt))
		entry := func(vo int) uint32 {
			if uint32(vo) >= vsize {
				return 0
			}
			return uint32(u16(vt + uint32(vo)))
		}
		for _, f := range t.Fields {
			off := entry(f.VOffset)
			if off == 0 {
				continue
			}
			target := pos + off + u32(pos+off)
			switch f.Type.Kind {
			case fbs.KUnion:
				typ := buf[pos+entry(f.TypeVOffset)]
				for _, m := range f.Type.Union.Members {
					if m.Value == int64(typ) {
						visit(m.Table, target)
					}
				}
			case fbs.KTable:
				visit(f.Type.Table, target)
			}
		}
	}
	visit(s.RootType, u32(0))
	return out
}

// TestEveryFieldVerified proves, field by field, that the verifier covers the
// whole schema: for every field of every table it corrupts that one field in
// an otherwise valid message and expects the corruption to be refused. The
// test derives the fields from treasure.fbs, so a new field is tested
// without editing it; fullFrames must set the field (the test says so if it
// does not), which in turn needs an encoder and a frame field for it.
func TestEveryFieldVerified(t *testing.T) {
	s := parseSchema(t)
	e := NewEncoder()
	var d Decoder
	where := map[*fbs.Table][]byte{}
	for _, f := range fullFrames() {
		buf := append([]byte(nil), encodeFrame(e, f)...)
		for tab := range tablesIn(s, buf) {
			if where[tab] == nil {
				where[tab] = buf
			}
		}
	}
	expect := func(what string, buf []byte, want Error) {
		t.Helper()
		if _, err := d.Decode(buf); err != want {
			t.Errorf("%s: got %v, want %v", what, err, want)
		}
	}
	put32 := func(b []byte, p uint32, v uint32) { binary.LittleEndian.PutUint32(b[p:], v) }
	put16 := func(b []byte, p uint32, v uint16) { binary.LittleEndian.PutUint16(b[p:], v) }
	for _, tab := range s.Tables {
		orig := where[tab]
		if orig == nil {
			t.Errorf("table %s appears in no fullFrames message", tab.Name)
			continue
		}
		pos := tablesIn(s, orig)[tab]
		vt := uint32(int64(pos) - int64(int32(binary.LittleEndian.Uint32(orig[pos:]))))
		vsize := uint32(binary.LittleEndian.Uint16(orig[vt:]))
		tsize := binary.LittleEndian.Uint16(orig[vt+2:])
		for _, f := range tab.Fields {
			name := tab.Name + "." + f.Name
			entry := func(vo int) uint32 {
				if uint32(vo) >= vsize {
					return 0
				}
				return uint32(binary.LittleEndian.Uint16(orig[vt+uint32(vo):]))
			}
			off := entry(f.VOffset)
			if off == 0 || (f.Type.Kind == fbs.KUnion && entry(f.TypeVOffset) == 0) {
				t.Errorf("%s is absent from its fullFrames message: give it a non-default value there", name)
				continue
			}
			p := pos + off
			mutate := func(fn func(b []byte)) []byte {
				b := append([]byte(nil), orig...)
				fn(b)
				return b
			}
			// 1. The field's slot is read and bounds-checked: moved to
			// the end of its table, it sticks out.
			expect(name+" past its table", mutate(func(b []byte) { put16(b, vt+uint32(f.VOffset), tsize) }), ErrField)
			expect(name+" over the soffset", mutate(func(b []byte) { put16(b, vt+uint32(f.VOffset), 2) }), ErrField)
			if f.Type.Kind == fbs.KUnion {
				expect(name+"_type past its table", mutate(func(b []byte) { put16(b, vt+uint32(f.TypeVOffset), tsize) }), ErrField)
			}

			// 2. Kind-specific content checks.
			switch ft := f.Type; ft.Kind {
			case fbs.KEnum:
				last := ft.Enum.Values[len(ft.Enum.Values)-1].Value
				if ft.Enum.Under.Size == 1 && last < 255 {
					expect(name+" unknown enum", mutate(func(b []byte) { b[p] = byte(last + 1) }), ErrEnum)
				}
			case fbs.KScalar:
				if ft.Scalar.Bool {
					expect(name+" bool 2", mutate(func(b []byte) { b[p] = 2 }), ErrEnum)
				}
			case fbs.KUnion:
				tp := pos + entry(f.TypeVOffset)
				last := ft.Union.Members[len(ft.Union.Members)-1].Value
				expect(name+" unknown type", mutate(func(b []byte) { b[tp] = byte(last + 1) }), ErrUnion)
				expect(name+" NONE with a value", mutate(func(b []byte) { b[tp] = 0 }), ErrUnion)
				expect(name+" type without value", mutate(func(b []byte) { put16(b, vt+uint32(f.VOffset), 0) }), ErrUnion)
				expect(name+" offset 0", mutate(func(b []byte) { put32(b, p, 0) }), ErrOffset)
				expect(name+" offset past end", mutate(func(b []byte) { put32(b, p, uint32(len(b))) }), ErrOffset)
			case fbs.KTable, fbs.KString:
				expect(name+" offset 0", mutate(func(b []byte) { put32(b, p, 0) }), ErrOffset)
				expect(name+" offset past end", mutate(func(b []byte) { put32(b, p, uint32(len(b))) }), ErrOffset)
			case fbs.KVector:
				vec := p + binary.LittleEndian.Uint32(orig[p:])
				expect(name+" offset 0", mutate(func(b []byte) { put32(b, p, 0) }), ErrOffset)
				expect(name+" offset past end", mutate(func(b []byte) { put32(b, p, uint32(len(b))) }), ErrOffset)
				expect(name+" offset wraps", mutate(func(b []byte) { put32(b, p, ^uint32(0)-p+4) }), ErrOffset)
				expect(name+" huge length", mutate(func(b []byte) { put32(b, vec, ^uint32(0)) }), ErrVector)
				n := binary.LittleEndian.Uint32(orig[vec:])
				size := uint32(ft.Elem.Size())
				left := uint32(len(orig)) - vec - 4
				expect(name+" length one past the end", mutate(func(b []byte) { put32(b, vec, left/size+1) }), ErrVector)
				if n == 0 {
					t.Errorf("%s is empty in its fullFrames message", name)
				}
				if ft.Elem.Kind == fbs.KStruct {
					// Every checked value in the last element.
					last := vec + 4 + (n-1)*size
					for _, sf := range ft.Elem.Struct.Fields {
						if sf.Type.Kind == fbs.KEnum && sf.Type.Enum.Under.Size == 1 {
							bad := byte(sf.Type.Enum.Values[len(sf.Type.Enum.Values)-1].Value + 1)
							expect(name+"[last]."+sf.Name+" unknown enum", mutate(func(b []byte) { b[last+uint32(sf.Offset)] = bad }), ErrEnum)
						}
					}
				}
			case fbs.KStruct:
				for _, sf := range ft.Struct.Fields {
					if sf.Type.Kind == fbs.KEnum && sf.Type.Enum.Under.Size == 1 {
						bad := byte(sf.Type.Enum.Values[len(sf.Type.Enum.Values)-1].Value + 1)
						expect(name+"."+sf.Name+" unknown enum", mutate(func(b []byte) { b[p+uint32(sf.Offset)] = bad }), ErrEnum)
					}
				}
			}
		}
		// The table header itself.
		expect(tab.Name+" vtable size odd", mutate(orig, func(b []byte) { put16(b, vt, uint16(vsize)+1) }), ErrVTable)
		expect(tab.Name+" vtable size < 4", mutate(orig, func(b []byte) { put16(b, vt, 2) }), ErrVTable)
		expect(tab.Name+" inline size past end", mutate(orig, func(b []byte) { put16(b, vt+2, uint16(len(b))) }), ErrTable)
		expect(tab.Name+" soffset before buffer", mutate(orig, func(b []byte) { put32(b, pos, pos+2) }), ErrVTable)
		expect(tab.Name+" soffset past end", mutate(orig, func(b []byte) { put32(b, pos, uint32(-int32(len(b)))) }), ErrVTable)
		expect(tab.Name+" soffset odd", mutate(orig, func(b []byte) { put32(b, pos, pos-vt+1) }), ErrAlign)
	}
}

func mutate(orig []byte, fn func(b []byte)) []byte {
	b := append([]byte(nil), orig...)
	fn(b)
	return b
}

func TestHeaderChecks(t *testing.T) {
	e := NewEncoder()
	var d Decoder
	orig := append([]byte(nil), e.Pong(&PongFrame{T: 1, ServerTick: 2})...)
	root := binary.LittleEndian.Uint32(orig)
	for _, c := range []struct {
		what string
		buf  []byte
		want Error
	}{
		{"empty", nil, ErrTooShort},
		{"7 bytes", orig[:7], ErrTooShort},
		{"header only", orig[:8], ErrRoot},
		{"root 0", mutate(orig, func(b []byte) { binary.LittleEndian.PutUint32(b, 0) }), ErrRoot},
		{"root 4", mutate(orig, func(b []byte) { binary.LittleEndian.PutUint32(b, 4) }), ErrRoot},
		{"root odd", mutate(orig, func(b []byte) { binary.LittleEndian.PutUint32(b, root+1) }), ErrRoot},
		{"root past end", mutate(orig, func(b []byte) { binary.LittleEndian.PutUint32(b, uint32(len(b))) }), ErrRoot},
		{"root huge", mutate(orig, func(b []byte) { binary.LittleEndian.PutUint32(b, ^uint32(0)&^3) }), ErrRoot},
		{"root at last word", mutate(orig, func(b []byte) { binary.LittleEndian.PutUint32(b, uint32(len(b)-4)) }), ErrVTable},
	} {
		if _, err := d.Decode(c.buf); err != c.want {
			t.Errorf("%s: got %v want %v", c.what, err, c.want)
		}
	}
}

// The runtime primitives for constructs treasure.fbs does not use today
// (strings, sub-tables, deep nesting) are tested directly, with buffers
// built by the flatbuffers builder.

func TestVerifierStrings(t *testing.T) {
	b := flatbuffers.NewBuilder(0)
	str := b.CreateString("loot")
	b.StartObject(1)
	b.PrependUOffsetTSlot(0, str, 0)
	b.Finish(b.EndObject())
	buf := b.FinishedBytes()
	root := binary.LittleEndian.Uint32(buf)
	run := func(buf []byte) Error {
		v := verifier{buf: buf}
		tab, err := v.table(root, 1)
		if err != 0 {
			return err
		}
		return v.str(&tab, 4)
	}
	if err := run(buf); err != 0 {
		t.Fatalf("valid string: %v", err)
	}
	// Find the string's bytes and break the terminator, then the length.
	at := uint32(bytes.Index(buf, []byte("loot")))
	if err := run(mutate(buf, func(b []byte) { b[at+4] = 'x' })); err != ErrString {
		t.Fatalf("no NUL: %v", err)
	}
	if err := run(mutate(buf, func(b []byte) { binary.LittleEndian.PutUint32(b[at-4:], uint32(len(b))-at) })); err != ErrString {
		t.Fatalf("NUL past end: %v", err)
	}
	if err := run(mutate(buf, func(b []byte) { binary.LittleEndian.PutUint32(b[at-4:], uint32(len(b))) })); err != ErrVector {
		t.Fatalf("length past end: %v", err)
	}
	// An absent string is fine.
	v := verifier{buf: buf}
	tab, _ := v.table(root, 1)
	if err := v.str(&tab, 6); err != 0 {
		t.Fatalf("absent: %v", err)
	}
}

func TestVerifierSubTableAndDepth(t *testing.T) {
	b := flatbuffers.NewBuilder(0)
	b.StartObject(1)
	b.PrependUint32Slot(0, 7, 0)
	inner := b.EndObject()
	b.StartObject(1)
	b.PrependUOffsetTSlot(0, inner, 0)
	b.Finish(b.EndObject())
	buf := b.FinishedBytes()
	root := binary.LittleEndian.Uint32(buf)
	v := verifier{buf: buf}
	tab, err := v.table(root, 1)
	if err != 0 {
		t.Fatal(err)
	}
	sub, err := v.tableField(&tab, 4)
	if err != 0 || sub == 0 {
		t.Fatalf("tableField: %d %v", sub, err)
	}
	st, err := v.table(sub, 2)
	if err != 0 {
		t.Fatal(err)
	}
	if p, err := v.field(&st, 4, 4, 4); err != 0 || binary.LittleEndian.Uint32(buf[p:]) != 7 {
		t.Fatalf("inner field: %v", err)
	}
	if _, err := v.table(sub, maxDepth+1); err != ErrDepth {
		t.Fatalf("depth: %v", err)
	}
	if _, err := v.table(sub, maxDepth); err != 0 {
		t.Fatalf("depth at the limit: %v", err)
	}
	// A vtable after its table (positive soffset pointing backwards is
	// the usual case; a negative one puts the vtable after) is legal.
	fwd := []byte{
		8, 0, 0, 0, 'T', 'R', 'S', 'R', // root -> 8
		0xf8, 0xff, 0xff, 0xff, // soffset -8: vtable at 16
		9, 0, 0, 0, // field 0 (uint32)
		6, 0, 8, 0, 4, 0, // vtable: size 6, table 8, field at +4
	}
	v = verifier{buf: fwd}
	tab, err = v.table(8, 1)
	if err != 0 {
		t.Fatalf("forward vtable: %v", err)
	}
	if p, err := v.field(&tab, 4, 4, 4); err != 0 || p != 12 {
		t.Fatalf("forward vtable field: %d %v", p, err)
	}
	if p, err := v.field(&tab, 6, 4, 4); err != 0 || p != 0 {
		t.Fatalf("entry beyond the vtable must read as absent: %d %v", p, err)
	}
	if _, err := v.table(9, 1); err != ErrAlign {
		t.Fatalf("misaligned table: %v", err)
	}
}

// TestVerifierReads: the little-endian readers generated enum checks use
// (u64 only by 8-byte enums, which treasure.fbs has none of).
func TestVerifierReads(t *testing.T) {
	v := verifier{buf: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9}}
	if v.u16(1) != 0x0302 || v.u32(1) != 0x05040302 || v.u64(1) != 0x0908070605040302 {
		t.Fatalf("%#x %#x %#x", v.u16(1), v.u32(1), v.u64(1))
	}
}

// TestPlaceMatchesCreate: the place* element writers produce exactly the
// bytes of flatc's CreateX, padding included.
func TestPlaceMatchesCreate(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 8))
	for range 200 {
		a := Action{Seq: r.Uint32(), Kind: uint8(r.Uint32()), Target: r.Uint64(), Pos: randVec(r)}
		p := randPlayer(r)
		c := ChestState{ID: r.Uint32(), Status: uint8(r.Uint32()), Generation: r.Uint32(), LootID: r.Uint64(), OpenedBy: r.Uint32(), Pos: randVec(r), ChangedTick: r.Uint32()}
		ev := LootEvent{LootID: r.Uint64(), Kind: uint8(r.Uint32()), Item: uint16(r.Uint32()), Qty: uint16(r.Uint32()), Chest: r.Uint32(), Player: r.Uint32(), Tick: r.Uint32(), Pos: randVec(r)}
		for _, c := range []struct {
			name          string
			size, align   int
			create, place func(b *flatbuffers.Builder)
		}{
			{"Action", SizeAction, 8,
				func(b *flatbuffers.Builder) {
					wire.CreateAction(b, a.Seq, wire.ActionKind(a.Kind), a.Target, a.Pos.X, a.Pos.Y)
				},
				func(b *flatbuffers.Builder) { placeAction(b, &a) }},
			{"PlayerState", SizePlayerState, 4,
				func(b *flatbuffers.Builder) {
					wire.CreatePlayerState(b, p.ID, p.Pos.X, p.Pos.Y, p.Zone, p.Items, p.ChangedTick)
				},
				func(b *flatbuffers.Builder) { placePlayerState(b, &p) }},
			{"ChestState", SizeChestState, 8,
				func(b *flatbuffers.Builder) {
					wire.CreateChestState(b, c.ID, wire.ChestStatus(c.Status), c.Generation, c.LootID, c.OpenedBy, c.Pos.X, c.Pos.Y, c.ChangedTick)
				},
				func(b *flatbuffers.Builder) { placeChestState(b, &c) }},
			{"LootEvent", SizeLootEvent, 8,
				func(b *flatbuffers.Builder) {
					wire.CreateLootEvent(b, ev.LootID, wire.LootEventKind(ev.Kind), ev.Item, ev.Qty, ev.Chest, ev.Player, ev.Tick, ev.Pos.X, ev.Pos.Y)
				},
				func(b *flatbuffers.Builder) { placeLootEvent(b, &ev) }},
		} {
			// Dirty builders: padding must be written, not inherited.
			b1, b2 := flatbuffers.NewBuilder(64), flatbuffers.NewBuilder(64)
			for i := range b1.Bytes {
				b1.Bytes[i], b2.Bytes[i] = 0xee, 0xee
			}
			c.create(b1)
			b2.Prep(c.align, c.size)
			c.place(b2)
			x, y := b1.Bytes[b1.Head():], b2.Bytes[b2.Head():]
			if len(x) != c.size || !bytes.Equal(x, y) {
				t.Fatalf("%s:\ncreate % x\n place % x", c.name, x, y)
			}
		}
	}
}

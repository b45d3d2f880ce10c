// Package fbs parses the subset of the FlatBuffers schema language that
// treasure.fbs uses and generates the Go verifier of package schema from it.
//
// The subset is deliberately small: namespace, file_identifier, root_type,
// enums with an integer underlying type, unions of tables, structs of scalars,
// enums and structs, and tables whose fields are scalars, enums, structs,
// strings, tables, unions and vectors of scalars, enums or structs. Anything
// else (attributes, include, fixed arrays, vectors of tables, strings or
// unions, rpc_service...) is an error rather than being skipped: a construct
// the verifier generator does not understand must never reach the wire
// unverified.
package fbs

import (
	"fmt"
	"strconv"
	"strings"
)

// Kind is the shape of a type as the binary format stores it.
type Kind int

// Type kinds.
const (
	KScalar Kind = iota + 1
	KEnum
	KStruct
	KTable
	KUnion
	KString
	KVector
)

// Scalar is a FlatBuffers scalar type. Size is also its alignment.
type Scalar struct {
	Name   string // canonical schema name: ubyte, int, ulong...
	GoType string // Go type the verifier reads it as
	Size   int
	Signed bool
	Float  bool
	Bool   bool
}

var scalars = map[string]*Scalar{}

func init() {
	for _, s := range []*Scalar{
		{Name: "bool", GoType: "uint8", Size: 1, Bool: true},
		{Name: "byte", GoType: "int8", Size: 1, Signed: true},
		{Name: "ubyte", GoType: "uint8", Size: 1},
		{Name: "short", GoType: "int16", Size: 2, Signed: true},
		{Name: "ushort", GoType: "uint16", Size: 2},
		{Name: "int", GoType: "int32", Size: 4, Signed: true},
		{Name: "uint", GoType: "uint32", Size: 4},
		{Name: "long", GoType: "int64", Size: 8, Signed: true},
		{Name: "ulong", GoType: "uint64", Size: 8},
		{Name: "float", GoType: "float32", Size: 4, Signed: true, Float: true},
		{Name: "double", GoType: "float64", Size: 8, Signed: true, Float: true},
	} {
		scalars[s.Name] = s
	}
	// Sized aliases the grammar also accepts.
	for alias, name := range map[string]string{
		"int8": "byte", "uint8": "ubyte", "int16": "short", "uint16": "ushort",
		"int32": "int", "uint32": "uint", "int64": "long", "uint64": "ulong",
		"float32": "float", "float64": "double",
	} {
		scalars[alias] = scalars[name]
	}
}

// Type is a resolved field type.
type Type struct {
	Kind   Kind
	Scalar *Scalar // KScalar
	Enum   *Enum   // KEnum
	Struct *Struct // KStruct
	Table  *Table  // KTable
	Union  *Union  // KUnion
	Elem   *Type   // KVector

	name string // unresolved name while parsing
}

// Size and Align give the inline size and alignment of a value of t inside a
// table or struct: offsets (tables, strings, vectors) are a 4-byte uoffset_t.
func (t *Type) Size() int {
	switch t.Kind {
	case KScalar:
		return t.Scalar.Size
	case KEnum:
		return t.Enum.Under.Size
	case KStruct:
		return t.Struct.Size
	default:
		return 4
	}
}

// Align is the alignment of t's inline value.
func (t *Type) Align() int {
	if t.Kind == KStruct {
		return t.Struct.Align
	}
	return t.Size()
}

func (t *Type) String() string {
	switch t.Kind {
	case KScalar:
		return t.Scalar.Name
	case KEnum:
		return t.Enum.Name
	case KStruct:
		return t.Struct.Name
	case KTable:
		return t.Table.Name
	case KUnion:
		return t.Union.Name
	case KString:
		return "string"
	case KVector:
		return "[" + t.Elem.String() + "]"
	}
	return t.name
}

// Enum is an enum with an integer underlying type.
type Enum struct {
	Name   string
	Under  *Scalar
	Values []EnumVal
}

// EnumVal is one named value.
type EnumVal struct {
	Name  string
	Value int64
}

// Union is a union of tables; member i has type code Members[i].Value, and 0
// is the implicit NONE.
type Union struct {
	Name    string
	Members []UnionMember
}

// UnionMember is one table of a union.
type UnionMember struct {
	Name  string
	Value int64
	Table *Table
}

// Struct is a fixed-size record stored inline.
type Struct struct {
	Name   string
	Fields []StructField
	Size   int
	Align  int
}

// StructField is a field of a struct with its byte offset in the struct.
type StructField struct {
	Name   string
	Type   *Type
	Offset int
}

// Table is a table; each field has a vtable slot.
type Table struct {
	Name   string
	Fields []Field
}

// Field is a table field. VOffset is its byte offset in the vtable
// (4 + 2*slot, as flatc assigns them in declaration order). A union field
// occupies two slots: the hidden <name>_type ubyte at TypeVOffset and the
// value offset at VOffset = TypeVOffset+2.
type Field struct {
	Name        string
	Type        *Type
	VOffset     int
	TypeVOffset int // unions only
}

// Schema is a parsed, resolved schema.
type Schema struct {
	Namespace      string
	FileIdentifier string
	RootType       *Table
	Enums          []*Enum
	Unions         []*Union
	Structs        []*Struct
	Tables         []*Table
}

// Parse parses and resolves a schema in the supported subset.
// Errors name the file as filename:line.
func Parse(filename, src string) (*Schema, error) {
	p := &parser{lex: lexer{file: filename, src: src, line: 1}}
	if err := p.parse(); err != nil {
		return nil, err
	}
	return p.resolve()
}

type parser struct {
	lex      lexer
	s        Schema
	rootName string
	rootLine int
	names    map[string]any
}

type token struct {
	kind byte // 'i' identifier, 'n' number, 's' string, or the punctuation byte; 0 at EOF
	text string
	line int
}

type lexer struct {
	file string
	src  string
	pos  int
	line int
	peek *token
}

func (l *lexer) errorf(line int, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", l.file, line, fmt.Sprintf(format, args...))
}

func (l *lexer) next() (token, error) {
	if l.peek != nil {
		t := *l.peek
		l.peek = nil
		return t, nil
	}
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == '\n':
			l.line++
			l.pos++
		case c == ' ' || c == '\t' || c == '\r':
			l.pos++
		case strings.HasPrefix(l.src[l.pos:], "//"):
			for l.pos < len(l.src) && l.src[l.pos] != '\n' {
				l.pos++
			}
		case strings.HasPrefix(l.src[l.pos:], "/*"):
			end := strings.Index(l.src[l.pos+2:], "*/")
			if end < 0 {
				return token{}, l.errorf(l.line, "unterminated comment")
			}
			l.line += strings.Count(l.src[l.pos:l.pos+2+end], "\n")
			l.pos += 2 + end + 2
		case isIdentStart(c):
			start := l.pos
			for l.pos < len(l.src) && (isIdentStart(l.src[l.pos]) || isDigit(l.src[l.pos]) || l.src[l.pos] == '.') {
				l.pos++
			}
			return token{kind: 'i', text: l.src[start:l.pos], line: l.line}, nil
		case isDigit(c) || c == '-' || c == '+':
			start := l.pos
			l.pos++
			for l.pos < len(l.src) && (isDigit(l.src[l.pos]) || isIdentStart(l.src[l.pos]) || l.src[l.pos] == '.') {
				l.pos++
			}
			return token{kind: 'n', text: l.src[start:l.pos], line: l.line}, nil
		case c == '"':
			end := strings.IndexAny(l.src[l.pos+1:], "\"\n")
			if end < 0 || l.src[l.pos+1+end] != '"' {
				return token{}, l.errorf(l.line, "unterminated string")
			}
			t := token{kind: 's', text: l.src[l.pos+1 : l.pos+1+end], line: l.line}
			l.pos += end + 2
			return t, nil
		case strings.IndexByte("{}[]():;=,", c) >= 0:
			l.pos++
			return token{kind: c, text: string(c), line: l.line}, nil
		default:
			return token{}, l.errorf(l.line, "unexpected character %q", c)
		}
	}
	return token{line: l.line}, nil
}

func (l *lexer) unread(t token) { l.peek = &t }

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (p *parser) expect(kind byte) (token, error) {
	t, err := p.lex.next()
	if err != nil {
		return t, err
	}
	if t.kind != kind {
		want := string(kind)
		switch kind {
		case 'i':
			want = "identifier"
		case 'n':
			want = "number"
		case 's':
			want = "string"
		}
		return t, p.lex.errorf(t.line, "expected %s, found %q", want, t.text)
	}
	return t, nil
}

// unsupported rejects attribute lists: flatc attributes (id, deprecated,
// required, bit_flags, force_align, nested_flatbuffer...) change layout or
// verification rules, so each must be taught to the generator before use.
func (p *parser) unsupportedAttributes() error {
	t, err := p.lex.next()
	if err != nil {
		return err
	}
	if t.kind == '(' {
		return p.lex.errorf(t.line, "attributes are not supported by the verifier generator; extend schema/internal/fbs first")
	}
	p.lex.unread(t)
	return nil
}

func (p *parser) declare(name string, line int, v any) error {
	if p.names == nil {
		p.names = map[string]any{}
	}
	if _, dup := p.names[name]; dup {
		return p.lex.errorf(line, "%s declared twice", name)
	}
	if scalars[name] != nil || name == "string" {
		return p.lex.errorf(line, "%s is a built-in type name", name)
	}
	p.names[name] = v
	return nil
}

func (p *parser) parse() error {
	for {
		t, err := p.lex.next()
		if err != nil {
			return err
		}
		if t.kind == 0 {
			return nil
		}
		if t.kind != 'i' {
			return p.lex.errorf(t.line, "expected a declaration, found %q", t.text)
		}
		switch t.text {
		case "namespace":
			n, err := p.expect('i')
			if err != nil {
				return err
			}
			p.s.Namespace = n.text
			if _, err := p.expect(';'); err != nil {
				return err
			}
		case "file_identifier":
			s, err := p.expect('s')
			if err != nil {
				return err
			}
			if len(s.text) != 4 {
				return p.lex.errorf(s.line, "file_identifier must be exactly 4 bytes")
			}
			p.s.FileIdentifier = s.text
			if _, err := p.expect(';'); err != nil {
				return err
			}
		case "root_type":
			n, err := p.expect('i')
			if err != nil {
				return err
			}
			p.rootName, p.rootLine = n.text, n.line
			if _, err := p.expect(';'); err != nil {
				return err
			}
		case "enum":
			if err := p.parseEnum(); err != nil {
				return err
			}
		case "union":
			if err := p.parseUnion(); err != nil {
				return err
			}
		case "struct":
			if err := p.parseStruct(); err != nil {
				return err
			}
		case "table":
			if err := p.parseTable(); err != nil {
				return err
			}
		default:
			return p.lex.errorf(t.line, "%q is not supported by the verifier generator", t.text)
		}
	}
}

func parseInt(t token) (int64, error) {
	v, err := strconv.ParseInt(t.text, 0, 64)
	if err != nil {
		return 0, fmt.Errorf("line %d: bad integer %q", t.line, t.text)
	}
	return v, nil
}

func (p *parser) parseEnum() error {
	n, err := p.expect('i')
	if err != nil {
		return err
	}
	e := &Enum{Name: n.text}
	if err := p.declare(e.Name, n.line, e); err != nil {
		return err
	}
	if _, err := p.expect(':'); err != nil {
		return err
	}
	u, err := p.expect('i')
	if err != nil {
		return err
	}
	e.Under = scalars[u.text]
	if e.Under == nil || e.Under.Float || e.Under.Bool {
		return p.lex.errorf(u.line, "enum %s: underlying type must be an integer type", e.Name)
	}
	if err := p.unsupportedAttributes(); err != nil {
		return err
	}
	next := int64(0)
	seen := map[string]bool{}
	err = p.braceList("enum "+e.Name, "a value name", func(t token) (token, error) {
		if seen[t.text] {
			return t, p.lex.errorf(t.line, "enum %s: %s declared twice", e.Name, t.text)
		}
		seen[t.text] = true
		sep, err := p.parseEnumValue(e, t, next)
		if err == nil {
			next = e.Values[len(e.Values)-1].Value + 1
		}
		return sep, err
	})
	if err != nil {
		return err
	}
	if len(e.Values) == 0 {
		return p.lex.errorf(n.line, "enum %s has no values", e.Name)
	}
	p.s.Enums = append(p.s.Enums, e)
	return nil
}

// parseEnumValue appends to e the value named by name, next unless "= N"
// follows, and returns the token after it.
func (p *parser) parseEnumValue(e *Enum, name token, next int64) (token, error) {
	v := EnumVal{Name: name.text, Value: next}
	sep, err := p.lex.next()
	if err != nil {
		return sep, err
	}
	if sep.kind == '=' {
		num, err := p.expect('n')
		if err != nil {
			return sep, err
		}
		if v.Value, err = parseInt(num); err != nil {
			return sep, err
		}
		if len(e.Values) > 0 && v.Value <= e.Values[len(e.Values)-1].Value {
			// flatc requires ascending values; so do we, which keeps
			// the range check in the generated code simple.
			return sep, p.lex.errorf(num.line, "enum %s: values must be ascending", e.Name)
		}
		if sep, err = p.lex.next(); err != nil {
			return sep, err
		}
	}
	if !fits(v.Value, e.Under) {
		return sep, p.lex.errorf(name.line, "enum %s: %s = %d does not fit %s", e.Name, v.Name, v.Value, e.Under.Name)
	}
	e.Values = append(e.Values, v)
	return sep, nil
}

func fits(v int64, s *Scalar) bool {
	bits := uint(s.Size * 8)
	if s.Signed {
		return bits == 64 || (v >= -(1<<(bits-1)) && v < 1<<(bits-1))
	}
	return v >= 0 && (bits == 64 || v < 1<<bits)
}

func (p *parser) parseUnion() error {
	n, err := p.expect('i')
	if err != nil {
		return err
	}
	u := &Union{Name: n.text}
	if err := p.declare(u.Name, n.line, u); err != nil {
		return err
	}
	if err := p.unsupportedAttributes(); err != nil {
		return err
	}
	next := int64(1) // 0 is NONE
	err = p.braceList("union "+u.Name, "a table name", func(t token) (token, error) {
		m, sep, err := p.parseUnionMember(u, t, next)
		if err == nil {
			u.Members = append(u.Members, m)
			next = m.Value + 1
		}
		return sep, err
	})
	if err != nil {
		return err
	}
	if len(u.Members) == 0 {
		return p.lex.errorf(n.line, "union %s has no members", u.Name)
	}
	p.s.Unions = append(p.s.Unions, u)
	return nil
}

// parseUnionMember reads the member named by name, next unless "= N"
// follows, and returns it with the token after it.
func (p *parser) parseUnionMember(u *Union, name token, next int64) (UnionMember, token, error) {
	m := UnionMember{Name: name.text, Value: next}
	sep, err := p.lex.next()
	if err != nil {
		return m, sep, err
	}
	switch sep.kind {
	case ':':
		return m, sep, p.lex.errorf(sep.line, "union %s: aliased members are not supported", u.Name)
	case '=':
		num, err := p.expect('n')
		if err != nil {
			return m, sep, err
		}
		if m.Value, err = parseInt(num); err != nil {
			return m, sep, err
		}
		if sep, err = p.lex.next(); err != nil {
			return m, sep, err
		}
	}
	if m.Value < 1 || m.Value > 255 || (len(u.Members) > 0 && m.Value <= u.Members[len(u.Members)-1].Value) {
		return m, sep, p.lex.errorf(name.line, "union %s: member values must ascend within 1..255", u.Name)
	}
	return m, sep, nil
}

// braceList reads "{ entry, entry, ... }" (a trailing comma allowed, an
// empty list too): item parses one entry from its name token on and
// returns the token after it. what names the declaration in errors
// ("enum Color"), entry the name expected ("a value name").
func (p *parser) braceList(what, entry string, item func(name token) (token, error)) error {
	if _, err := p.expect('{'); err != nil {
		return err
	}
	for {
		t, err := p.lex.next()
		if err != nil {
			return err
		}
		if t.kind == '}' {
			return nil
		}
		if t.kind != 'i' {
			return p.lex.errorf(t.line, "%s: expected %s, found %q", what, entry, t.text)
		}
		sep, err := item(t)
		if err != nil {
			return err
		}
		if sep.kind == '}' {
			return nil
		}
		if sep.kind != ',' {
			return p.lex.errorf(sep.line, "%s: expected , or }", what)
		}
	}
}

// parseFields reads `name: type [= default];` lines up to the closing brace.
// Defaults are read and dropped: the verifier does not care what an absent
// field means.
func (p *parser) parseFields(owner string, allowDefault bool) ([]StructField, error) {
	if err := p.unsupportedAttributes(); err != nil {
		return nil, err
	}
	if _, err := p.expect('{'); err != nil {
		return nil, err
	}
	var fields []StructField
	seen := map[string]bool{}
	for {
		t, err := p.lex.next()
		if err != nil {
			return nil, err
		}
		if t.kind == '}' {
			return fields, nil
		}
		if t.kind != 'i' {
			return nil, p.lex.errorf(t.line, "%s: expected a field name, found %q", owner, t.text)
		}
		if seen[t.text] {
			return nil, p.lex.errorf(t.line, "%s: field %s declared twice", owner, t.text)
		}
		seen[t.text] = true
		if _, err := p.expect(':'); err != nil {
			return nil, err
		}
		typ, err := p.parseType()
		if err != nil {
			return nil, err
		}
		sep, err := p.lex.next()
		if err != nil {
			return nil, err
		}
		if sep.kind == '=' {
			if !allowDefault {
				return nil, p.lex.errorf(sep.line, "%s: struct fields cannot have defaults", owner)
			}
			v, err := p.lex.next()
			if err != nil {
				return nil, err
			}
			if v.kind != 'n' && v.kind != 'i' {
				return nil, p.lex.errorf(v.line, "%s.%s: bad default %q", owner, t.text, v.text)
			}
			if sep, err = p.lex.next(); err != nil {
				return nil, err
			}
		}
		if sep.kind == '(' {
			return nil, p.lex.errorf(sep.line, "%s.%s: attributes are not supported by the verifier generator; extend schema/internal/fbs first", owner, t.text)
		}
		if sep.kind != ';' {
			return nil, p.lex.errorf(sep.line, "%s.%s: expected ;", owner, t.text)
		}
		fields = append(fields, StructField{Name: t.text, Type: typ})
	}
}

func (p *parser) parseType() (*Type, error) {
	t, err := p.lex.next()
	if err != nil {
		return nil, err
	}
	if t.kind == '[' {
		elem, err := p.parseType()
		if err != nil {
			return nil, err
		}
		end, err := p.lex.next()
		if err != nil {
			return nil, err
		}
		if end.kind == ':' {
			return nil, p.lex.errorf(end.line, "fixed-length arrays are not supported")
		}
		if end.kind != ']' {
			return nil, p.lex.errorf(end.line, "expected ]")
		}
		if elem.Kind == KVector {
			return nil, p.lex.errorf(end.line, "nested vectors are not valid FlatBuffers")
		}
		return &Type{Kind: KVector, Elem: elem}, nil
	}
	if t.kind != 'i' {
		return nil, p.lex.errorf(t.line, "expected a type, found %q", t.text)
	}
	if s := scalars[t.text]; s != nil {
		return &Type{Kind: KScalar, Scalar: s}, nil
	}
	if t.text == "string" {
		return &Type{Kind: KString}, nil
	}
	return &Type{name: t.text}, nil // resolved later: types may be used before they are declared
}

func (p *parser) parseStruct() error {
	n, err := p.expect('i')
	if err != nil {
		return err
	}
	s := &Struct{Name: n.text}
	if err := p.declare(s.Name, n.line, s); err != nil {
		return err
	}
	if s.Fields, err = p.parseFields(s.Name, false); err != nil {
		return err
	}
	if len(s.Fields) == 0 {
		return p.lex.errorf(n.line, "struct %s has no fields", s.Name)
	}
	p.s.Structs = append(p.s.Structs, s)
	return nil
}

func (p *parser) parseTable() error {
	n, err := p.expect('i')
	if err != nil {
		return err
	}
	t := &Table{Name: n.text}
	if err := p.declare(t.Name, n.line, t); err != nil {
		return err
	}
	fs, err := p.parseFields(t.Name, true)
	if err != nil {
		return err
	}
	for _, f := range fs {
		t.Fields = append(t.Fields, Field{Name: f.Name, Type: f.Type})
	}
	p.s.Tables = append(p.s.Tables, t)
	return nil
}

func (p *parser) lookup(t *Type) error {
	switch t.Kind {
	case KVector:
		return p.lookup(t.Elem)
	case 0:
	default:
		return nil
	}
	switch d := p.names[t.name].(type) {
	case *Enum:
		t.Kind, t.Enum = KEnum, d
	case *Struct:
		t.Kind, t.Struct = KStruct, d
	case *Table:
		t.Kind, t.Table = KTable, d
	case *Union:
		t.Kind, t.Union = KUnion, d
	default:
		return fmt.Errorf("%s: unknown type %s", p.lex.file, t.name)
	}
	return nil
}

func (p *parser) resolve() (*Schema, error) {
	s := &p.s
	for _, u := range s.Unions {
		for i := range u.Members {
			tab, ok := p.names[u.Members[i].Name].(*Table)
			if !ok {
				return nil, fmt.Errorf("%s: union %s: %s is not a table", p.lex.file, u.Name, u.Members[i].Name)
			}
			u.Members[i].Table = tab
		}
	}
	for _, st := range s.Structs {
		for i := range st.Fields {
			if err := p.lookup(st.Fields[i].Type); err != nil {
				return nil, err
			}
		}
	}
	// Struct layout needs the layout of nested structs first; a struct
	// cannot contain itself, so a depth-first walk with a cycle guard works.
	state := map[*Struct]int{}
	for _, st := range s.Structs {
		if err := p.layout(st, state); err != nil {
			return nil, err
		}
	}
	for _, t := range s.Tables {
		if err := p.numberFields(t); err != nil {
			return nil, err
		}
	}
	if p.rootName == "" {
		return nil, fmt.Errorf("%s: no root_type", p.lex.file)
	}
	root, ok := p.names[p.rootName].(*Table)
	if !ok {
		return nil, fmt.Errorf("%s:%d: root_type %s is not a table", p.lex.file, p.rootLine, p.rootName)
	}
	s.RootType = root
	return s, nil
}

// layout sets the field offsets, size and alignment of st after those of
// the structs it holds; state marks the structs in progress (1) and done
// (2).
func (p *parser) layout(st *Struct, state map[*Struct]int) error {
	switch state[st] {
	case 1:
		return fmt.Errorf("%s: struct %s contains itself", p.lex.file, st.Name)
	case 2:
		return nil
	}
	state[st] = 1
	off, align := 0, 1
	for i := range st.Fields {
		f := &st.Fields[i]
		switch f.Type.Kind {
		case KScalar, KEnum:
		case KStruct:
			if err := p.layout(f.Type.Struct, state); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: struct %s.%s: a struct holds only scalars, enums and structs", p.lex.file, st.Name, f.Name)
		}
		// FlatBuffers struct layout (the C++ StructDef rules, the same
		// as a C struct): each field at the next multiple of its
		// alignment, the struct aligned to its largest member and its
		// size padded to that alignment.
		a := f.Type.Align()
		off = (off + a - 1) &^ (a - 1)
		f.Offset = off
		off += f.Type.Size()
		align = max(align, a)
	}
	st.Size = (off + align - 1) &^ (align - 1)
	st.Align = align
	state[st] = 2
	return nil
}

// numberFields resolves the types of t's fields and gives each its vtable
// slot.
func (p *parser) numberFields(t *Table) error {
	slot := 0
	for i := range t.Fields {
		f := &t.Fields[i]
		if err := p.lookup(f.Type); err != nil {
			return err
		}
		if f.Type.Kind == KVector {
			switch f.Type.Elem.Kind {
			case KScalar, KEnum, KStruct:
			default:
				// A vector of offsets lets many elements share one
				// object, so verifying it needs a table budget (the C++
				// verifier's max_tables) to stay linear.
				return fmt.Errorf("%s: %s.%s: vectors of %s are not supported by the verifier generator", p.lex.file, t.Name, f.Name, f.Type.Elem)
			}
		}
		// flatc numbers fields in declaration order; a union takes two
		// slots, the hidden _type byte first.
		if f.Type.Kind == KUnion {
			f.TypeVOffset = 4 + 2*slot
			slot++
		}
		f.VOffset = 4 + 2*slot
		slot++
	}
	return nil
}

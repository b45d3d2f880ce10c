package schema

import "encoding/binary"

// This file is the hand-written half of the verifier: the primitive checks of
// the FlatBuffers binary format. verify_gen.go, generated from treasure.fbs by
// internal/verifygen, calls them for every table, field, vector and union of
// the schema. Together they guarantee that once verify accepts a buffer,
// every accessor flatc generated for package wire reads inside the buffer
// and so cannot panic.
//
// The rules follow the C++ reference verifier (include/flatbuffers/verifier.h
// in google/flatbuffers, with check_alignment on), made stricter where that
// costs nothing for buffers our encoders write:
//   - a field must lie inside its table's inline size, not just inside the
//     buffer, and may not overlap the table's soffset;
//   - vector data must be aligned to the element's alignment;
//   - a union's value is present exactly when its type is not NONE, and an
//     unknown union type or enum value is an error, not "forward compatible".
//
// Every position is a uint32 below MaxDatagram and every sum is done in
// uint64, so no arithmetic can wrap whatever the 32-bit offsets read from
// the wire say. All work is bounded by the buffer: the only loops walk vector
// elements, and a vector's length has been checked against the bytes left.

// maxDepth bounds table nesting (the C++ verifier's max_depth, default 64).
// treasure.fbs nests two deep (Message -> body); the limit only matters if the
// schema ever gains a recursive table, where it stops a chain of offsets from
// recursing as deep as the buffer allows.
const maxDepth = 8

// verifier carries the buffer being verified. It lives on the caller's stack.
type verifier struct {
	buf []byte
}

// vtab is a table that passed verifier.table: its position, vtable position,
// vtable size and inline size, all within the buffer.
type vtab struct {
	pos, vt, vsize, tsize uint32
}

// verify checks buf as a treasured Message. It rejects oversized buffers
// before reading a byte: the positions below are uint32 on that premise.
func verify(buf []byte) Error {
	if len(buf) > MaxDatagram {
		return ErrTooLarge
	}
	v := verifier{buf: buf}
	return verifyRoot(&v)
}

func (v *verifier) u16(p uint32) uint16 { return binary.LittleEndian.Uint16(v.buf[p:]) }
func (v *verifier) u32(p uint32) uint32 { return binary.LittleEndian.Uint32(v.buf[p:]) }
func (v *verifier) u64(p uint32) uint64 { return binary.LittleEndian.Uint64(v.buf[p:]) }

// root checks the buffer header: a uoffset_t to the root table, then the
// 4-byte file identifier (FlatBuffers "file_identifier" placement).
func (v *verifier) root(ident string) (uint32, Error) {
	n := uint64(len(v.buf))
	if n < 8 {
		return 0, ErrTooShort
	}
	if string(v.buf[4:8]) != ident { // compiled to a compare, no allocation
		return 0, ErrIdentifier
	}
	// The root table cannot start inside the header, and starts 4-aligned
	// because its first word is an soffset_t.
	root := uint64(v.u32(0))
	if root < 8 || root >= n || root%4 != 0 {
		return 0, ErrRoot
	}
	return uint32(root), 0
}

// table checks a table at pos: its soffset_t to the vtable, the vtable's two
// header voffset_t (vtable size, table inline size) and that vtable and table
// lie in the buffer. The soffset is signed: the vtable may sit before or after
// the table (C++ VerifyTableStart).
func (v *verifier) table(pos uint32, depth int) (vtab, Error) {
	if depth > maxDepth {
		return vtab{}, ErrDepth
	}
	n := uint64(len(v.buf))
	p := uint64(pos)
	if p%4 != 0 {
		return vtab{}, ErrAlign
	}
	if p+4 > n {
		return vtab{}, ErrTable
	}
	vt := int64(p) - int64(int32(v.u32(pos)))
	if vt < 0 || uint64(vt)+4 > n {
		return vtab{}, ErrVTable
	}
	if vt%2 != 0 {
		return vtab{}, ErrAlign
	}
	vsize := uint64(v.u16(uint32(vt)))
	tsize := uint64(v.u16(uint32(vt) + 2))
	// The vtable holds voffset_t entries after its 4-byte header, so its
	// size is even and at least 4; every entry must be readable.
	if vsize < 4 || vsize%2 != 0 || uint64(vt)+vsize > n {
		return vtab{}, ErrVTable
	}
	// The inline size counts the soffset itself.
	if tsize < 4 || p+tsize > n {
		return vtab{}, ErrTable
	}
	return vtab{pos: pos, vt: uint32(vt), vsize: uint32(vsize), tsize: uint32(tsize)}, 0
}

// field checks the field whose vtable entry is at byte vo of t's vtable and
// whose inline value is size bytes with the given alignment. It returns the
// field's absolute position, or 0 when the field is absent (the accessor then
// returns the default). An entry beyond the vtable is absent too: the buffer
// was written with an older schema (the Go accessor Table.Offset does the
// same comparison).
func (v *verifier) field(t *vtab, vo, size, align uint32) (uint32, Error) {
	if vo+2 > t.vsize {
		return 0, 0
	}
	off := uint32(v.u16(t.vt + vo))
	if off == 0 {
		return 0, 0
	}
	// Inside the table implies inside the buffer: table() checked
	// pos+tsize against the length.
	if off < 4 || uint64(off)+uint64(size) > uint64(t.tsize) {
		return 0, ErrField
	}
	p := t.pos + off
	if p%align != 0 {
		return 0, ErrAlign
	}
	return p, 0
}

// offset follows the uoffset_t at p, which the caller has bounds-checked.
// uoffset_t is unsigned, so references only point forward; zero would point
// at itself and is refused like C++ VerifyOffset does.
func (v *verifier) offset(p uint32) (uint32, Error) {
	o := uint64(v.u32(p))
	q := uint64(p) + o
	if o == 0 || q >= uint64(len(v.buf)) {
		return 0, ErrOffset
	}
	return uint32(q), 0
}

// tableField checks the offset field of a sub-table at vtable entry vo and
// returns the sub-table's position, or 0 when absent. The caller verifies
// the sub-table itself at depth+1.
func (v *verifier) tableField(t *vtab, vo uint32) (uint32, Error) {
	p, err := v.field(t, vo, 4, 4)
	if err != 0 || p == 0 {
		return 0, err
	}
	return v.offset(p)
}

// union checks a union field: the hidden type byte at vtable entry typeVO and
// the value offset at valueVO. It returns the type code and the value's
// position. The type must be NONE exactly when the value is absent; the
// caller maps the code to a table, rejecting codes the schema lacks.
func (v *verifier) union(t *vtab, typeVO, valueVO uint32) (uint8, uint32, Error) {
	tp, err := v.field(t, typeVO, 1, 1)
	if err != 0 {
		return 0, 0, err
	}
	var typ uint8
	if tp != 0 {
		typ = v.buf[tp]
	}
	vp, err := v.field(t, valueVO, 4, 4)
	if err != 0 {
		return 0, 0, err
	}
	if (typ == 0) != (vp == 0) {
		return 0, 0, ErrUnion
	}
	if vp == 0 {
		return 0, 0, 0
	}
	pos, err := v.offset(vp)
	return typ, pos, err
}

// vector checks the vector field at vtable entry vo: the offset, the 4-byte
// length, the alignment of the elements and that length*elemSize bytes
// follow. It returns the position of the first element and the length; both
// are 0 for an absent field. The product is computed in uint64: length is at
// most 2^32-1 and elemSize small, so it cannot wrap (C++ guards the same
// overflow with max_elems).
func (v *verifier) vector(t *vtab, vo, elemSize, elemAlign uint32) (uint32, uint32, Error) {
	p, err := v.field(t, vo, 4, 4)
	if err != 0 || p == 0 {
		return 0, 0, err
	}
	q, err := v.offset(p)
	if err != 0 {
		return 0, 0, err
	}
	n := uint64(len(v.buf))
	data := uint64(q) + 4
	if q%4 != 0 {
		return 0, 0, ErrAlign
	}
	if data > n {
		return 0, 0, ErrVector
	}
	length := uint64(v.u32(q))
	if data%uint64(elemAlign) != 0 {
		return 0, 0, ErrAlign
	}
	if length*uint64(elemSize) > n-data {
		return 0, 0, ErrVector
	}
	return uint32(data), uint32(length), 0
}

// str checks a string field: a byte vector followed by a NUL terminator that
// is not counted in its length (C++ VerifyString).
func (v *verifier) str(t *vtab, vo uint32) Error {
	data, length, err := v.vector(t, vo, 1, 1)
	if err != 0 {
		return err
	}
	if data == 0 {
		return 0
	}
	end := uint64(data) + uint64(length)
	if end >= uint64(len(v.buf)) || v.buf[end] != 0 {
		return ErrString
	}
	return 0
}

package schema

// Error is why a datagram was dropped. It is a small integer, not a struct:
// returning it as an error does not allocate (the runtime boxes one-byte
// values without a heap allocation), it compares with == and errors.Is, and
// it indexes a counter array directly, so the receive path can count drops
// by reason without allocating:
//
//	var drops [schema.NumReasons]atomic.Uint64
//	if _, err := dec.Decode(pkt); err != nil {
//		drops[schema.Reason(err)].Add(1)
//	}
type Error uint8

// Drop reasons. The zero value means "no error" and is never returned as an
// error. The order is part of no contract except NumReasons; labels are.
const (
	ErrTooLarge       Error = iota + 1 // longer than MaxDatagram; checked before anything else
	ErrTooShort                        // shorter than root offset + identifier (8 bytes)
	ErrIdentifier                      // bytes 4..8 are not Identifier
	ErrRoot                            // root offset out of bounds, misaligned or inside the header
	ErrTable                           // a table's soffset or inline size out of bounds
	ErrVTable                          // a vtable out of bounds, odd-sized or shorter than 4 bytes
	ErrField                           // a field offset overlaps the soffset or ends past its table
	ErrAlign                           // a table, vtable, field, vector or element misaligned
	ErrOffset                          // a uoffset that is zero or points past the buffer
	ErrVector                          // a vector's length header or elements past the buffer
	ErrString                          // a string past the buffer or not NUL-terminated
	ErrUnion                           // unknown union type, or type and value disagree
	ErrEnum                            // an enum or bool value the schema does not declare
	ErrDepth                           // tables nested deeper than maxDepth
	ErrNoBody                          // a Message without a body
	ErrTooManyActions                  // an Input with more than MaxActions actions
	ErrShortHandshake                  // a Hello or Connect datagram under MinHandshake bytes
	ErrOther                           // an error that is not a schema.Error (Reason only)

	// NumReasons sizes arrays indexed by Reason; index 0 counts successes.
	NumReasons = int(ErrOther) + 1
)

var errorLabels = [NumReasons]string{
	0:                 "ok",
	ErrTooLarge:       "too_large",
	ErrTooShort:       "too_short",
	ErrIdentifier:     "identifier",
	ErrRoot:           "root",
	ErrTable:          "table",
	ErrVTable:         "vtable",
	ErrField:          "field",
	ErrAlign:          "align",
	ErrOffset:         "offset",
	ErrVector:         "vector",
	ErrString:         "string",
	ErrUnion:          "union",
	ErrEnum:           "enum",
	ErrDepth:          "depth",
	ErrNoBody:         "no_body",
	ErrTooManyActions: "too_many_actions",
	ErrShortHandshake: "short_handshake",
	ErrOther:          "other",
}

var errorTexts = [NumReasons]string{
	0:                 "schema: ok",
	ErrTooLarge:       "schema: datagram larger than MaxDatagram",
	ErrTooShort:       "schema: datagram shorter than a FlatBuffers header",
	ErrIdentifier:     "schema: wrong file identifier",
	ErrRoot:           "schema: bad root offset",
	ErrTable:          "schema: table out of bounds",
	ErrVTable:         "schema: bad vtable",
	ErrField:          "schema: field outside its table",
	ErrAlign:          "schema: misaligned data",
	ErrOffset:         "schema: offset out of bounds",
	ErrVector:         "schema: vector out of bounds",
	ErrString:         "schema: bad string",
	ErrUnion:          "schema: bad union",
	ErrEnum:           "schema: enum or bool value out of range",
	ErrDepth:          "schema: nesting too deep",
	ErrNoBody:         "schema: message has no body",
	ErrTooManyActions: "schema: more than MaxActions actions",
	ErrShortHandshake: "schema: handshake datagram below MinHandshake bytes",
	ErrOther:          "schema: other error",
}

// Error implements error.
func (e Error) Error() string {
	if int(e) < NumReasons {
		return errorTexts[e]
	}
	return "schema: unknown error"
}

// String is the metric label of e: lower_snake_case, stable across releases.
func (e Error) String() string {
	if int(e) < NumReasons {
		return errorLabels[e]
	}
	return "unknown"
}

// Reason maps the error of Decode to an index in [0, NumReasons): 0 for nil,
// the Error itself for a schema.Error, ErrOther for anything else.
func Reason(err error) Error {
	if err == nil {
		return 0
	}
	if e, ok := err.(Error); ok && e != 0 && int(e) < NumReasons {
		return e
	}
	return ErrOther
}

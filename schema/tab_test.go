package schema

import (
	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/treasured/treasured/schema/wire"
)

func tabOf(m *wire.Message) flatbuffers.Table {
	var t flatbuffers.Table
	m.Body(&t)
	return t
}

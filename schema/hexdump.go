package schema

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// ParseHexDump reads the format of the protocol test vectors
// (testdata/vectors, docs/PROTOCOL.md "Test vectors"): lines of
// "offset: hex bytes", with blank lines and '#' comment lines ignored. The
// offsets are for the reader and are not checked.
func ParseHexDump(text []byte) ([]byte, error) {
	var out []byte
	for i, line := range strings.Split(string(text), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		_, hexes, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("hex dump line %d: want \"offset: bytes\", got %q", i+1, line)
		}
		b, err := hex.DecodeString(strings.ReplaceAll(hexes, " ", ""))
		if err != nil {
			return nil, fmt.Errorf("hex dump line %d: %w", i+1, err)
		}
		out = append(out, b...)
	}
	return out, nil
}

package auth

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Key file: the shared secret of an issuer and its servers, as text
// (docs/PROTOCOL.md "Key rotation").
//
//	# comments and blank lines are ignored
//	<key id, decimal u32> <secret, 64 hex digits>   the current key: tokens are issued with it
//	<key id> <secret>                                the previous key (optional): still accepted
//
// Rotation writes a new current key and moves the old current to the
// second line; the old previous is retired, and tokens sealed with it are
// refused (ErrUnknownKey). A server must load the rotated file before the
// issuer uses it, and tokens are short-lived, so one rotation at a time is
// enough.

// ParseKeyFile reads a key file's text; previous is nil when it has one key.
func ParseKeyFile(data []byte) (current, previous *Key, err error) {
	var keys []*Key
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, nil, fmt.Errorf("line %d: want \"<key id> <64 hex digits>\"", n)
		}
		id, err := strconv.ParseUint(f[0], 10, 32)
		if err != nil {
			return nil, nil, fmt.Errorf("line %d: key id %q is not a number from 0 to %d", n, f[0], uint32(1<<32-1))
		}
		secret, err := hex.DecodeString(f[1])
		if err != nil || len(secret) != KeySize {
			return nil, nil, fmt.Errorf("line %d: secret is not %d hex digits", n, 2*KeySize)
		}
		k, err := NewKey(uint32(id), secret)
		if err != nil {
			return nil, nil, fmt.Errorf("line %d: %w", n, err)
		}
		keys = append(keys, k)
	}
	switch {
	case len(keys) == 0:
		return nil, nil, fmt.Errorf("no key in the file")
	case len(keys) > 2:
		return nil, nil, fmt.Errorf("%d keys in the file; want the current and at most one previous", len(keys))
	case len(keys) == 2 && keys[0].ID == keys[1].ID:
		return nil, nil, fmt.Errorf("current and previous key share id %d", keys[0].ID)
	case len(keys) == 2:
		return keys[0], keys[1], nil
	}
	return keys[0], nil, nil
}

// LoadKeyFile reads path, refusing a file that others than its owner may
// read: whoever reads it can mint tokens for any user.
func LoadKeyFile(path string) (current, previous *Key, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("key file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, nil, fmt.Errorf("key file %s: mode %v lets others read it; chmod 600", path, st.Mode().Perm())
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil {
		return nil, nil, fmt.Errorf("key file %s: %w", path, err)
	}
	current, previous, err = ParseKeyFile(buf.Bytes())
	if err != nil {
		return nil, nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return current, previous, nil
}

// FormatKeyFile is the text of a key file holding current and previous
// (nil for none).
func FormatKeyFile(current, previous *Key) []byte {
	var b bytes.Buffer
	b.WriteString("# treasured connect-token keys: current first, then the previous one still accepted\n")
	for _, k := range []*Key{current, previous} {
		if k != nil {
			fmt.Fprintf(&b, "%d %s\n", k.ID, hex.EncodeToString(k.secret[:]))
		}
	}
	return b.Bytes()
}

package clienttest

import (
	crand "crypto/rand"
	"fmt"
	"os"
	"path/filepath"

	"github.com/treasured/treasured/netio/auth"
)

// NewKeyFile generates a connect-token key and writes it to dir/token.key
// with mode perm (0600 is what a server accepts), as treasure-token genkey
// does, for a test that starts a server or a tool with --token-key.
func NewKeyFile(dir string, perm os.FileMode) (*auth.Key, string, error) {
	key, err := auth.GenerateKey(1, crand.Reader)
	if err != nil {
		return nil, "", fmt.Errorf("clienttest: token key: %w", err)
	}
	path := filepath.Join(dir, "token.key")
	if err := os.WriteFile(path, auth.FormatKeyFile(key, nil), perm); err != nil {
		return nil, "", fmt.Errorf("clienttest: %w", err)
	}
	if err := os.Chmod(path, perm); err != nil { // past the umask
		return nil, "", fmt.Errorf("clienttest: %w", err)
	}
	return key, path, nil
}

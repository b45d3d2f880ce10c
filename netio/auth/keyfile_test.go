package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyFileRoundTrip(t *testing.T) {
	cur, prev := testKey(t, 5), testKey(t, 4)
	for _, p := range []*Key{prev, nil} {
		c, gotPrev, err := ParseKeyFile(FormatKeyFile(cur, p))
		if err != nil {
			t.Fatal(err)
		}
		if c.ID != cur.ID || c.Secret() != cur.Secret() {
			t.Fatal("current key changed in the round trip")
		}
		if (p == nil) != (gotPrev == nil) || (p != nil && (gotPrev.ID != p.ID || gotPrev.Secret() != p.Secret())) {
			t.Fatal("previous key changed in the round trip")
		}
	}
}

func TestParseKeyFileRefuses(t *testing.T) {
	hex64 := strings.Repeat("ab", KeySize)
	bad := map[string]string{
		"empty":           "",
		"comments only":   "# nothing\n\n",
		"three keys":      "1 " + hex64 + "\n2 " + hex64 + "\n3 " + hex64 + "\n",
		"same id twice":   "1 " + hex64 + "\n1 " + hex64 + "\n",
		"short secret":    "1 abcd\n",
		"not hex":         "1 " + strings.Repeat("zz", KeySize) + "\n",
		"id not a number": "one " + hex64 + "\n",
		"id too large":    "4294967296 " + hex64 + "\n",
		"missing secret":  "1\n",
	}
	for name, text := range bad {
		if _, _, err := ParseKeyFile([]byte(text)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestLoadKeyFileRefusesReadableByOthers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(path, FormatKeyFile(testKey(t, 1), nil), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadKeyFile(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("LoadKeyFile of a 0644 file: %v", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadKeyFile(path); err != nil {
		t.Fatal(err)
	}
}

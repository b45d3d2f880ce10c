package main

import (
	"strings"
	"testing"

	"github.com/treasured/treasured/schema"
)

// Every bound is enforced before anything is sent.
func TestParseBounds(t *testing.T) {
	if _, err := parse(nil); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--addr", "10.0.0.1:7777"}, "loopback"},
		{[]string{"--addr", "[::1]:7777"}, "IPv4 loopback"},
		{[]string{"--rate", "0"}, "--rate"},
		{[]string{"--rate", "1000000"}, "--rate"},
		{[]string{"--hosts", "200", "--ports", "101"}, "20000 sockets"},
		{[]string{"--joins", "251"}, "--joins"},
		{[]string{"--duration", "1h"}, "--duration"},
		{[]string{"--duration", "0s"}, "--duration"},
		{[]string{"--payload", "junk"}, "--payload"},
	} {
		if _, err := parse(tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

// The Hello decodes; the garbage is refused by the verifier.
func TestSprayPayload(t *testing.T) {
	var dec schema.Decoder
	if _, err := dec.Decode(sprayPayload(false)); err != nil {
		t.Fatalf("hello: %v", err)
	}
	if _, err := dec.Decode(sprayPayload(true)); err == nil {
		t.Fatal("garbage passed verification")
	}
}

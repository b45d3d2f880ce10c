package main

import (
	"net"
	"strings"
	"testing"
	"time"

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

// With --joins 0 the spray still lasts its duration (it used to stop before
// sending anything).
func TestSprayWithoutJoins(t *testing.T) {
	srv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	got := make(chan int)
	go func() {
		n, buf := 0, make([]byte, 2048)
		for {
			srv.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, _, err := srv.ReadFromUDP(buf); err != nil {
				got <- n
				return
			}
			n++
		}
	}()
	c, err := parse([]string{"--addr", srv.LocalAddr().String(), "--rate", "1000", "--hosts", "2", "--joins", "0", "--duration", "300ms", "--payload", "garbage"})
	if err != nil {
		t.Fatal(err)
	}
	if err := run(c); err != nil {
		t.Fatal(err)
	}
	srv.SetReadDeadline(time.Now()) // the reader stops with what it has
	if n := <-got; n < 100 {
		t.Fatalf("the server got %d datagrams of a 300 ms spray at 1000/s", n)
	}
}

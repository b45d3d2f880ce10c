package auth

import (
	"bytes"
	"errors"
	"testing"
)

const testSession = 1<<63 | 0x1234_5678_0000_0001

func testChannels(t testing.TB) (client, server *Channel) {
	t.Helper()
	_, keys := issue(t, testKey(t, 1), validClaims())
	client, err := NewChannel(testSession, &keys, RoleClient)
	if err != nil {
		t.Fatal(err)
	}
	server, err = NewChannel(testSession, &keys, RoleServer)
	if err != nil {
		t.Fatal(err)
	}
	return client, server
}

// seal copies body into a fresh datagram buffer and seals it.
func seal(t testing.TB, c *Channel, body []byte) []byte {
	t.Helper()
	buf := make([]byte, HeaderSize+len(body), HeaderSize+len(body)+tagSize)
	copy(buf[HeaderSize:], body)
	d, err := c.Seal(buf, len(body))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestChannelRoundTrip(t *testing.T) {
	client, server := testChannels(t)
	for _, body := range [][]byte{nil, []byte("input"), bytes.Repeat([]byte{9}, 1200)} {
		d := seal(t, client, body)
		if len(d) != len(body)+Overhead {
			t.Fatalf("datagram of %d bytes for a body of %d", len(d), len(body))
		}
		if id, ok := PeekSession(d); !ok || id != testSession {
			t.Fatalf("PeekSession = %#x %v", id, ok)
		}
		if len(body) > 8 && bytes.Contains(d, body[:8]) {
			t.Fatal("body travels in the clear")
		}
		got, err := server.Open(d)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("Open = %q, %v; want %q", got, err, body)
		}
		back := seal(t, server, body)
		if got, err := client.Open(back); err != nil || !bytes.Equal(got, body) {
			t.Fatalf("client Open = %v", err)
		}
	}
}

// TestChannelRefusals: a tampered, replayed, too old, reflected, truncated
// or other session's datagram is refused with its own error, and none of
// them moves the replay window.
func TestChannelRefusals(t *testing.T) {
	client, server := testChannels(t)
	var sent [][]byte
	for range 70 {
		sent = append(sent, seal(t, client, []byte("an input of some bytes")))
	}
	flip := func(b []byte, i int) []byte {
		c := bytes.Clone(b)
		c[i] ^= 0x40
		return c
	}
	// The server has received the newest; the first is now 69 behind.
	if _, err := server.Open(bytes.Clone(sent[69])); err != nil {
		t.Fatal(err)
	}
	server.seq.Store(99) // past the window, so only the key can refuse it
	reflected := seal(t, server, []byte("a snapshot"))
	otherSession := bytes.Clone(sent[60])
	otherSession[3] ^= 1
	// A forged seq: a fresh number (past the window) without the key.
	forgedSeq := flip(sent[68], 8+3)

	cases := []struct {
		name string
		d    []byte
		want error
	}{
		{"tampered body", flip(sent[60], HeaderSize+2), ErrForged},
		{"tampered tag", flip(sent[60], len(sent[60])-1), ErrForged},
		{"forged sequence number", forgedSeq, ErrForged},
		{"replayed", bytes.Clone(sent[69]), ErrReplayedDatagram},
		{"too old", bytes.Clone(sent[0]), ErrTooOld},
		{"reflected: the server's own datagram", reflected, ErrForged},
		{"other session", otherSession, ErrWrongSession},
		{"truncated", bytes.Clone(sent[60][:Overhead-1]), ErrShortDatagram},
		{"empty", nil, ErrShortDatagram},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := server.Open(c.d); !errors.Is(err, c.want) {
				t.Fatalf("Open = %v, want %v", err, c.want)
			}
		})
	}
	// The forged seq did not move the window: the genuine datagrams inside
	// it still open, once each.
	for i := 6; i < 69; i++ {
		if _, err := server.Open(bytes.Clone(sent[i])); err != nil {
			t.Fatalf("genuine datagram %d after the attacks: %v", i, err)
		}
	}
	if _, err := server.Open(bytes.Clone(sent[6])); !errors.Is(err, ErrReplayedDatagram) {
		t.Fatalf("second delivery: %v", err)
	}
}

func TestChannelSealErrors(t *testing.T) {
	client, _ := testChannels(t)
	if _, err := client.Seal(make([]byte, HeaderSize+10), 10); !errors.Is(err, ErrNoRoom) {
		t.Fatalf("no room for the tag: %v", err)
	}
	client.seq.Store(^uint64(0)) // wrapped: the next would be 0
	if _, err := client.Seal(make([]byte, Overhead), 0); !errors.Is(err, ErrSeqExhausted) {
		t.Fatalf("wrapped sequence: %v", err)
	}
	// The numbers stop below the urgent mark: the next would be the mark.
	client.seq.Store(UrgentBit - 1)
	if _, err := client.SealUrgent(make([]byte, Overhead), 0); !errors.Is(err, ErrSeqExhausted) {
		t.Fatalf("sequence number reaching the urgent mark: %v", err)
	}
	if _, err := client.Seal(make([]byte, Overhead), 0); !errors.Is(err, ErrSeqExhausted) {
		t.Fatalf("exhausted sequence sealed again: %v", err)
	}
	var keys SessionKeys
	if _, err := NewChannel(1, &keys, RoleClient); err == nil {
		t.Fatal("accepted a session id without bit 63")
	}
}

// TestChannelNoAlloc: Seal and Open of a 1,200-byte snapshot and a 60-byte
// input allocate nothing.
func TestChannelNoAlloc(t *testing.T) {
	for _, n := range []int{60, 1200} {
		client, server := testChannels(t)
		buf := make([]byte, HeaderSize+n+tagSize)
		if a := testing.AllocsPerRun(500, func() {
			d, err := client.Seal(buf, n)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := server.Open(d); err != nil {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Errorf("%d bytes: %v allocations per Seal+Open", n, a)
		}
		// A refused datagram costs nothing either.
		d, _ := client.Seal(buf, n)
		d[HeaderSize] ^= 1
		if a := testing.AllocsPerRun(500, func() { _, _ = server.Open(d) }); a != 0 {
			t.Errorf("%d bytes: %v allocations per refused Open", n, a)
		}
	}
}

// TestChannelUrgent: the urgent mark rides in the authenticated header. A
// marked datagram opens like any other and shares the one sequence (the
// replay window sees the number under the mark); flipping the mark on the
// path breaks the tag, and a replay with the mark flipped is still a
// replay.
func TestChannelUrgent(t *testing.T) {
	client, server := testChannels(t)
	body := []byte("ping")
	plain := seal(t, client, body)
	buf := make([]byte, HeaderSize+len(body), HeaderSize+len(body)+tagSize)
	copy(buf[HeaderSize:], body)
	marked, err := client.SealUrgent(buf, len(body))
	if err != nil {
		t.Fatal(err)
	}
	if Urgent(plain) || !Urgent(marked) || Urgent(marked[:Overhead-1]) {
		t.Fatal("Urgent misreads the mark")
	}
	if marked[UrgentByte]&0x80 == 0 {
		t.Fatalf("the mark is not in byte %d", UrgentByte)
	}
	if got, err := server.Open(bytes.Clone(marked)); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("marked datagram: %q, %v", got, err)
	}
	if got, err := server.Open(bytes.Clone(plain)); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("unmarked datagram: %q, %v", got, err)
	}

	// Set or cleared on the path: forged.
	forged := bytes.Clone(seal(t, client, body))
	forged[UrgentByte] ^= 0x80
	if _, err := server.Open(forged); !errors.Is(err, ErrForged) {
		t.Fatalf("mark set on the path: %v", err)
	}
	// The same number again, with the mark flipped: a replay, refused
	// before the tag (so it cannot probe the key either).
	again := bytes.Clone(marked)
	again[UrgentByte] ^= 0x80
	if _, err := server.Open(again); !errors.Is(err, ErrReplayedDatagram) {
		t.Fatalf("replay with the mark cleared: %v", err)
	}
	if _, err := server.Open(bytes.Clone(marked)); !errors.Is(err, ErrReplayedDatagram) {
		t.Fatalf("marked replay: %v", err)
	}
}

package auth

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

var tokenErrors = []error{ErrTruncated, ErrVersion, ErrMalformed, ErrUnknownKey, ErrExpired, ErrBadSignature, ErrWrongServer}

func isOneOf(err error, errs []error) bool {
	for _, e := range errs {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// FuzzParseToken feeds arbitrary bytes to the verifier, which must refuse
// them with one of its errors and never panic. The same bytes are then
// sealed as the private part of a token under the verifier's key, as a key
// holder could, so the fuzzer also reaches the decoding behind the
// signature: whatever that accepts must encode back to the same bytes.
func FuzzParseToken(f *testing.F) {
	k := testKey(f, 1)
	good, _ := issue(f, k, validClaims())
	f.Add(good)
	f.Add(good[:TokenSize-1])
	f.Add(append(bytes.Clone(good), 0))
	f.Add(good[headerSize : headerSize+privateSize])
	f.Add([]byte{})
	v, err := NewVerifier(k, testKey(f, 2), []netip.AddrPort{testServer})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var tok Token
		switch err := v.Verify(data, testNow, &tok); {
		case err == nil:
			if !bytes.Equal(data, good) {
				t.Fatalf("a token no key holder made verified: %x", data)
			}
		case !isOneOf(err, tokenErrors):
			t.Fatalf("unexpected error %v", err)
		}

		var plain [privateSize]byte
		copy(plain[:], data)
		sealed := resealed(t, k, good[:headerSize], plain[:])
		err := v.Verify(sealed, testNow, &tok)
		switch {
		case err == nil || errors.Is(err, ErrWrongServer):
			var again [privateSize]byte
			if perr := putPrivate(&again, tok.UserID, &tok.Keys, tok.Servers()); perr != nil {
				t.Fatalf("accepted content does not encode: %v", perr)
			}
			if again != plain {
				t.Fatalf("two encodings of one token:\n%x\n%x", plain, again)
			}
		case !errors.Is(err, ErrMalformed):
			t.Fatalf("sealed content refused with %v", err)
		}
	})
}

var datagramErrors = []error{ErrShortDatagram, ErrWrongSession, ErrForged, ErrReplayedDatagram, ErrTooOld}

// FuzzOpen feeds arbitrary datagrams to a server channel (refused, never a
// panic), then seals the same bytes as a body at the fuzzed sequence number,
// optionally flips one bit, and checks Open's verdict against the rules: a
// flipped datagram never opens, an intact one opens exactly when its seq is
// new to the window, and then yields the body.
func FuzzOpen(f *testing.F) {
	f.Add([]byte("an input"), uint64(1), uint16(0))
	f.Add(bytes.Repeat([]byte{0xa5}, 1200), uint64(1<<40), uint16(5))
	f.Add([]byte{}, uint64(0), uint16(0))
	f.Add(make([]byte, Overhead), uint64(3), uint16(0x8000))
	client, server := testChannels(f)
	f.Fuzz(func(t *testing.T, data []byte, seq uint64, flip uint16) {
		raw := bytes.Clone(data)
		if _, err := server.Open(raw); err == nil {
			t.Fatalf("a datagram no key holder made opened: %x", data)
		} else if !isOneOf(err, datagramErrors) {
			t.Fatalf("unexpected error %v", err)
		}

		buf := make([]byte, HeaderSize+len(data)+tagSize)
		copy(buf[HeaderSize:], data)
		client.seq.Store(seq - 1) // the next Seal uses seq
		d, err := client.Seal(buf, len(data))
		if seq == 0 || seq >= UrgentBit {
			if !errors.Is(err, ErrSeqExhausted) {
				t.Fatalf("Seal at seq %#x: %v", seq, err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		flipped := flip&0x8000 != 0
		if flipped {
			i := int(flip&0x7fff) % len(d)
			d[i] ^= 1 << (flip % 8)
		}
		want := server.window.Check(seq)
		body, err := server.Open(d)
		switch {
		case flipped && err == nil:
			t.Fatal("a flipped datagram opened")
		case !flipped && !errors.Is(err, want):
			t.Fatalf("Open = %v, the window says %v", err, want)
		case !flipped && err == nil && !bytes.Equal(body, data):
			t.Fatal("opened body differs")
		case err != nil && !isOneOf(err, datagramErrors):
			t.Fatalf("unexpected error %v", err)
		}
	})
}

package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
)

// The sizes the server moves: a full snapshot near the MTU budget and a
// typical Input with one action.
var benchSizes = []int{60, 1200}

// BenchmarkChannel is the cost the package's choice adds per datagram:
// ChaCha20-Poly1305 encrypting the body (Seal on the sender, Open with the
// replay window on the receiver).
func BenchmarkChannel(b *testing.B) {
	for _, n := range benchSizes {
		client, server := testChannels(b)
		buf := make([]byte, HeaderSize+n+tagSize)
		b.Run(fmt.Sprintf("Seal/%dB", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := client.Seal(buf, n); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("Open/%dB", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			// Opening decrypts in place and records the seq, so each round
			// restores the sealed bytes and the window: the figure includes
			// a copy of the datagram.
			d, _ := client.Seal(buf, n)
			sealed := append([]byte(nil), d...)
			for b.Loop() {
				copy(d, sealed)
				server.window = NewWindow()
				if _, err := server.Open(d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMACOnly are the alternatives the package doc weighs: the same
// AEAD authenticating the body as additional data without encrypting it
// (ChaCha20 then only derives the Poly1305 key), and HMAC-SHA256 truncated
// to 128 bits. Each run is one tag computation over the datagram, the cost
// of Seal; Open is the same plus a compare.
func BenchmarkMACOnly(b *testing.B) {
	key := make([]byte, KeySize)
	aead, err := chacha20poly1305.New(key)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range benchSizes {
		buf := make([]byte, HeaderSize+n+tagSize)
		var nonce [chacha20poly1305.NonceSize]byte
		b.Run(fmt.Sprintf("Poly1305/%dB", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			seq := uint64(0)
			for b.Loop() {
				seq++
				binary.LittleEndian.PutUint64(nonce[4:], seq)
				aead.Seal(buf[HeaderSize+n:HeaderSize+n], nonce[:], nil, buf[:HeaderSize+n])
			}
		})
		mac := hmac.New(sha256.New, key)
		var sum [sha256.Size]byte
		b.Run(fmt.Sprintf("HMAC-SHA256-128/%dB", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				mac.Reset()
				mac.Write(buf[:HeaderSize+n])
				copy(buf[HeaderSize+n:], mac.Sum(sum[:0])[:tagSize])
			}
		})
	}
}

// BenchmarkVerify is the handshake's cost: one token check (XChaCha20-
// Poly1305 over 168 bytes) and one replay-cache admission.
func BenchmarkVerify(b *testing.B) {
	k := testKey(b, 1)
	v, err := NewVerifier(k, nil, validClaims().Servers)
	if err != nil {
		b.Fatal(err)
	}
	tok, _ := issue(b, k, validClaims())
	cache, err := NewReplayCache(1<<16, 4)
	if err != nil {
		b.Fatal(err)
	}
	var t Token
	b.ReportAllocs()
	n := uint64(0)
	for b.Loop() {
		if err := v.Verify(tok, testNow, &t); err != nil {
			b.Fatal(err)
		}
		n++
		_ = cache.Admit(tokenID(n), 1, n+30, n)
	}
}

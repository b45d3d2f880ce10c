// Package auth holds the identity pieces of the protocol that client and
// server share (docs/PROTOCOL.md "Connect tokens", "Authenticated
// datagrams"): connect tokens, the replay cache that makes a token good for
// one connection, and the per-session Channel (or its two halves, Sealer and
// Opener) that authenticates every datagram after the handshake. It imports
// nothing from the rest of the repository but the leaf engine/seqwin (the
// replay window it shares with the engine), so netio, client and the tools
// can all use it.
//
// Connect tokens follow netcode.io's model. A backend that authenticated the
// user (login, matchmaker) issues a token with Key.Issue: a fixed 208-byte
// value whose clear header (version, key id, expiry, a random 24-byte nonce
// that is also the token id) is the additional data of an XChaCha20-Poly1305
// seal over the private part (user id, the two session keys, up to four
// server addresses). The key is a secret the issuer shares with its servers;
// the seal is the signature. The client receives the token and the session
// keys from the backend over its own authenticated channel and presents the
// token in its Connect; a server checks it with a Verifier (statelessly:
// signature under the current or previous key, expiry, its own address) and
// then with a ReplayCache (server state: one connection per token).
// XChaCha20's random 192-bit nonces need no counter shared between issuers.
//
// After the handshake each datagram carries the session id and a 64-bit
// sequence number in the clear and its body sealed with the direction's
// session key (Channel). The choice, measured in BENCHMARKS.md "Identity:
// the cost of authenticating every datagram": encryption with
// ChaCha20-Poly1305, not a MAC alone. The same AEAD authenticating the body
// without encrypting it saves only the ChaCha20 keystream, about a sixth of
// the cost at 1,200 bytes and nothing measurable at 60 (Poly1305 dominates
// and the key block is computed either way); HMAC-SHA256 truncated to 128
// bits is slower than encrypting at both sizes. For that small difference
// encryption keeps other players' positions and the loot stream private on
// the path, and there is one construction, the one netcode.io uses, to
// review. Seal and Open work in place and allocate nothing.
package auth

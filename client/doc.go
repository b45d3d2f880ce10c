// Package client is the Go client of treasured: everything a player, a bot
// or a load generator needs to speak the protocol of docs/PROTOCOL.md.
//
// The protocol state lives in Session, which does no I/O (sans-IO): feed it
// received datagrams with Handle and send the datagrams its Hello, Connect,
// Input, Ping and Bye methods return. It keeps
//
//   - the handshake (Hello -> Challenge -> Connect -> Welcome, or Reject);
//   - the redundancy window (Outbox): every Input repeats the oldest
//     unacknowledged actions, at most schema.MaxActions, each with a
//     monotonic action_seq, until a snapshot's last_action_seq covers them;
//   - the ack: every Input carries the newest snapshot tick received, the
//     baseline the server deltas against;
//   - the world view (View), rebuilt from full and delta snapshots, robust
//     to loss, duplication and reordering;
//   - loot de-duplication with exactly-once accounting (Loot): each (loot
//     id, kind) is shown once, repeats are counted, and the loot of chests
//     the player opened itself must be shown (lost loot);
//   - Ping/Pong matching and snapshot arrival tracking (PingTracker, TickSet).
//
// Steady state allocates nothing: the encoder, decoder and snapshot frame
// (Codec) are reused, and one Codec can serve every Session of a goroutine.
//
// Client wraps a Session around one connected UDP socket for the common
// case (Dial, Do, SendInput, Poll, Close), with optional user-space
// Impairment (loss, duplication, reordering from a seeded RNG) on both
// directions. The load generator cmd/treasure-bench drives thousands of
// Sessions from a few epoll loops instead. Package clienttest is an
// in-process fake server for tests.
package client

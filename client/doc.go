// Package client is the Go client of treasured: everything a player, a bot
// or a load generator needs to speak the protocol of docs/PROTOCOL.md.
//
// The protocol state lives in Session, which does no I/O (sans-IO): feed it
// received datagrams with Handle and send the datagrams its Hello, Connect,
// Input, Ping and Bye methods return. It keeps
//
//   - the handshake (Hello -> Challenge -> Connect -> Welcome, or Reject),
//     the Connect carrying the connect token of Config.Credentials;
//   - the session's authentication: every datagram after the handshake is
//     sealed and opened with the token's session keys (netio/auth), and a
//     server's PathChallenge after an address change is answered
//     (PathResponse);
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
// # The view
//
// These are the rules by which a client builds its view from snapshots. The
// server's snapshot writer (package engine, snapshot.go) is built on the
// same rules, and a test drives both over a hostile link
// (TestViewConvergesUnderHostileLink).
//
// Acknowledgement. Every Input carries ack_tick, the newest snapshot tick the
// client has received. The server builds each snapshot as a delta against
// the newest acknowledged snapshot it still remembers (32 ticks), or as a
// full snapshot (baseline_tick 0) when there is none: at the start of a
// session, or after 32 ticks without a usable acknowledgement.
//
// Only newer snapshots write state. A snapshot whose tick is newer than every
// snapshot applied so far is applied: its Gone ids, then its chest and player
// states (whole states: each replaces what the view held for that id), then,
// for a complete full snapshot, the removal described below. A snapshot that
// is not newer (reordered or duplicated) writes no state: the view already
// holds newer ones, and the server never counts on it, because every
// baseline it uses was, when acknowledged, the newest snapshot the client
// had. A late snapshot still counts for its loot events (shown once by loot
// id and kind, see Loot), its Gone ids (next paragraph) and the client's
// own openings in its chest states.
//
// Gone. A snapshot's gone lists the players that left this player's view.
// The server repeats a Gone until the client acknowledges a snapshot that
// carried it, and withdraws it if the player comes back into view first, so
// a Gone never follows the state it would wrongly erase. The client removes
// a gone player only if the view's entry for it was written by a snapshot no
// newer than the one carrying the Gone (every entry remembers the tick that
// wrote it): a late Gone cannot remove a player seen since, and a late
// snapshot cannot bring back a player that a Gone removed, because late
// snapshots write no state.
//
// Which baseline a delta applies to. A delta against baseline B lists, with
// its whole current state, every entity of the interest area the client may
// not know in its current state given what it has been sent up to B; it
// applies to the view as the view is, since the view holds B (B was
// acknowledged, so it was received and applied) and possibly newer states.
// The client keeps no copy of B: baseline_tick tells it nothing it must act
// on.
//
// Full snapshots and more. more says that the snapshot did not hold
// everything the server meant to send; the rest follows in the next ticks.
// A full snapshot with more lists only part of the interest area, and the
// deltas that follow may be against it or against an older acknowledged
// snapshot that listed other parts; so the client keeps every entity the
// partial full snapshot does not list. A complete full snapshot (more
// false) lists the whole interest area: the client removes everything else.
//
// When an entity stops being mentioned. Silence means "unchanged": the
// server sends an entity again only when it changes or its zone comes back
// into view. Players leave the view only by Gone (or a complete full
// snapshot). Chests are never withdrawn (but by a complete full
// snapshot): a chest whose zone left the
// player's interest area stays in the view with its last known state, which
// may go stale, and is sent again, current, when its zone comes back into
// view. The chests and players of the interest area are always the server's
// current ones once the link has been clean for a few ticks.
//
// Opener identity. A chest state's opened_by is the player id (slot) of the
// player that opened it. Slots are reused, so when another player takes the
// slot the server clears the openings of the slot's earlier players
// (0xFFFFFFFF) in the same tick, before the new player's first snapshot. A
// client compares opened_by with its Welcome's player_id: equal means "this
// player opened it", never a stranger's opening.
//
// Bounds. A view holds at most MaxViewEntities chests and as many players
// (a newcomer past that evicts an older entry), and Loot at most
// MaxLootKeys shown keys and as many own loot ids: a broken or hostile
// server cannot make a client grow without bound.
//
// Steady state allocates nothing: the encoder, decoder and snapshot frame
// (Codec) are reused, and one Codec can serve every Session of a goroutine.
//
// Client wraps a Session around one connected UDP socket for the common
// case (Dial, Do, SendInput, Poll, Close), with optional user-space
// Impairment (loss, duplication, reordering from a seeded RNG) on both
// directions. The load generator cmd/treasure-bench drives thousands of
// Sessions from a few epoll loops instead. Package clienttest starts the
// real server (netio and the engine) in process for tests.
package client

// Package netio turns the engine into a UDP server (docs/ARCHITECTURE.md "Data flow").
//
//	players --UDP--> the kernel filter on every loop socket (filter.go,
//	                   netio/sockfilter): garbage decided by its first 8 bytes
//	                   is dropped and counted before it is queued
//	                 N event loops, one SO_REUSEPORT socket each, behind one
//	                   backend seam (backend.go, chosen in layout.go): gnet's
//	                   (backend_gnet.go); with BackendMmsg ours: ppoll, then
//	                   recvmmsg until empty (backend_mmsg.go, recv.go,
//	                   rxsocket_linux.go); with BackendPoll (one CPU) the same
//	                   recvmmsg from goroutines that sleep a receive pace
//	                   between batches and park in Go's netpoller when idle
//	                   (backend_poll.go)
//	                 the protocol dispatcher (dispatch.go), per datagram:
//	                   verify + decode in place; Hello/Connect/Ping/Bye answered here;
//	                   the connect token checked and every later datagram opened
//	                   in place with its session's keys (identity.go, netio/auth)
//	                   Input -> fixed-size engine.Record -> the loop's SPSC ring (ring.go)
//	                 tick goroutine, absolute deadlines (tick.go: all of its code)
//	                   drain rings (tick.go) -> World.Step -> Config.Journal (journal.go)
//	                   -> fan-out (fanout.go)
//	players <--UDP-- sendmmsg batches on a dup of the socket (fanout.go), each
//	                   snapshot sealed in place in the batch buffer
//
// The transport, netio/udp, holds the batch contracts (BatchSender,
// BatchReceiver), the one wrapper each of sendmmsg(2) and recvmmsg(2), the
// address type and the socket options, with their non-Linux twins.
//
// Who owns what:
//
//   - An event loop owns its partition of the player slots (slot mod N ==
//     loop index: SO_REUSEPORT keeps a client on one socket), its sessions,
//     its cookie MAC, decoder and encoder, and the producer end of its ring.
//     Its session table is pointer-free; the sessions' keys (ciphers) sit in
//     a side table, and each session's sending half (auth.Sealer, safe for
//     concurrent use) is shared with the fan-out through the RecJoin entry.
//   - The tick goroutine owns the World, the consumer ends of the rings and
//     the fan-out's table of player addresses, which it learns from the
//     RecJoin/RecLeave entries in the rings, so the engine and the fan-out see
//     joins and leaves in exactly the same order.
//   - Counters are single-writer atomics (stats.go) read by the Prometheus
//     collector at scrape time (metrics.go); the hot paths allocate nothing
//     (TestLoopNoAlloc, TestFanoutNoAlloc). gnet itself allocates per
//     datagram on its UDP read path; BenchmarkServerPingPong measures it.
//
// Receive backends. All end in loop.datagram(bytes, Addr, now) -> reply, so
// the protocol, the limits and the tests are the same for all; only the
// system calls and the threads differ. gnet reads one datagram per call,
// allocates for each, and its idle poller yields (Gosched) on every empty
// epoll_wait, which on a locked thread hands the P to another thread. The
// mmsg backend blocks in ppoll when idle, drains with recvmmsg batches into
// preallocated buffers (recv.go, on the udp.BatchReceiver contract) and answers
// with one sendmmsg per batch on the same socket. With InlineIO (one CPU for
// everything) there is no loop thread at all: the tick goroutine's clock
// serves the socket while it waits for the next deadline. The poll layout
// (BackendPoll, one CPU) runs unlocked goroutines on the one P; its loops
// pace their reads (Config.RecvPace), so a stream of datagrams costs a
// wake-up per pace rather than per arrival, and the tick reads the sockets
// before it drains the rings. With authentication its loop has a second,
// urgent socket for the datagrams clients mark urgent (Pings), the only
// one the fan-out reads between its send batches (Config.SingleSocket).
//
// Handshake, sessions and their limits follow docs/PROTOCOL.md:
// stateless HMAC cookies with a rotating secret (cookie.go; the MAC
// itself is netio/cookiemac, shared with the perf baselines), answers never
// larger than the request, session ids of slot + generation + random bits
// (session.go), source address checks, per-session token buckets, 10 s
// idle timeout. Admission (admission.go) is per prefix (IPv4 address, IPv6
// /64), not per address and port: live sessions and handshakes in flight per
// prefix, and a global handshake budget with headroom for clients that
// already hold a cookie. The engine's own counters and each fan-out worker's
// snapshot counters are published after every tick (enginestats.go).
//
// The tick clock runs on absolute deadlines start + k*period (tick.go) and
// publishes its epoch: engine tick T is scheduled to start at
// treasured_tick_epoch_unix_seconds + T*treasured_tick_period_seconds, wall
// clock, so a client on the same host (treasure-bench) can measure
// tick_to_wire from the true scheduled start.
//
// Platform code sits behind build tags with a portable twin: sendmmsg and
// getsockopt on Linux, the standard library elsewhere.
package netio

// Package common is what the two baseline servers of perf/baseline share
// with each other but not with treasured: a handshake cookie policy (one
// secret, no rotation; the MAC itself is treasured's, netio/cookiemac), a
// hand-written Prometheus exposition with the metric names treasured uses
// (so treasure-bench reports tick work, GC pauses, allocation rate and CPU
// for every server alike), the admin HTTP server with pprof, and the
// plumbing of their main and reader (flags, socket, signal, read loop).
//
// It is deliberately plain: the baselines exist to be measured against, not
// to be optimised.
package common

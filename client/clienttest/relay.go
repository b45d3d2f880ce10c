package clienttest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Relay forwards UDP datagrams between clients and a server on loopback.
// It is the network, faked at the socket seam: it can add what no real
// server sends (garbage) and lose everything for a while (a crash seen from
// the client: the server falls silent, its last words never arrive), and it
// knows nothing of the protocol. Each client gets its own upstream socket,
// so the server sees one address per client.
type Relay struct {
	front   *net.UDPConn
	target  netip.AddrPort
	garbage int
	muted   atomic.Bool

	mu     sync.Mutex
	peers  map[netip.AddrPort]*net.UDPConn // client address -> its upstream socket
	closed bool
	wg     sync.WaitGroup
}

// RelayOptions configure a Relay.
type RelayOptions struct {
	// Garbage is the number of malformed datagrams sent to each new client
	// just before the server's first datagram to it.
	Garbage int
}

// NewRelay listens on 127.0.0.1 (a free port) and forwards to target.
func NewRelay(target string, opts RelayOptions) (*Relay, error) {
	t, err := netip.ParseAddrPort(target)
	if err != nil {
		return nil, fmt.Errorf("clienttest: relay target: %w", err)
	}
	front, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("clienttest: relay: %w", err)
	}
	r := &Relay{front: front, target: t, garbage: opts.Garbage, peers: map[netip.AddrPort]*net.UDPConn{}}
	r.wg.Add(1)
	go r.fromClients()
	return r, nil
}

// Addr is the address clients dial instead of the server's.
func (r *Relay) Addr() string { return r.front.LocalAddr().String() }

// SetMuted drops every datagram in both directions while on.
func (r *Relay) SetMuted(on bool) { r.muted.Store(on) }

// Close stops forwarding and waits for the relay's goroutines. Idempotent.
func (r *Relay) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	_ = r.front.Close()
	for _, up := range r.peers {
		_ = up.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// fromClients forwards what clients send, each through its upstream socket.
func (r *Relay) fromClients() {
	defer r.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := r.front.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		up, open := r.upstream(from)
		if !open {
			return
		}
		if up != nil && !r.muted.Load() {
			_, _ = up.WriteToUDPAddrPort(buf[:n], r.target)
		}
	}
}

// upstream returns client's upstream socket, made on its first datagram
// (nil if that failed: the datagram is lost), and whether the relay is open.
func (r *Relay) upstream(client netip.AddrPort) (*net.UDPConn, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, false
	}
	if up := r.peers[client]; up != nil {
		return up, true
	}
	// Unconnected, so an ICMP unreachable while the server is down (a
	// restart) is no error on the socket.
	up, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, true
	}
	r.peers[client] = up
	r.wg.Add(1)
	go r.toClient(up, client)
	return up, true
}

// toClient forwards what the server sends to one client, the garbage first.
func (r *Relay) toClient(up *net.UDPConn, client netip.AddrPort) {
	defer r.wg.Done()
	buf := make([]byte, 64<<10)
	first := true
	for {
		n, _, err := up.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if r.muted.Load() {
			continue
		}
		if first {
			first = false
			for range r.garbage {
				_, _ = r.front.WriteToUDPAddrPort([]byte("this is not a flatbuffer at all"), client)
			}
		}
		_, _ = r.front.WriteToUDPAddrPort(buf[:n], client)
	}
}

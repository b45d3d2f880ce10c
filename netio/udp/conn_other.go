//go:build !linux

package udp

import "net/netip"

// Conn is the Linux batched socket; elsewhere it cannot be made.
type Conn struct{}

// Listen reports ErrUnsupported.
func Listen(netip.AddrPort, Options) (*Conn, error) { return nil, ErrUnsupported }

// FD is -1.
func (*Conn) FD() int { return -1 }

// LocalAddr is the zero address.
func (*Conn) LocalAddr() netip.AddrPort { return netip.AddrPort{} }

// BatchSize is 0.
func (*Conn) BatchSize() int { return 0 }

// Close does nothing.
func (*Conn) Close() error { return nil }

// Buffers reports ErrUnsupported.
func (*Conn) Buffers() (int, int, error) { return 0, 0, ErrUnsupported }

// Drops reports ErrUnsupported.
func (*Conn) Drops() (uint64, error) { return 0, ErrUnsupported }

// WriteBatch fails every message.
func (*Conn) WriteBatch(msgs []Message) WriteResult {
	return WriteResult{Failed: len(msgs), Err: ErrUnsupported}
}

// ReadBatch reports ErrUnsupported.
func (*Conn) ReadBatch([]Message) (int, error) { return 0, ErrUnsupported }

package netio

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/treasured/treasured/client"
	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// testClient is a thin socket wrapper around client.Session, the real
// client library's protocol state (sans-IO): the handshake with its
// retransmission and, when the client has credentials, the token in the
// Connect and the sealing and opening of every later datagram. Tests still
// build their own Inputs (enc) and read the decoded datagrams (dec, frame);
// the hostile tests send raw bytes on conn.
type testClient struct {
	conn  *net.UDPConn
	s     *client.Session
	codec *client.Codec
	enc   *schema.Encoder
	dec   *schema.Decoder // the session's: holds the last datagram read
	buf   []byte
	frame *schema.SnapshotFrame
	nonce uint64
	cred  client.Credentials // zero: a server run with NoAuth
	w     schema.WelcomeFrame
}

func newTestClient(server netip.AddrPort, nonce uint64) (*testClient, error) {
	return newTestClientFrom(server, netip.Addr{}, nonce)
}

// newTestClientFrom binds the client to local (any port), e.g. 127.x.y.z to
// stand for a host of its own; the zero Addr lets the kernel choose.
func newTestClientFrom(server netip.AddrPort, local netip.Addr, nonce uint64) (*testClient, error) {
	var laddr *net.UDPAddr
	if local.IsValid() {
		laddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0))
	}
	conn, err := net.DialUDP("udp", laddr, net.UDPAddrFromAddrPort(server))
	if err != nil {
		return nil, err
	}
	codec := client.NewCodec()
	return &testClient{
		conn: conn, codec: codec, enc: codec.Enc, dec: &codec.Dec, buf: make([]byte, 2048),
		frame: schema.NewSnapshotFrame(), nonce: nonce,
	}, nil
}

func (c *testClient) close() { c.conn.Close() }

// connectedClient is a test client (nonce) that completed its handshake
// (region, player key) with server, and is closed when tb's test ends.
func connectedClient(tb testing.TB, server netip.AddrPort, nonce uint64, region uint8, key uint64) *testClient {
	tb.Helper()
	return joinedClient(tb, server, nonce, client.Credentials{}, region, key)
}

// loggedInClient is a test client (nonce) that logged in to srv, which has a
// token key, as user (a token issued with srv's key), closed when tb's test
// ends.
func loggedInClient(tb testing.TB, srv *Server, nonce, user uint64) *testClient {
	tb.Helper()
	return joinedClient(tb, srv.Addr(), nonce, srvCredentials(tb, srv, user), 0, 0)
}

// joinedClient is a test client (nonce) with credentials cred (zero: a
// NoAuth server) that completed its handshake with server, closed when
// tb's test ends.
func joinedClient(tb testing.TB, server netip.AddrPort, nonce uint64, cred client.Credentials, region uint8, key uint64) *testClient {
	tb.Helper()
	c, err := newTestClient(server, nonce)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.close)
	c.cred = cred
	if err := c.handshake(region, key, time.Now().Add(20*time.Second)); err != nil {
		tb.Fatal(err)
	}
	return c
}

var errTimeout = errors.New("timeout")

// read returns the next datagram's body type (opened first when sealed), or
// errTimeout at deadline. Undecodable datagrams are an error: the server
// never sends one.
//
// ECONNREFUSED is skipped: Linux reports an ICMP port-unreachable on a
// connected UDP socket at the next read, before any datagram already queued.
// At shutdown the server's socket closes right after the Byes are sent, and
// an Input a slow client sent after that comes back as ICMP, ahead of the Bye
// waiting in its queue.
func (c *testClient) read(deadline time.Time) (wire.Body, error) {
	c.conn.SetReadDeadline(deadline)
	var n int
	var err error
	for range 100 {
		n, err = c.conn.Read(c.buf)
		if !errors.Is(err, syscall.ECONNREFUSED) {
			break
		}
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return 0, errTimeout
	}
	if err != nil {
		return 0, err
	}
	if c.s == nil {
		return 0, errors.New("read before the handshake")
	}
	body, err := c.s.Handle(c.buf[:n], 0)
	if err != nil {
		return 0, fmt.Errorf("server sent an undecodable datagram: %w", err)
	}
	return body, nil
}

// handshake runs Hello/Challenge/Connect/Welcome through client.Session,
// retransmitting every 300 ms until deadline, as a client on a lossy link
// must. key is the player key a NoAuth server takes; with credentials the
// token's user is the player.
func (c *testClient) handshake(region uint8, key uint64, deadline time.Time) error {
	c.s = client.NewSession(client.Config{
		Credentials: c.cred, PlayerKey: key, Region: region, Nonce: c.nonce,
		Codec: c.codec, Retransmit: 300 * time.Millisecond,
	}, client.Handlers{})
	start := time.Now()
	for {
		switch c.s.State() {
		case client.StateConnected:
			c.w = c.s.Welcome()
			return nil
		case client.StateRejected:
			return fmt.Errorf("rejected: %v", c.s.RejectReason())
		}
		now := time.Now()
		if now.After(deadline) {
			return fmt.Errorf("no answer to the handshake (state %v)", c.s.State())
		}
		if b := c.s.Handshake(int64(time.Since(start))); b != nil {
			if _, err := c.conn.Write(b); err != nil {
				return err
			}
		}
		_, err := c.read(now.Add(100 * time.Millisecond))
		if err != nil && err != errTimeout {
			return err
		}
	}
}

// send sends an encoded message, sealed with the session's keys when it
// has any.
func (c *testClient) send(b []byte) error {
	if c.s != nil {
		b = c.s.Seal(b)
	}
	_, err := c.conn.Write(b)
	return err
}

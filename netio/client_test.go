package netio

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// testClient is the smallest client that can play: the handshake with
// retransmission, inputs that repeat unacknowledged actions, and snapshot
// decoding. The real client library lives in client/; this one is here so
// netio's tests depend on nothing but the wire protocol.
type testClient struct {
	conn  *net.UDPConn
	enc   *schema.Encoder
	dec   schema.Decoder
	buf   []byte
	frame *schema.SnapshotFrame
	nonce uint64
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
	return &testClient{
		conn: conn, enc: schema.NewEncoder(), buf: make([]byte, 2048),
		frame: schema.NewSnapshotFrame(), nonce: nonce,
	}, nil
}

func (c *testClient) close() { c.conn.Close() }

var errTimeout = errors.New("timeout")

// read returns the next datagram's body type, or errTimeout at deadline.
// Undecodable datagrams are an error: the server never sends one.
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
	body, err := c.dec.Decode(c.buf[:n])
	if err != nil {
		return 0, fmt.Errorf("server sent an undecodable datagram: %w", err)
	}
	return body, nil
}

// handshake runs Hello/Challenge/Connect/Welcome, retransmitting each step
// every 300 ms until deadline, as a client on a lossy link must.
func (c *testClient) handshake(region uint8, key uint64, deadline time.Time) error {
	var ch schema.ChallengeFrame
	hello := append([]byte(nil), c.enc.Hello(&schema.HelloFrame{Version: schema.Version, ClientNonce: c.nonce})...)
	for {
		if time.Now().After(deadline) {
			return errors.New("no Challenge")
		}
		if _, err := c.conn.Write(hello); err != nil {
			return err
		}
		body, err := c.read(time.Now().Add(300 * time.Millisecond))
		if err == errTimeout {
			continue
		}
		if err != nil {
			return err
		}
		if body == wire.BodyChallenge && c.dec.ChallengeInto(&ch) && ch.ClientNonce == c.nonce {
			break
		}
	}
	conn := append([]byte(nil), c.enc.Connect(&schema.ConnectFrame{
		Version: schema.Version, Cookie: ch.Cookie, Expiry: ch.Expiry,
		ClientNonce: c.nonce, PlayerKey: key, Region: region,
	})...)
	for {
		if time.Now().After(deadline) {
			return errors.New("no Welcome")
		}
		if _, err := c.conn.Write(conn); err != nil {
			return err
		}
		body, err := c.read(time.Now().Add(300 * time.Millisecond))
		if err == errTimeout {
			continue
		}
		if err != nil {
			return err
		}
		switch body {
		case wire.BodyWelcome:
			if c.dec.WelcomeInto(&c.w) && c.w.ClientNonce == c.nonce {
				return nil
			}
		case wire.BodyReject:
			var r schema.RejectFrame
			c.dec.RejectInto(&r)
			if r.ClientNonce == c.nonce {
				return fmt.Errorf("rejected: %v", wire.EnumNamesRejectReason[wire.RejectReason(r.Reason)])
			}
		}
	}
}

func (c *testClient) send(b []byte) error {
	_, err := c.conn.Write(b)
	return err
}

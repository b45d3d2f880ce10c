package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// Options configure Dial. The zero value works against a local server.
type Options struct {
	Config   // PlayerKey, Region, Nonce (0 = random), LootWindow
	Handlers // called from Poll

	// Impair injects loss, duplication and reordering on this client's
	// sends and receives.
	Impair Impairment

	// HandshakeTimeout bounds Dial: a server that does not answer ends it
	// with ErrNoAnswer after this long. 0 means 3 s.
	HandshakeTimeout time.Duration
	// Retransmit is how often Hello and Connect are repeated while
	// unanswered (they are lost like any datagram): Config.Retransmit,
	// which it sets when that is 0. 0 means 200 ms.
	Retransmit time.Duration
	// AckEvery: when the application sends no Input for this long while
	// snapshots keep arriving, Poll sends one itself, carrying the ack (and
	// the unacknowledged actions, if any). The server resyncs a player that
	// acknowledges nothing for 10 s and deltas only against acknowledged
	// ticks, so a game idling in a menu must keep acking. 0 means 100 ms
	// (two ticks); negative turns it off.
	AckEvery time.Duration

	// Reconnect, when its Silence is set, makes Poll bring a lost session
	// back by itself (see Reconnect).
	Reconnect Reconnect

	// Renew returns fresh credentials for each reconnect: a connect token
	// is good for one connection, so with Config.Credentials set a client
	// that should reconnect by itself needs a way to get the next one from
	// its backend. Nil: reconnects present the first token again, which a
	// server with authentication refuses as replayed.
	Renew func() (Credentials, error)
}

// Reconnect is how a Client survives a server restart or a lost session.
// When the server has sent nothing for Silence, or ended the session with
// a Bye, Poll starts a new handshake with the same player key from the same
// socket (Session.Restart: the loot de-duplication and the unacknowledged
// actions are kept) and repeats it with exponential backoff, MinBackoff
// doubling up to MaxBackoff with +-25 % jitter so that a thousand clients
// of a restarted server do not come back in lockstep, until the server
// answers. The server resumes the player by its key.
type Reconnect struct {
	Silence    time.Duration // 0 disables reconnecting
	MinBackoff time.Duration // 0 means 100 ms
	MaxBackoff time.Duration // 0 means 3 s
}

// ErrNoAnswer is returned by Dial when the server did not complete the
// handshake within Options.HandshakeTimeout.
var ErrNoAnswer = errors.New("client: no answer to the handshake")

// RejectedError is returned by Dial when the server answered Reject.
type RejectedError struct{ Reason string }

func (e *RejectedError) Error() string { return "client: server rejected the connection: " + e.Reason }

// Client is one player over one UDP socket: a Session plus the socket, the
// optional impairment and a clock. All methods must be called from one
// goroutine; handlers run inside Poll.
type Client struct {
	conn  *net.UDPConn
	s     *Session
	start time.Time
	buf   [schema.MaxDatagram + 1]byte

	sendImp, recvImp *Impairer
	// deliverSend and deliverRecv are bound once so the impairers' calls
	// do not allocate.
	deliverSend, deliverRecv func([]byte)
	sendErr                  error
	handled                  int

	ackEvery  int64 // ns; <= 0: no automatic ack
	lastInput int64 // Now() of the last Input sent

	// Reconnection state (Options.Reconnect).
	recon      Reconnect
	rng        *rand.Rand
	lastRecv   time.Time
	lost       bool      // the session is being re-established
	nextTry    time.Time // next Hello/Connect while lost
	connSent   bool      // a Connect answered the current Challenge
	backoff    time.Duration
	reconnects int
	closed     bool
	renew      func() (Credentials, error)
}

// Dial opens a UDP socket to addr and performs the handshake (Hello,
// Challenge, Connect, Welcome), retransmitting as needed. It returns when
// connected, when the server rejects (*RejectedError), when ctx ends, or
// after HandshakeTimeout with ErrNoAnswer.
func Dial(ctx context.Context, addr string, opts Options) (*Client, error) {
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	conn, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		return nil, err
	}
	if opts.Nonce == 0 {
		opts.Nonce = rand.Uint64() | 1
	}
	if opts.Config.Retransmit <= 0 {
		opts.Config.Retransmit = opts.Retransmit
	}
	c := &Client{conn: conn, start: time.Now(), s: NewSession(opts.Config, opts.Handlers), recon: opts.Reconnect, ackEvery: int64(opts.AckEvery), renew: opts.Renew}
	if opts.AckEvery == 0 {
		c.ackEvery = int64(100 * time.Millisecond)
	}
	if c.recon.MinBackoff <= 0 {
		c.recon.MinBackoff = 100 * time.Millisecond
	}
	if c.recon.MaxBackoff <= 0 {
		c.recon.MaxBackoff = 3 * time.Second
	}
	c.rng = rand.New(rand.NewPCG(opts.Nonce, opts.PlayerKey))
	c.deliverSend = c.write
	c.deliverRecv = c.handle
	if opts.Impair.Active() {
		c.sendImp = NewImpairer(opts.Impair, 2*opts.Nonce)
		c.recvImp = NewImpairer(opts.Impair, 2*opts.Nonce+1)
	}
	if err := c.handshake(ctx, opts); err != nil {
		conn.Close()
		return nil, err
	}
	c.lastRecv = time.Now()
	return c, nil
}

func (c *Client) handshake(ctx context.Context, opts Options) error {
	timeout := opts.HandshakeTimeout
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	for {
		switch c.s.State() {
		case StateConnected:
			return nil
		case StateRejected:
			return &RejectedError{Reason: c.s.RejectReason().String()}
		}
		if b := c.s.Handshake(c.Now()); b != nil {
			c.send(b)
		}
		if c.sendErr != nil {
			return c.sendErr
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("%w from %s within %v (state %v)", ErrNoAnswer, c.conn.RemoteAddr(), timeout, c.s.State())
		}
		// Wait until the next retransmit is due, or less if the state
		// moves on.
		before := c.s.State()
		end := deadline
		if due, ok := c.s.HandshakeDue(); ok {
			if at := c.start.Add(time.Duration(due)); at.Before(end) {
				end = at
			}
		}
		for c.s.State() == before {
			more, err := c.receive(end)
			if err != nil {
				return err
			}
			if !more {
				break
			}
		}
	}
}

// Session is the protocol state (view, loot accounting, outbox, stats).
func (c *Client) Session() *Session { return c.s }

// View is Session().View().
func (c *Client) View() *View { return c.s.View() }

// Now is the client's clock: nanoseconds since Dial began. The times the
// handlers receive are on this clock.
func (c *Client) Now() int64 { return int64(time.Since(c.start)) }

// LocalAddr is the socket's local address.
func (c *Client) LocalAddr() net.Addr { return c.conn.LocalAddr() }

// Do queues an action for the next Input (see Session.Queue) and returns its
// seq. It does not send: call SendInput.
func (c *Client) Do(a schema.Action) (uint32, error) {
	seq, ok := c.s.Queue(a, c.Now())
	if !ok {
		return 0, fmt.Errorf("client: %d actions unacknowledged, outbox full", OutboxCap)
	}
	return seq, nil
}

func (c *Client) restart() {
	if c.renew != nil {
		// On failure the old token is presented; its refusal brings the
		// next restart, and with it the next try.
		if cr, err := c.renew(); err == nil {
			c.s.SetCredentials(cr)
		}
	}
	c.s.Restart(c.rng.Uint64() | 1)
	c.connSent = false
}

// Reconnects is the number of times the session was re-established.
func (c *Client) Reconnects() int { return c.reconnects }

// Connected reports whether the session is up (false while reconnecting).
func (c *Client) Connected() bool { return c.s.State() == StateConnected }

// SendInput sends an Input: the ack of the newest snapshot and the
// unacknowledged actions. While the session is being re-established it
// sends nothing: the actions stay queued and go with the first Input after.
func (c *Client) SendInput() error {
	if !c.Connected() {
		return nil
	}
	c.lastInput = c.Now()
	c.send(c.s.Input(c.lastInput))
	return c.takeSendErr()
}

// autoAck sends an Input when snapshots arrived that no Input acknowledged
// and the application sent none for AckEvery (Options.AckEvery).
func (c *Client) autoAck() {
	if c.ackEvery <= 0 || c.s.State() != StateConnected || !c.s.AckDue() {
		return
	}
	if now := c.Now(); now-c.lastInput >= c.ackEvery {
		c.lastInput = now
		c.s.Stats.AutoAcks++
		c.send(c.s.Input(now))
	}
}

// Ping sends a Ping; its Pong reaches Handlers.Pong from Poll.
func (c *Client) Ping() error {
	now := c.Now()
	c.send(c.s.Ping(now, now))
	return c.takeSendErr()
}

// Poll receives and handles datagrams for up to d and returns how many it
// handled (duplicates made by the impairment included). A datagram that
// fails verification is counted in Session().Stats and skipped.
func (c *Client) Poll(d time.Duration) (int, error) {
	c.handled = 0
	end := time.Now().Add(d)
	for {
		c.checkSession()
		stop := end
		if c.lost && c.nextTry.Before(stop) {
			stop = c.nextTry // wake up for the next attempt
		}
		more, err := c.receive(stop)
		c.autoAck()
		if err != nil {
			return c.handled, err
		}
		if !more && !time.Now().Before(end) {
			c.checkSession()
			return c.handled, nil
		}
	}
}

// checkSession notices a lost session and drives its re-establishment
// (Options.Reconnect); a no-op when reconnecting is off.
func (c *Client) checkSession() {
	if c.recon.Silence <= 0 || c.closed {
		return
	}
	now := time.Now()
	st := c.s.State()
	switch {
	case !c.lost && (st == StateClosed || now.Sub(c.lastRecv) > c.recon.Silence):
		c.lost, c.backoff, c.nextTry = true, c.recon.MinBackoff, now
		c.restart()
	case c.lost && st == StateConnected:
		c.lost = false
		c.reconnects++
		return
	case c.lost && st == StateRejected:
		// Full, shutting down, a cookie of the server's previous life:
		// start over at the next attempt.
		c.restart()
	}
	if !c.lost {
		return
	}
	// A fresh Challenge is answered at once; everything else waits for
	// the next attempt.
	challenged := c.s.State() == StateChallenged
	if (!challenged || c.connSent) && now.Before(c.nextTry) {
		return
	}
	if challenged {
		c.send(c.s.Connect())
		c.connSent = true
	} else {
		c.send(c.s.Hello())
	}
	_ = c.takeSendErr() // nobody listening yet is what reconnecting is for
	jitter := time.Duration(c.rng.Int64N(int64(c.backoff)/2+1)) - c.backoff/4
	c.nextTry = now.Add(c.backoff + jitter)
	c.backoff = min(2*c.backoff, c.recon.MaxBackoff)
}

// receive waits until end for one datagram and handles it; more is false
// when end passed first.
func (c *Client) receive(end time.Time) (more bool, err error) {
	for {
		if c.recvImp != nil {
			c.recvImp.Flush(c.Now(), c.deliverRecv)
			c.sendImp.Flush(c.Now(), c.deliverSend)
		}
		if err := c.conn.SetReadDeadline(end); err != nil {
			return false, err
		}
		n, err := c.conn.Read(c.buf[:])
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return false, nil
			}
			// ECONNREFUSED from an ICMP port unreachable: nobody listens
			// (yet). UDP has no connection to lose, so keep waiting.
			if isConnRefused(err) {
				if !time.Now().Before(end) {
					return false, nil
				}
				continue
			}
			return false, err
		}
		if c.recvImp != nil {
			c.recvImp.Pass(c.buf[:n], c.Now(), c.deliverRecv)
		} else {
			c.handle(c.buf[:n])
		}
		return true, nil
	}
}

func (c *Client) handle(b []byte) {
	c.handled++
	c.lastRecv = time.Now()
	// Errors are counted in the session's stats; one bad datagram must not
	// end the client.
	if body, _ := c.s.Handle(b, c.Now()); body == wire.BodyPathChallenge {
		// The server saw us at a new address (a NAT rebinding): prove
		// it at once, from here.
		if r := c.s.PathResponse(); r != nil {
			c.send(r)
		}
	}
}

// Close sends Bye and closes the socket.
func (c *Client) Close() error {
	c.closed = true
	if c.s.State() == StateConnected {
		// Twice: it is not acknowledged, and a lost Bye only means the
		// server times the session out 10 s later. Built twice: a sealed
		// datagram sent again is a replay the server drops.
		_, _ = c.conn.Write(c.s.Bye())
		_, _ = c.conn.Write(c.s.Bye())
	}
	return c.conn.Close()
}

// Rebind moves the client to a new local port, as a NAT rebinding or a
// change of network does. The session goes on: a server with
// authentication keeps streaming to the old address until the new one has
// answered its PathChallenge (Poll answers it), then moves the stream.
func (c *Client) Rebind() error {
	conn, err := net.DialUDP("udp", nil, c.conn.RemoteAddr().(*net.UDPAddr))
	if err != nil {
		return fmt.Errorf("client: rebind: %w", err)
	}
	old := c.conn
	c.conn = conn
	return old.Close()
}

func (c *Client) send(b []byte) {
	if c.sendImp != nil {
		c.sendImp.Pass(b, c.Now(), c.deliverSend)
		return
	}
	c.write(b)
}

func (c *Client) write(b []byte) {
	if _, err := c.conn.Write(b); err != nil && c.sendErr == nil && !isConnRefused(err) {
		c.sendErr = err
	}
}

func (c *Client) takeSendErr() error {
	err := c.sendErr
	c.sendErr = nil
	return err
}

func isConnRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

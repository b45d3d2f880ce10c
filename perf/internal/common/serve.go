package common

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// Flags are the flags every baseline takes.
type Flags struct {
	Listen, Admin string
}

// ParseFlags registers the common flags, parses the command line and exits
// with status 2 on a stray argument. A baseline registers its own flags
// before calling it.
func ParseFlags(name string) Flags {
	var f Flags
	flag.StringVar(&f.Listen, "listen", "127.0.0.1:7777", "UDP `address` for players")
	flag.StringVar(&f.Admin, "admin", "127.0.0.1:7778", "TCP `address` for /metrics and /debug/pprof")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "%s: unexpected argument %q\n", name, flag.Arg(0))
		os.Exit(2)
	}
	return f
}

// ListenUDP binds the players' socket at addr.
func ListenUDP(addr string) (*net.UDPConn, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	return net.ListenUDP("udp", ua)
}

// Serve runs a baseline until SIGINT or SIGTERM: the admin server for m on
// admin (exit 2 when it cannot bind), then start (which starts the server's goroutines on conn), and on
// the signal it closes conn, which ends them.
func Serve(what, admin string, m *Metrics, conn *net.UDPConn, start func()) {
	if err := ServeAdmin(what, admin, m); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", what, err)
		os.Exit(2)
	}
	start()
	log.Printf("%s listening on %s, admin %s", what, conn.LocalAddr(), admin)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	conn.Close()
}

// ReadLoop is a baseline's one reader: it reads conn into buf, decodes each
// datagram with dec and hands it to handle with its length and its sender
// (an IPv4 sender unmapped, so it compares equal to the address a client
// dialed). A datagram that does not decode is counted as malformed. It
// returns when conn is closed, after setting closed.
func ReadLoop(conn *net.UDPConn, buf []byte, dec *schema.Decoder, m *Metrics, closed *atomic.Bool,
	handle func(body wire.Body, n int, from netip.AddrPort)) {
	for {
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				closed.Store(true)
				return
			}
			continue
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		body, err := dec.Decode(buf[:n])
		if err != nil {
			m.Drops[DropMalformed].Add(1)
			continue
		}
		handle(body, n, from)
	}
}

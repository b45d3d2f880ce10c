package netio

import (
	"context"
	"sync"
)

// backend is the seam between the Server and a receive path: its event
// loops, their sockets, and the duplicates of a socket the fan-out sends
// on. The Server holds one and never asks which; each implementation owns
// its own state (backend_gnet.go, backend_mmsg.go, backend_poll.go).
type backend interface {
	// start binds the loops' sockets and starts serving them. It returns
	// once they serve, or why they cannot.
	start() error
	// dup returns a new descriptor of the first loop's socket for a
	// fan-out worker to send on (its caller closes it). Valid between a
	// successful start and close.
	dup() (int, error)
	// between is the fan-out's hook between two send batches: where the
	// tick goroutine shares its CPU with the receive path, one batch of
	// what waits on the socket is handled there, so a Ping waits at most
	// one send batch (docs/ARCHITECTURE.md "Data flow"). Nil elsewhere.
	between() func()
	// catchUp is the tick's hook before it drains the rings: where the
	// loops pace their reads (Config.RecvPace), what waits on their
	// sockets is received first, so the tick holds every Input that
	// arrived before it began. Nil where loops read at each arrival.
	catchUp() func()
	// sweep asks every loop to end its idle sessions; the housekeeper
	// calls it once a second. Loops that sweep on their own ignore it.
	sweep()
	// stop asks the loops to stop (Shutdown); done is closed once they have.
	stop(ctx context.Context) error
	// done is closed when the loops have returned, after stop or on their
	// own; err then says why, if they stopped on their own.
	done() <-chan struct{}
	err() error
	// close releases the loops' sockets, after the final fan-out.
	close()
}

// newBackend builds the receive path cfg.Backend names (normalize has
// checked it and resolved BackendAuto).
func newBackend(s *Server) backend {
	switch s.cfg.Backend {
	case BackendMmsg:
		return newMmsgBackend(s)
	case BackendPoll:
		return newPollBackend(s)
	}
	return newGnetBackend(s)
}

// startLoops runs run(i) for i < n, each on a goroutine of its own, and
// closes done once all have returned.
func startLoops(n int, run func(i int), done chan struct{}) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run(i)
		}()
	}
	go func() {
		wg.Wait()
		close(done)
	}()
}

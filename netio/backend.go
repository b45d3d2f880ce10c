package netio

import "context"

// backend is the seam between the Server and a receive path: its event
// loops, their sockets, and the duplicates of a socket the fan-out sends
// on. The Server holds one and never asks which; each implementation owns
// its own state (backend_gnet.go, backend_mmsg.go).
type backend interface {
	// start binds the loops' sockets, builds the fan-out on duplicates of
	// the first (Server.bootFanout, given the backend's dup) and starts the
	// loops. It returns once they serve, or why they cannot.
	start() error
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
// checked it).
func newBackend(s *Server) backend {
	if s.cfg.Backend == BackendMmsg {
		return newMmsgBackend(s)
	}
	return newGnetBackend(s)
}

// Package agonestest is a fake Agones SDK sidecar for tests: an httptest
// server that records every REST call in order and answers like the real
// one ("{}" and 200), or with a scripted failure.
package agonestest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

// Call is one request the sidecar received.
type Call struct {
	Method, Path, ContentType, Body string
}

// String is "METHOD /path body", the form tests compare.
func (c Call) String() string { return c.Method + " " + c.Path + " " + c.Body }

// Sidecar is the fake. Its URL is the base URL a Client takes.
type Sidecar struct {
	*httptest.Server

	mu    sync.Mutex
	calls []Call
	fail  map[string]int // path -> how many more calls of it answer 503
	seen  chan struct{}  // one token per call, for waiting without sleeping
}

// New starts a fake sidecar; Close it when done.
func New() *Sidecar {
	s := &Sidecar{fail: map[string]int{}, seen: make(chan struct{}, 1024)}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

func (s *Sidecar) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	s.mu.Lock()
	s.calls = append(s.calls, Call{r.Method, r.URL.Path, r.Header.Get("Content-Type"), strings.TrimSpace(string(b))})
	failing := s.fail[r.URL.Path] > 0
	if failing {
		s.fail[r.URL.Path]--
	}
	s.mu.Unlock()
	select {
	case s.seen <- struct{}{}:
	default:
	}
	if failing {
		http.Error(w, `{"error":"sidecar not ready"}`, http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, "{}")
}

// FailNext makes the next n calls to path answer 503, as a sidecar that
// is still starting does.
func (s *Sidecar) FailNext(path string, n int) {
	s.mu.Lock()
	s.fail[path] += n
	s.mu.Unlock()
}

// Calls returns the calls so far, in arrival order.
func (s *Sidecar) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Seen delivers one token per call received (dropped past 1024 unread).
func (s *Sidecar) Seen() <-chan struct{} { return s.seen }

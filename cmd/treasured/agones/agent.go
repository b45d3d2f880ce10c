package agones

import (
	"context"
	"log/slog"
	"strconv"
	"time"
)

// Labels the Agent sets (Agones prefixes each with "agones.dev/sdk-"), so
// an allocation can select, e.g., `agones.dev/sdk-treasured-region: eu-west`
// with free capacity.
const (
	LabelRegion       = "treasured-region"        // --agones-region, the deployment's region name
	LabelWorldRegions = "treasured-world-regions" // the game regions (maps) this server hosts
	LabelPlayers      = "treasured-players"       // players connected
	LabelCapacity     = "treasured-capacity"      // free player slots
)

// Status is what the Agent reports, sampled at every beat.
type Status struct {
	// Healthy is true while the tick advances on time (netio's
	// Server.Health, the rule of /healthz); Reason says why not.
	Healthy bool
	Reason  string
	Players int
	// Capacity is the number of free player slots.
	Capacity int
}

// Agent drives the Agones lifecycle of one game server: Ready once, the
// static labels, then at every beat a health ping if the server is healthy
// and the player labels when they changed. It owns no timer: Beats is
// injected (a time.Ticker's channel in the server, a test's own channel),
// so tests step it beat by beat without sleeping.
type Agent struct {
	Client *Client
	// Beats paces everything after the first Ready attempt: Ready retries
	// (the sidecar may start after the game server), health pings, label
	// updates. The server uses a 2 s ticker, well inside Agones' default
	// health period of 5 s.
	Beats <-chan time.Time
	// Status is called at every beat, on the Agent's goroutine.
	Status func() Status
	// Region and WorldRegions are the static labels; Region "" is not set.
	Region       string
	WorldRegions int
	// LabelEvery is how many beats at least pass between two updates of
	// the player labels: every label write is a Kubernetes API update, so
	// they follow the count loosely. 0 means 5.
	LabelEvery int
	Log        *slog.Logger
}

// Run performs the lifecycle until ctx ends, then returns ErrStopped. Errors
// of single calls are logged (rate-limited to changes of state) and retried
// at the next beat; none ends Run.
func (a *Agent) Run(ctx context.Context) error {
	log := a.Log
	if log == nil {
		log = slog.Default()
	}
	every := a.LabelEvery
	if every <= 0 {
		every = 5
	}
	st := agentState{log: log}

	ready := a.tryReady(ctx, &st)
	for {
		select {
		case <-ctx.Done():
			return ErrStopped
		case <-a.Beats:
		}
		if !ready {
			ready = a.tryReady(ctx, &st)
			continue
		}
		s := a.Status()
		a.health(ctx, &st, s)
		st.sinceLabels++
		if st.sinceLabels >= every && (s.Players != st.players || s.Capacity != st.capacity) {
			a.playerLabels(ctx, &st, s)
		}
	}
}

// agentState is the Agent's memory between beats; Run's goroutine only.
type agentState struct {
	log               *slog.Logger
	withheld          bool   // the last beat withheld the health ping
	lastErr           string // last call error logged, to log each new one once
	players, capacity int    // last values labelled (-1: never)
	sinceLabels       int    // beats since the player labels were set
}

func (st *agentState) fail(what string, err error) {
	if msg := err.Error(); msg != st.lastErr {
		st.lastErr = msg
		st.log.Warn("agones: call failed; retrying at the next beat", "call", what, "err", err)
	}
}

// tryReady sends Ready and, once it succeeds, the static labels and the
// first player labels.
func (a *Agent) tryReady(ctx context.Context, st *agentState) bool {
	if err := a.Client.Ready(ctx); err != nil {
		st.fail("ready", err)
		return false
	}
	st.log.Info("agones: game server ready")
	if a.Region != "" {
		if err := a.Client.SetLabel(ctx, LabelRegion, a.Region); err != nil {
			st.fail("label", err)
		}
	}
	if err := a.Client.SetLabel(ctx, LabelWorldRegions, strconv.Itoa(a.WorldRegions)); err != nil {
		st.fail("label", err)
	}
	st.players, st.capacity = -1, -1
	a.playerLabels(ctx, st, a.Status())
	return true
}

// health pings while the server is healthy. A withheld ping is logged once
// per unhealthy spell, not every beat.
func (a *Agent) health(ctx context.Context, st *agentState, s Status) {
	if !s.Healthy {
		if !st.withheld {
			st.log.Warn("agones: server unhealthy; health pings stop until it recovers", "reason", s.Reason)
		}
		st.withheld = true
		return
	}
	if st.withheld {
		st.log.Info("agones: server healthy again; health pings resume")
		st.withheld = false
	}
	if err := a.Client.Health(ctx); err != nil {
		st.fail("health", err)
	}
}

func (a *Agent) playerLabels(ctx context.Context, st *agentState, s Status) {
	st.sinceLabels = 0
	if err := a.Client.SetLabel(ctx, LabelPlayers, strconv.Itoa(s.Players)); err != nil {
		st.fail("label", err)
		return
	}
	if err := a.Client.SetLabel(ctx, LabelCapacity, strconv.Itoa(s.Capacity)); err != nil {
		st.fail("label", err)
		return
	}
	st.players, st.capacity = s.Players, s.Capacity
}

package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/treasured/treasured/cmd/treasured/agones"
	"github.com/treasured/treasured/netio"
)

// checkAgones resolves --agones against the environment into o.agonesBase
// and checks the other Agones flags: a usage error (exit 2) before anything
// starts.
func checkAgones(o *options, getenv func(string) string) error {
	base, err := agones.Resolve(o.agones, getenv)
	if err != nil {
		return usage("%w", err)
	}
	if !agones.ValidLabelValue(o.agonesRegion) {
		return usage("--agones-region %q: want a Kubernetes label value (at most 63 of a-z A-Z 0-9 - _ ., alphanumeric at both ends)", o.agonesRegion)
	}
	if o.agonesBeat <= 0 {
		return usage("--agones-health-every %v: must be positive", o.agonesBeat)
	}
	o.agonesBase = base
	return nil
}

// agonesStatus is what the Agent reports for srv: healthy by the rule of
// /healthz (the tick advancing on time, not draining), players and free
// slots.
func agonesStatus(srv *netio.Server, maxPlayers int) func() agones.Status {
	return func() agones.Status {
		ok, why := srv.Health()
		players := int(srv.Sessions())
		return agones.Status{Healthy: ok, Reason: why, Players: players, Capacity: max(0, maxPlayers-players)}
	}
}

// startAgones runs the Agones lifecycle for srv when --agones resolved to a
// sidecar: Ready now that the game port listens, then health pings and
// labels. The returned stop ends it; given the fatal error that stops the
// server, it also asks Agones to shut the game server down, so the pod is
// replaced rather than left Unhealthy.
func startAgones(o *options, srv *netio.Server, log *slog.Logger) (stop func(fatal error)) {
	if o.agonesBase == "" {
		return func(error) {}
	}
	c := agones.NewClient(o.agonesBase, nil)
	beats := time.NewTicker(o.agonesBeat)
	ctx, cancel := context.WithCancel(context.Background())
	a := &agones.Agent{
		Client: c, Beats: beats.C, Status: agonesStatus(srv, o.maxPlayers),
		Region: o.agonesRegion, WorldRegions: o.regions, Log: log,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = a.Run(ctx)
	}()
	log.Info("agones: SDK sidecar", "url", o.agonesBase, "health_every", o.agonesBeat)
	return func(fatal error) {
		cancel()
		beats.Stop()
		<-done
		if fatal == nil {
			return
		}
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		if err := c.Shutdown(sctx); err != nil {
			log.Error("agones: shutdown request failed", "err", fmt.Errorf("after %w: %w", fatal, err))
			return
		}
		log.Info("agones: shutdown requested", "cause", fatal)
	}
}

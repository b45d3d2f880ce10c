package netio

import "github.com/treasured/treasured/engine"

// EngineWorld adapts the engine to the World the tick goroutine drives.
func EngineWorld(w *engine.World) World { return engineWorld{w} }

type engineWorld struct{ *engine.World }

var _ World = engineWorld{}

func (e engineWorld) NewSnapshotter() Snapshotter {
	s := engine.NewScratch()
	// A sealed snapshot carries 32 bytes of authentication; they come out
	// of the snapshot's budget, with or without tokens, so the two modes
	// send the same game data.
	s.Budget = maxSealedBody
	return &engineSnapshotter{w: e.World, s: s}
}

// engineSnapshotter binds one fan-out worker's Scratch to the world.
type engineSnapshotter struct {
	w *engine.World
	s *engine.Scratch
}

func (e *engineSnapshotter) Snapshot(player int32) []byte { return e.w.Snapshot(player, e.s) }

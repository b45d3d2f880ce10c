package netio

import "github.com/treasured/treasured/engine"

// EngineWorld adapts the engine to the World the tick goroutine drives.
func EngineWorld(w *engine.World) World { return engineWorld{w} }

type engineWorld struct{ *engine.World }

var _ World = engineWorld{}

func (e engineWorld) NewSnapshotter() Snapshotter {
	return &engineSnapshotter{w: e.World, s: engine.NewScratch()}
}

// engineSnapshotter binds one fan-out worker's Scratch to the world.
type engineSnapshotter struct {
	w *engine.World
	s *engine.Scratch
}

func (e *engineSnapshotter) Snapshot(player int32) []byte { return e.w.Snapshot(player, e.s) }

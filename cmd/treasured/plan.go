package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/treasured/treasured/affinity"
)

// printPlan is --plan: the core layout the server would start with, given
// the same core flags, so an operator can check it before starting (or, with
// --plan-sysfs, on a recorded /sys tree of a machine they are sizing). It
// starts nothing. A layout the planner refuses is a usage error (exit 2),
// exactly as it would be at start-up.
func printPlan(o *options, w io.Writer) int {
	if err := writePlan(o, w); err != nil {
		fmt.Fprintln(w, "treasured: --plan:", err)
		return exitUsage
	}
	return exitOK
}

func writePlan(o *options, w io.Writer) error {
	eng, ioCPUs, err := coreFlags(o)
	if err != nil {
		return err
	}
	source := "this host's /sys, restricted to the CPUs this process may use"
	var topo affinity.Topology
	if o.planSysfs != "" {
		source = "the sysfs tree " + o.planSysfs
		topo, err = affinity.ReadTopology(o.planSysfs)
	} else {
		topo, err = affinity.HostTopology()
	}
	if err != nil {
		return usage("CPU topology: %w", err)
	}
	cl, err := layoutFor(topo, eng, ioCPUs, o)
	if err != nil {
		return err
	}
	l := cl.Layout
	var b strings.Builder
	fmt.Fprintf(&b, "core layout (topology from %s):\n", source)
	fmt.Fprintf(&b, "  machine  %s\n", topo)
	fmt.Fprintf(&b, "  engine   %-14s the tick goroutine's thread (NUMA node %d)\n", affinity.FormatCPUList(l.Engine), l.Node)
	fmt.Fprintf(&b, "  io       %-14s %d event loop(s)\n", affinity.FormatCPUList(l.IO), l.Loops)
	fan := "-"
	if len(cl.fanout) > 0 {
		fan = affinity.FormatCPUList(cl.fanout)
	}
	fmt.Fprintf(&b, "  fanout   %-14s %d extra fan-out worker(s) (--fanout-workers %d)\n", fan, max(0, o.fanoutWorkers-1), o.fanoutWorkers)
	fmt.Fprintf(&b, "  os       %-14s left to the kernel, interrupts and the Go runtime's other threads\n", affinity.FormatCPUList(l.OS))
	for _, n := range l.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	fmt.Fprintf(&b, "flags that fix this layout: --engine-cores %s --io-cores %s --io-loops %d\n",
		affinity.FormatCPUList(l.Engine), affinity.FormatCPUList(l.IO), l.Loops)
	if !o.pin {
		b.WriteString("--pin=false: threads would not be pinned to these CPUs\n")
	}
	_, err = io.WriteString(w, b.String())
	return err
}

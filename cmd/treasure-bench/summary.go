package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// The first run should read like a tool people already use: one screen
// with what ran, the latency table, the exactly-once figures, the server's
// health and a verdict that says what to do when it is INVALID. The full
// report (wrk2's percentile spectra), the JSON and the plot go to files
// (--results DIR), or the full report to stdout with --latency, as wrk2
// prints its spectrum only when asked.

// Result files written into --results DIR.
const (
	resultText = "report.txt"
	resultJSON = "report.json"
	resultPlot = "latency.png"
)

// WriteSummary prints the one-screen report; files are the result files
// written, named at the end.
func (rep *Report) WriteSummary(w io.Writer, files []string) {
	label := rep.Label
	if label == "" {
		label = "server"
	}
	fmt.Fprintf(w, "treasure-bench: %s at %s, %d players x (%g inputs + %g pings)/s, %gs measured after %gs warm-up\n",
		label, rep.Addr, rep.Players, rep.RateInputs, rep.RatePings, rep.DurationSec, rep.WarmupSec)
	fmt.Fprintf(w, "  connected %d/%d; %d socket(s), %d player(s) each; tick %.0f ms; tick clock: %s",
		rep.Connected, rep.Players, rep.Generator.Sockets, rep.Generator.PerSocket, rep.TickPeriodMs, rep.TickClock.Source)
	if rep.Generator.BusyPoll {
		fmt.Fprint(w, "; busy-polling (the generator's CPU reads full)")
	}
	if rep.Impaired {
		fmt.Fprintf(w, "; impairment %s", rep.Impairment)
	}
	fmt.Fprintf(w, "\n\n  %-13s %10s %10s %10s %10s   (ms, coordinated-omission corrected)\n", "", "p50", "p99", "p99.9", "max")
	for _, m := range []struct {
		name string
		s    Summary
	}{{"rtt", rep.RTT.Corrected}, {"apply", rep.Apply.Corrected}, {"tick_to_wire", rep.TickToWire.Corrected}} {
		fmt.Fprintf(w, "  %-13s %10.3f %10.3f %10.3f %10.3f\n", m.name, m.s.P["50"], m.s.P["99"], m.s.P["99.9"], m.s.Max)
	}
	s, l := rep.Snapshots, rep.Loot
	fmt.Fprintf(w, "\n  snapshots     lost %d of %d (%.3f%%), duplicate arrivals %d\n", s.Lost, s.Expected, s.LossPct, s.DupArrivals)
	fmt.Fprintf(w, "  loot          duplicates shown %d, lost_loot %d of %d own openings\n", l.Duplicates, l.LostLoot, l.OwnExpected)
	fmt.Fprintf(w, "  actions       %d applied of %d scheduled, %d never applied\n", rep.Actions.Applied, rep.Actions.Scheduled, rep.Actions.Unapplied)
	rep.writeHealth(w)
	g := rep.Generator
	fmt.Fprintf(w, "  generator     send lag p99 %.3f ms (max %.3f), receive delay p99 %.3f ms, cpu %.0f%% of a core (%.2f µs per datagram), own socket drops %d, EAGAIN %d\n",
		rep.SendLag.P["99"], rep.SendLag.Max, rep.RecvDelay.P["99"], g.CPUPercent, g.CPUPerDatagram, g.ClientDrops, g.SendEAGAIN)
	rep.writeVerdict(w)
	if len(files) > 0 {
		fmt.Fprintf(w, "results: %s\n", strings.Join(files, ", "))
	} else {
		fmt.Fprintf(w, "(--latency for the full percentile spectra, --results DIR to keep them with the JSON and a plot)\n")
	}
}

// writeVerdict prints the notes, then VALID or INVALID with each reason
// and what to do about it.
func (rep *Report) writeVerdict(w io.Writer) {
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if rep.Valid {
		fmt.Fprintf(w, "\nverdict: VALID\n")
		return
	}
	fmt.Fprintf(w, "\nverdict: INVALID (the generator, not the server, decided these numbers)\n")
	for _, r := range rep.Invalid {
		fmt.Fprintf(w, "  because %s\n", r)
	}
	for _, n := range rep.NextSteps {
		fmt.Fprintf(w, "  next: %s\n", n)
	}
}

// writeHealth is the server's line: what its /metrics said over the window.
func (rep *Report) writeHealth(w io.Writer) {
	srv := rep.Server
	if srv == nil || !srv.Scraped {
		why := "no --admin"
		if srv != nil {
			why = srv.Error
		}
		fmt.Fprintf(w, "  server        /metrics not read (%s); kernel drops on its socket %d\n", why, rep.Kernel.ServerDrops)
		return
	}
	gc := "gc pauses: not exported"
	if h := srv.GCPauses; h != nil && h.Count > 0 {
		gc = fmt.Sprintf("gc %.0f cycles, pause max %s", srv.GCCycles, bucketBound(h.MaxLE))
	} else if h != nil {
		gc = fmt.Sprintf("gc %.0f cycles, no pauses", srv.GCCycles)
	}
	fmt.Fprintf(w, "  server        overruns %.0f, drops %.0f (+%d in its socket), %s, cpu %.0f%% of a core\n",
		srv.Overruns, srv.Drops, rep.Kernel.ServerDrops, gc, srv.CPUPercent)
}

func bucketBound(le float64) string {
	if math.IsInf(le, 1) || le < 0 {
		return "above the top bucket"
	}
	return fmt.Sprintf("<= %.3f ms", le)
}

// writeResults writes the full text report, the JSON and the plot into dir
// (created) and returns their paths.
func writeResults(dir string, rep *Report) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("--results: %w", err)
	}
	var files []string
	write := func(name string, f func(io.Writer) error) error {
		path := filepath.Join(dir, name)
		out, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("--results: %w", err)
		}
		err = f(out)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("--results %s: %w", path, err)
		}
		files = append(files, path)
		return nil
	}
	if err := write(resultText, func(w io.Writer) error { rep.WriteText(w, false); return nil }); err != nil {
		return files, err
	}
	if err := write(resultJSON, rep.WriteJSON); err != nil {
		return files, err
	}
	path := filepath.Join(dir, resultPlot)
	if err := WritePlot(path, rep); err != nil {
		return files, fmt.Errorf("--results %s: %w", path, err)
	}
	return append(files, path), nil
}

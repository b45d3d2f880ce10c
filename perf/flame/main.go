// Command flame turns `perf script` output into a flame graph (SVG), so a
// `perf record -e cpu-clock -g` profile can be read without tools this
// machine does not have (Brendan Gregg's FlameGraph scripts are not
// packaged). It folds each sample's stack (root first, offsets stripped,
// kernel and user frames alike), then draws one box per frame, as wide as
// its samples, children above their callers, siblings in name order.
//
//	perf script -i perf.data | flame -title "treasured, 4200 players" > flame.svg
//	flame -folded < perf.script     # the folded stacks, one per line
package main

import (
	"bufio"
	"flag"
	"fmt"
	"hash/fnv"
	"html"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Fold parses perf script text and returns stack -> samples, stacks as
// "comm;root;...;leaf".
func Fold(r io.Reader) (map[string]int, error) {
	out := map[string]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	var comm string
	var frames []string
	flush := func() {
		if comm == "" {
			return
		}
		parts := []string{comm}
		for i := len(frames) - 1; i >= 0; i-- {
			parts = append(parts, frames[i])
		}
		out[strings.Join(parts, ";")]++
		comm, frames = "", frames[:0]
	}
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		if line[0] != ' ' && line[0] != '\t' { // sample header: comm pid [cpu] time: period event:
			flush()
			f := strings.Fields(line)
			if len(f) == 0 {
				continue
			}
			comm = f[0]
			continue
		}
		// frame: addr symbol+0xoff (dso)
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		sym := strings.Join(f[1:], " ")
		if i := strings.LastIndex(sym, " ("); i >= 0 {
			dso := sym[i+2 : len(sym)-1]
			sym = sym[:i]
			if sym == "[unknown]" {
				sym = "[" + baseName(dso) + "]"
			}
		}
		if i := strings.LastIndex(sym, "+0x"); i > 0 {
			sym = sym[:i]
		}
		frames = append(frames, strings.ReplaceAll(sym, ";", ":"))
	}
	flush()
	return out, sc.Err()
}

func baseName(p string) string {
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[i+1:]
	}
	return p
}

type node struct {
	name     string
	value    int
	children map[string]*node
}

func tree(folded map[string]int) *node {
	root := &node{name: "all", children: map[string]*node{}}
	for stack, n := range folded {
		root.value += n
		cur := root
		for _, fr := range strings.Split(stack, ";") {
			c := cur.children[fr]
			if c == nil {
				c = &node{name: fr, children: map[string]*node{}}
				cur.children[fr] = c
			}
			c.value += n
			cur = c
		}
	}
	return root
}

const (
	width    = 1200.0
	frameH   = 16.0
	fontSize = 11
)

func depth(n *node) int {
	d := 0
	for _, c := range n.children {
		d = max(d, depth(c))
	}
	return d + 1
}

// color gives each frame name a stable warm colour, and the Go runtime's
// frames a blue one so that scheduler and GC time stand out.
func color(name string) string {
	h := fnv.New32a()
	h.Write([]byte(name))
	v := h.Sum32()
	r, g, b := 205+v%50, 80+(v>>8)%120, 40+(v>>16)%40
	if strings.HasPrefix(name, "runtime.") {
		r, g, b = 120+v%40, 170+(v>>8)%60, 220
	}
	return fmt.Sprintf("rgb(%d,%d,%d)", r, g, b)
}

// SVG writes the flame graph of folded stacks.
func SVG(w io.Writer, folded map[string]int, title string) error {
	root := tree(folded)
	if root.value == 0 {
		return fmt.Errorf("no samples")
	}
	d := depth(root)
	height := float64(d)*frameH + 60
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, `<?xml version="1.0" standalone="no"?>
<svg version="1.1" width="%.0f" height="%.0f" xmlns="http://www.w3.org/2000/svg" font-family="Verdana" font-size="%d">
<rect x="0" y="0" width="100%%" height="100%%" fill="#fafafa"/>
<text x="%.0f" y="20" text-anchor="middle" font-size="15">%s (%d samples)</text>
`, width+20, height, fontSize, (width+20)/2, html.EscapeString(title), root.value)
	var draw func(n *node, x float64, level int)
	draw = func(n *node, x float64, level int) {
		wd := width * float64(n.value) / float64(root.value)
		if wd < 0.1 {
			return
		}
		y := height - 20 - float64(level+1)*frameH
		pct := 100 * float64(n.value) / float64(root.value)
		fmt.Fprintf(bw, `<g><title>%s (%d samples, %.2f%%)</title><rect x="%.2f" y="%.1f" width="%.2f" height="%.1f" fill="%s" rx="2"/>`,
			html.EscapeString(n.name), n.value, pct, x+10, y, wd, frameH-1, color(n.name))
		if chars := int(wd / 7); chars >= 3 {
			label := n.name
			if len(label) > chars {
				label = label[:chars-2] + ".."
			}
			fmt.Fprintf(bw, `<text x="%.2f" y="%.1f">%s</text>`, x+13, y+frameH-4, html.EscapeString(label))
		}
		fmt.Fprintln(bw, "</g>")
		names := make([]string, 0, len(n.children))
		for k := range n.children {
			names = append(names, k)
		}
		sort.Strings(names)
		cx := x
		for _, k := range names {
			c := n.children[k]
			draw(c, cx, level+1)
			cx += width * float64(c.value) / float64(root.value)
		}
	}
	draw(root, 0, 0)
	fmt.Fprintln(bw, "</svg>")
	return bw.Flush()
}

func main() {
	title := flag.String("title", "cpu-clock", "title of the graph")
	foldedOut := flag.Bool("folded", false, "print the folded stacks instead of the SVG")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "flame: reads perf script text on stdin; unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}
	folded, err := Fold(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "flame:", err)
		os.Exit(1)
	}
	if *foldedOut {
		keys := make([]string, 0, len(folded))
		for k := range folded {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Println(k + " " + strconv.Itoa(folded[k]))
		}
		return
	}
	if err := SVG(os.Stdout, folded, *title); err != nil {
		fmt.Fprintln(os.Stderr, "flame:", err)
		os.Exit(1)
	}
}

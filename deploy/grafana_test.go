package deploy

import (
	"context"
	crand "crypto/rand"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/treasured/treasured/engine"
	"github.com/treasured/treasured/engine/journal"
	"github.com/treasured/treasured/netio"
	"github.com/treasured/treasured/netio/auth"
	"github.com/treasured/treasured/netio/metricname"
)

// dashboardPanel is the part of a Grafana panel the test reads; rows nest
// panels.
type dashboardPanel struct {
	Title   string           `json:"title"`
	Type    string           `json:"type"`
	Panels  []dashboardPanel `json:"panels"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

type dashboard struct {
	Title  string           `json:"title"`
	Panels []dashboardPanel `json:"panels"`
}

// query is one PromQL expression of the dashboard and where it is.
type query struct{ panel, expr string }

func dashboardQueries(t *testing.T) []query {
	t.Helper()
	b, err := os.ReadFile("grafana/treasured.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("grafana/treasured.json: %v", err)
	}
	var qs []query
	var walk func([]dashboardPanel)
	walk = func(ps []dashboardPanel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("panel %q has a target without a query", p.Title)
				}
				qs = append(qs, query{p.Title, tg.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	if len(qs) == 0 {
		t.Fatal("the dashboard has no queries")
	}
	return qs
}

// Metric names are the identifiers of our families; PromQL functions,
// keywords and label names never start with these prefixes.
var metricName = regexp.MustCompile(`\b(?:treasured|process|go)_[a-zA-Z0-9_]+\b`)

// byLabels finds the labels of "by (a, b)" and "without (a)" clauses.
var byLabels = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)

// scrapeServer starts a real server in-process on loopback, with a journal
// so the journal metrics exist, lets it tick, and returns its /metrics
// parsed.
func scrapeServer(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	ecfg := engine.DefaultConfig()
	ecfg.MaxPlayers = 64
	w, err := engine.New(ecfg)
	if err != nil {
		t.Fatal(err)
	}
	jw, err := journal.Create(filepath.Join(t.TempDir(), "journal"), w.Config(), w.Tick(), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	key, err := auth.GenerateKey(1, crand.Reader) // tokens on, as in production
	if err != nil {
		t.Fatal(err)
	}
	srv, err := netio.New(netio.Config{Addr: "127.0.0.1:0", Loops: 1, TokenKey: key,
		Journal: jw, Logger: slog.New(slog.DiscardHandler)}, netio.EngineWorld(w))
	if err != nil {
		t.Fatal(err)
	}
	reg := netio.NewRegistry(srv)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	admin := httptest.NewServer(netio.AdminHandler(srv, reg))
	defer admin.Close()

	deadline := time.Now().Add(60 * time.Second)
	for srv.Tick() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no tick within 60 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp, err := http.Get(admin.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// family resolves a name used in a query to the exported family: the name
// itself, or a histogram or summary family for its _bucket, _sum and
// _count series.
func family(fams map[string]*dto.MetricFamily, name string) (*dto.MetricFamily, bool) {
	if f, ok := fams[name]; ok {
		return f, true
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suf)
		if !ok {
			continue
		}
		f, ok := fams[base]
		if !ok {
			continue
		}
		if t := f.GetType(); t == dto.MetricType_HISTOGRAM || (t == dto.MetricType_SUMMARY && suf != "_bucket") {
			return f, true
		}
	}
	return nil, false
}

// labelsOf lists the label names a family's samples carry ("le" included
// for histograms).
func labelsOf(f *dto.MetricFamily) []string {
	var ls []string
	if f.GetType() == dto.MetricType_HISTOGRAM {
		ls = append(ls, "le")
	}
	for _, m := range f.GetMetric() {
		for _, lp := range m.GetLabel() {
			if !slices.Contains(ls, lp.GetName()) {
				ls = append(ls, lp.GetName())
			}
		}
	}
	return ls
}

// TestDashboardMetricsExported: every metric the dashboard queries is
// exported by a running server, with the labels its queries group by
// (instance and job are added by Prometheus at scrape time).
func TestDashboardMetricsExported(t *testing.T) {
	qs := dashboardQueries(t)
	fams := scrapeServer(t)
	for _, q := range qs {
		names := metricName.FindAllString(q.expr, -1)
		if len(names) == 0 {
			t.Errorf("panel %q: no metric in %q", q.panel, q.expr)
			continue
		}
		var labels []string
		for _, n := range names {
			f, ok := family(fams, n)
			if !ok {
				t.Errorf("panel %q queries %s, which the server does not export", q.panel, n)
				continue
			}
			labels = append(labels, labelsOf(f)...)
		}
		for _, m := range byLabels.FindAllStringSubmatch(q.expr, -1) {
			for _, l := range strings.Split(m[1], ",") {
				l = strings.TrimSpace(l)
				if l == "" || l == "instance" || l == "job" {
					continue
				}
				if !slices.Contains(labels, l) {
					t.Errorf("panel %q groups by %q, which none of %v carries", q.panel, l, names)
				}
			}
		}
	}
}

// TestBenchMetricsExported: every family treasure-bench reads from
// /metrics (metricname.Bench) is exported by a running server, so a rename
// on either side fails here instead of showing up as "missing" in a report.
func TestBenchMetricsExported(t *testing.T) {
	fams := scrapeServer(t)
	for _, name := range metricname.Bench() {
		if _, ok := fams[name]; !ok {
			t.Errorf("treasure-bench reads %s, which the server does not export", name)
		}
	}
}

// TestEveryMetricNameExported: every family package metricname names is
// exported by a running server, so the list holds no name a reader could
// trust that nobody exports (netio takes its names from the list, so the
// converse holds by construction). cmd/treasured's checkpointer families
// are not netio's: its own tests scrape them.
func TestEveryMetricNameExported(t *testing.T) {
	names := metricNameConsts(t)
	fams := scrapeServer(t)
	for id, name := range names {
		if strings.HasPrefix(id, "Checkpoint") {
			continue
		}
		if _, ok := fams[name]; !ok {
			t.Errorf("metricname.%s = %q, which the server does not export", id, name)
		}
	}
}

// metricNameConsts reads package metricname's family constants (every
// string constant whose value looks like a family name) from its source.
func metricNameConsts(t *testing.T) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../netio/metricname/metricname.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	names := make(map[string]string)
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, sp := range gd.Specs {
			vs := sp.(*ast.ValueSpec)
			for i, id := range vs.Names {
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				if metricName.MatchString(v) && metricName.FindString(v) == v {
					names[id.Name] = v
				}
			}
		}
	}
	if len(names) < 20 {
		t.Fatalf("found %d family names in package metricname: is the parse right?", len(names))
	}
	return names
}

// TestDashboardCoversTheIssue: the panels the operations issue asks for are
// there, found by the metrics they chart.
func TestDashboardCoversTheIssue(t *testing.T) {
	var all strings.Builder
	for _, q := range dashboardQueries(t) {
		all.WriteString(q.expr + "\n")
	}
	for what, metric := range map[string]string{
		"tick work histogram":   metricname.TickWork + "_bucket",
		"tick jitter histogram": metricname.TickJitter + "_bucket",
		"overruns":              metricname.TickOverruns,
		"drops by reason":       metricname.Drops,
		"sessions":              metricname.SessionsActive,
		"handshakes":            metricname.Handshakes,
		"GC pauses":             metricname.GCPauses + "_bucket",
		"sendmmsg":              metricname.SendmmsgCalls,
		"EAGAIN":                metricname.SnapshotEAGAIN,
		"journal":               metricname.JournalSyncedTick,
		"loot lost":             metricname.LootUndeliverable,
	} {
		if !strings.Contains(all.String(), metric) {
			t.Errorf("no panel charts %s (%s)", what, metric)
		}
	}
}

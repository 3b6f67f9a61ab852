package metrics

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// metricNames are the names the collector can expose.
func metricNames(c *Collector) map[string]bool {
	ch := make(chan *prometheus.Desc, 64)
	go func() { c.Describe(ch); close(ch) }()
	re := regexp.MustCompile(`fqName: "([^"]+)"`)
	names := map[string]bool{}
	for d := range ch {
		if m := re.FindStringSubmatch(d.String()); m != nil {
			names[m[1]] = true
		}
	}
	return names
}

// The mesh recipe's dashboard and alerting rules only use metrics this
// package exposes (a rename here must be made there too).
func TestDeployFilesUseOurMetrics(t *testing.T) {
	names := metricNames(New(Options{}))
	if len(names) < 20 {
		t.Fatalf("only %d metric names described: %v", len(names), names)
	}
	used := regexp.MustCompile(`\bflowscope_[a-z0-9_]+`)
	for _, f := range []string{"grafana-dashboard.json", "flowscope-rules.yml", "README.md"} {
		b, err := os.ReadFile(filepath.Join("..", "deploy", f))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, name := range used.FindAllString(string(b), -1) {
			n++
			if !names[name] {
				t.Errorf("deploy/%s uses %s, which flowscope does not expose", f, name)
			}
		}
		if n == 0 {
			t.Errorf("deploy/%s uses no flowscope metric", f)
		}
	}

	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	b, err := os.ReadFile(filepath.Join("..", "deploy", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	if dash.UID == "" {
		t.Error("the dashboard has no uid (re-imports would duplicate it)")
	}
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 || p.Targets[0].Expr == "" {
			t.Errorf("panel %q has no query", p.Title)
		}
	}
}

//go:build linux

package nstest

// Acceptance test of the fleet issue: three namespaces as hosts on one
// switch, each running `flowscope -s --metrics ADDR:9709`; a hub that tests
// all three at once with one client, then the hosts test each other in a
// ring with deploy/flowscope-mesh.sh; a real Prometheus (Debian's package)
// in the hub scrapes the servers, and its HTTP API must show exactly the
// bytes the tests' JSON documents report.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

const (
	// pace keeps every stream at a rate the host's CPUs sustain next to
	// Prometheus and the race detector, so scrapes during the tests
	// succeed.
	pace        = "100M"
	meshHosts   = 3
	metricsPort = 9709             // flowscope's metrics port (deploy/)
	promAddr    = "127.0.0.1:9090" // inside the hub namespace
)

// requirePrometheus skips t (fails it under CI) unless Debian's
// prometheus package is installed.
func requirePrometheus(t *testing.T) {
	t.Helper()
	for _, bin := range []string{"prometheus", "promtool"} {
		if _, err := exec.LookPath(bin); err != nil {
			skipOrFail(t, fmt.Sprintf("test needs %q on PATH: apt-get install -y prometheus", bin))
		}
	}
}

// fleetEntry is one server's document in a multi-server -J output.
type fleetEntry struct {
	Target string `json:"target"`
	Error  string `json:"error"`
	End    struct {
		SumSent     *struct{ Bytes uint64 } `json:"sum_sent"`
		SumReceived *struct{ Bytes uint64 } `json:"sum_received"`
	} `json:"end"`
}

type fleetOutput struct {
	Servers []fleetEntry `json:"servers"`
	Sum     struct {
		Servers, Succeeded, Failed int
		SumSent                    struct{ Bytes uint64 } `json:"sum_sent"`
	} `json:"sum"`
}

func parseFleet(t *testing.T, who string, out []byte) *fleetOutput {
	t.Helper()
	var f fleetOutput
	if err := json.Unmarshal(out, &f); err != nil {
		t.Fatalf("%s: not a multi-server JSON document: %v\n%s", who, err, head(string(out), 3000))
	}
	return &f
}

// scrapeBytes reads flowscope_server_bytes_total from a server's /metrics,
// by direction.
func scrapeBytes(t *testing.T, hc *http.Client, metricsURL string) map[string]float64 {
	t.Helper()
	resp, err := hc.Get(metricsURL)
	if err != nil {
		t.Fatalf("scrape %s: %v", metricsURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s", metricsURL, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("scrape %s: %v", metricsURL, err)
	}
	out := map[string]float64{}
	for _, m := range fams["flowscope_server_bytes_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "direction" {
				out[l.GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	if len(out) != 2 {
		t.Fatalf("scrape %s: flowscope_server_bytes_total by direction: %v", metricsURL, out)
	}
	return out
}

// promQuery runs an instant query against the Prometheus HTTP API and
// returns the vector's values by instance.
func promQuery(hc *http.Client, expr string) (map[string]float64, error) {
	resp, err := hc.Get("http://" + promAddr + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("query %q: %s: %v: %s", expr, resp.Status, err, head(string(body), 500))
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query %q: %s: %s", expr, r.Status, r.Error)
	}
	out := map[string]float64{}
	if r.Data.ResultType != "vector" {
		return out, nil
	}
	for _, s := range r.Data.Result {
		str, _ := s.Value[1].(string)
		v, err := strconv.ParseFloat(str, 64)
		if err != nil {
			return nil, fmt.Errorf("query %q: value %v", expr, s.Value)
		}
		out[s.Metric["instance"]] = v
	}
	return out, nil
}

// waitQuery polls expr until ok accepts its result or d passes; it
// returns the last result.
func waitQuery(t *testing.T, hc *http.Client, expr string, d time.Duration, ok func(map[string]float64) bool) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		got, err := promQuery(hc, expr)
		if err == nil && ok(got) {
			return got
		}
		if time.Now().After(deadline) {
			if err != nil {
				t.Fatalf("Prometheus: %v", err)
			}
			return got
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func TestMeshWithPrometheus(t *testing.T) {
	Require(t)
	requirePrometheus(t)
	began := time.Now()
	step := func(what string) { t.Logf("%6.1fs %s", time.Since(began).Seconds(), what) }
	m := StartMesh(t, meshHosts)
	hub := m.Hub.HTTPClient(10 * time.Second)
	bin := flowscopeBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	// A server with metrics on every host, on the host's own address.
	metricsURL := make([]string, meshHosts)
	var servers []*proc
	var targets []string
	for i, h := range m.Hosts {
		addr := m.Addrs[i]
		srv := startFlowscope(t, fmt.Sprintf("server %s", addr), h, procOpts{timeout: 4 * time.Minute},
			"-s", "-p", fmt.Sprint(port), "--metrics", fmt.Sprintf("%s:%d", addr, metricsPort), "--max-tests", "2")
		for _, p := range []int{port, metricsPort} {
			if err := h.WaitListening(ctx, p, srv.alive); err != nil {
				t.Fatalf("%v\n%s", err, srv.describe())
			}
		}
		servers = append(servers, srv)
		metricsURL[i] = fmt.Sprintf("http://%s:%d/metrics", addr, metricsPort)
		targets = append(targets, fmt.Sprintf("%s:%d", addr, port))
	}

	// Prometheus in the hub, scraping every server each second, with the
	// mesh recipe's alerting rules.
	prom := startPrometheus(t, m, targets)
	// Prometheus applies discovered targets a few seconds after it
	// starts; the tests begin once it scrapes every server.
	allUp := func(v map[string]float64) bool {
		for _, a := range m.Addrs {
			if v[instance(a)] != 1 {
				return false
			}
		}
		return len(v) == meshHosts
	}
	if up := waitQuery(t, hub, `up{job="flowscope"}`, 60*time.Second, allUp); !allUp(up) {
		t.Fatalf("Prometheus does not scrape every server: up = %v\n%s", up, prom.describe())
	}
	step("servers up in Prometheus")

	// 1. The hub tests all three servers at once.
	cli := startFlowscope(t, "fleet client", m.Hub, procOpts{timeout: 90 * time.Second},
		"-c", strings.Join(m.Addrs, ","), "-p", fmt.Sprint(port), "-t", "4", "-P", "2", "-b", pace, "-J")
	if code := cli.wait(); code != 0 {
		t.Fatalf("fleet client exit %d\n%s", code, cli.describe())
	}
	checkNoCrash(t, cli)
	fleet := parseFleet(t, cli.name, []byte(cli.stdout.String()))
	if len(fleet.Servers) != meshHosts || fleet.Sum.Succeeded != meshHosts {
		t.Fatalf("fleet result: %d servers, sum %+v", len(fleet.Servers), fleet.Sum)
	}
	received := map[string]float64{} // by instance (ADDR:9709)
	sent := map[string]float64{}
	var total uint64
	for i, e := range fleet.Servers {
		if e.Target != targets[i] || e.Error != "" || e.End.SumReceived == nil || e.End.SumReceived.Bytes == 0 {
			t.Fatalf("servers[%d]: target %q error %q end %+v", i, e.Target, e.Error, e.End)
		}
		received[instance(m.Addrs[i])] = float64(e.End.SumReceived.Bytes)
		sent[instance(m.Addrs[i])] = 0
		total += e.End.SumSent.Bytes
		// Each server's own metrics count exactly what its document says
		// it received (the server reports its End just after the client
		// has the results: wait for it).
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := scrapeBytes(t, hub, metricsURL[i])
			if got["received"] == received[instance(m.Addrs[i])] && got["sent"] == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: metrics %v, its JSON says %d bytes received", targets[i], got, e.End.SumReceived.Bytes)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if fleet.Sum.SumSent.Bytes != total {
		t.Errorf("sum.sum_sent.bytes %d, the servers' documents add up to %d", fleet.Sum.SumSent.Bytes, total)
	}
	step(fmt.Sprintf("fleet round: %v bytes received by server", received))

	// 2. A ring, as the recipe runs it: every host tests its next peer
	// with deploy/flowscope-mesh.sh (one round, -R: the peer sends), all
	// at once.
	script, err := filepath.Abs(filepath.Join("..", "deploy", "flowscope-mesh.sh"))
	if err != nil {
		t.Fatal(err)
	}
	type ringRun struct {
		out, peer string
		cmd       *exec.Cmd
		stderr    bytes.Buffer
	}
	var ring []*ringRun
	for i, h := range m.Hosts {
		dir := t.TempDir()
		peer := (i + 1) % meshHosts
		peers := filepath.Join(dir, "peers")
		if err := os.WriteFile(peers, []byte("# the next host of the ring\n"+targets[peer]+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		r := &ringRun{out: dir, peer: m.Addrs[peer]}
		r.cmd = h.Command(ctx, "sh", script)
		r.cmd.Env = append(os.Environ(), "FLOWSCOPE="+bin, "PEERS="+peers, "DURATION=2", "ONCE=1", "OUT="+filepath.Join(dir, "rounds.json"), "FLOWSCOPE_ARGS=-R -P 2 -b "+pace)
		r.cmd.Stderr = &r.stderr
		if err := r.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ring = append(ring, r)
	}
	for i, r := range ring {
		if err := r.cmd.Wait(); err != nil {
			t.Fatalf("host %s: flowscope-mesh.sh: %v\n%s", m.Addrs[i], err, r.stderr.String())
		}
		// The round's document was appended to OUT, as the unit does.
		b, err := os.ReadFile(filepath.Join(r.out, "rounds.json"))
		if err != nil {
			t.Fatalf("host %s: no rounds file: %v", m.Addrs[i], err)
		}
		doc := parseFleet(t, "ring "+m.Addrs[i], b)
		if len(doc.Servers) != 1 || doc.Servers[0].Error != "" || doc.Servers[0].End.SumSent == nil {
			t.Fatalf("host %s: ring round: %s", m.Addrs[i], head(string(b), 2000))
		}
		// -R: the peer's server sent what sum_sent reports (the sender's
		// count, which the server gave the client).
		sent[instance(r.peer)] += float64(doc.Servers[0].End.SumSent.Bytes)
	}
	step(fmt.Sprintf("ring round: %v bytes sent by server", sent))

	// 3. Prometheus has scraped all of it.
	if up := waitQuery(t, hub, `up{job="flowscope"}`, 30*time.Second, allUp); !allUp(up) {
		t.Fatalf("up: %v\n%s", up, prom.describe())
	}
	for dir, want := range map[string]map[string]float64{"received": received, "sent": sent} {
		expr := fmt.Sprintf(`flowscope_server_bytes_total{job="flowscope",direction=%q}`, dir)
		got := waitQuery(t, hub, expr, 30*time.Second, func(v map[string]float64) bool { return equalValues(v, want) })
		if !equalValues(got, want) {
			t.Errorf("Prometheus %s = %v, the tests' documents say %v", expr, got, want)
		}
	}
	// The rate gauges were seen above zero while the tests ran: received
	// in the fleet round, sent in the ring (-R).
	for _, dir := range []string{"received", "sent"} {
		peak, err := promQuery(hub, fmt.Sprintf(`max_over_time(flowscope_server_rate_bytes_per_second{direction=%q}[10m])`, dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range m.Addrs {
			if peak[instance(a)] <= 0 {
				t.Errorf("%s: Prometheus never saw a %s rate above 0: %v", a, dir, peak)
			}
		}
	}
	step("Prometheus has every byte")
	checkDashboardQueries(t, hub)
	checkRulesLoaded(t, hub)
	step("dashboard queries and rules checked")
	prom.stop(t)
	// The servers stop on SIGTERM, metrics endpoint and all.
	for _, srv := range servers {
		_ = srv.cmd.Process.Signal(syscall.SIGTERM)
	}
	for i, srv := range servers {
		select {
		case <-srv.done:
		case <-time.After(10 * time.Second):
			t.Errorf("%s ignored SIGTERM", srv.name)
			srv.kill()
		}
		checkNoCrash(t, srv)
		if _, err := hub.Get(metricsURL[i]); err == nil {
			t.Errorf("%s still answers after its server exited", metricsURL[i])
		}
	}
	step("Prometheus and servers stopped")
}

func instance(addr string) string { return fmt.Sprintf("%s:%d", addr, metricsPort) }

func equalValues(got, want map[string]float64) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			return false
		}
	}
	return true
}

// promProc is a Prometheus server running in the hub.
type promProc struct {
	cmd     *exec.Cmd
	done    chan struct{}
	output  *capture
	stopped bool
}

func (p *promProc) describe() string { return "prometheus output:\n" + tail(p.output.String(), 4000) }

// stop ends Prometheus with SIGTERM, as an operator would, and checks it
// went.
func (p *promProc) stop(t *testing.T) {
	t.Helper()
	if p.stopped {
		return
	}
	p.stopped = true
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("prometheus ignored SIGTERM for 20 s\n%s", p.describe())
	}
}

func startPrometheus(t *testing.T, m *Mesh, targets []string) *promProc {
	t.Helper()
	dir := t.TempDir()
	rules, err := os.ReadFile(filepath.Join("..", "deploy", "flowscope-rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "flowscope-rules.yml"), rules, 0o644); err != nil {
		t.Fatal(err)
	}
	var scrape []string
	for _, a := range m.Addrs {
		scrape = append(scrape, fmt.Sprintf("'%s'", instance(a)))
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [flowscope-rules.yml]
scrape_configs:
  - job_name: flowscope
    scrape_interval: 1s
    scrape_timeout: 900ms
    static_configs:
      - targets: [%s]
`, strings.Join(scrape, ", "))
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("promtool", "check", "config", cfgPath).CombinedOutput(); err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	p := &promProc{done: make(chan struct{}), output: &capture{}}
	p.cmd = m.Hub.Command(ctx, "prometheus", "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	p.cmd.Stdout, p.cmd.Stderr = p.output, p.output
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start prometheus: %v", err)
	}
	go func() { _ = p.cmd.Wait(); cancel(); close(p.done) }()
	t.Cleanup(func() {
		cancel()
		<-p.done
	})
	hc := m.Hub.HTTPClient(2 * time.Second)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := hc.Get("http://" + promAddr + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-p.done:
			t.Fatalf("prometheus exited\n%s", p.describe())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready after 60 s: %v\n%s", err, p.describe())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("prometheus ready on %s in netns %s, scraping %s", promAddr, m.Hub.Name, strings.Join(scrape, ", "))
	return p
}

// grafanaVars are the dashboard's variables, as Grafana would fill them.
var grafanaVars = strings.NewReplacer("$__rate_interval", "1m", "$__range", "10m", "$job", ".*", "$instance", ".*")

// checkDashboardQueries runs every query of deploy/grafana-dashboard.json
// against the real Prometheus: each must parse and evaluate, and the
// dashboard's flowscope series must exist.
func checkDashboardQueries(t *testing.T, hc *http.Client) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "deploy", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var exprs []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if e, ok := x["expr"].(string); ok {
				exprs = append(exprs, e)
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	var dash any
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	walk(dash)
	if len(exprs) < 10 {
		t.Fatalf("grafana-dashboard.json has %d queries", len(exprs))
	}
	sort.Strings(exprs)
	names := map[string]bool{}
	nameRE := regexp.MustCompile(`flowscope_[a-z0-9_]+`)
	for _, e := range exprs {
		if _, err := promQuery(hc, grafanaVars.Replace(e)); err != nil {
			t.Errorf("dashboard query: %v", err)
		}
		for _, n := range nameRE.FindAllString(e, -1) {
			names[n] = true
		}
	}
	for n := range names {
		if n == "flowscope_server_findings_total" {
			continue // no series until a server makes a finding
		}
		got, err := promQuery(hc, fmt.Sprintf(`count(%s)`, n))
		if err != nil || len(got) != 1 {
			t.Errorf("the dashboard uses %s, which Prometheus does not have: %v %v", n, got, err)
		}
	}
}

// checkRulesLoaded waits until Prometheus has evaluated every rule of
// deploy/flowscope-rules.yml without error.
func checkRulesLoaded(t *testing.T, hc *http.Client) {
	t.Helper()
	var last string
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := hc.Get("http://" + promAddr + "/api/v1/rules")
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Data struct {
				Groups []struct {
					Rules []struct {
						Name, Health, LastError string
					} `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		err = json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		n, ok := 0, true
		var states []string
		for _, g := range r.Data.Groups {
			for _, rule := range g.Rules {
				n++
				ok = ok && rule.Health == "ok"
				states = append(states, fmt.Sprintf("%s=%s%s", rule.Name, rule.Health, rule.LastError))
			}
		}
		last = strings.Join(states, ", ")
		if n >= 5 && ok {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Errorf("recipe rules not all evaluated fine: %s", last)
}

// The recipe's Prometheus configuration and rules pass promtool.
func TestDeployPrometheusConfig(t *testing.T) {
	RequireCommand(t, "promtool")
	for _, args := range [][]string{
		{"check", "config", filepath.Join("..", "deploy", "prometheus.yml")},
		{"check", "rules", filepath.Join("..", "deploy", "flowscope-rules.yml")},
	} {
		out, err := exec.Command("promtool", args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

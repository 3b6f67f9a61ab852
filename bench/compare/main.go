// Command compare benchmarks flowscope against iperf3 and iperf2 on
// 127.0.0.1: the same scenarios, the same congestion control, tools
// interleaved round by round, each run with a fresh server on a free port.
//
//	go run ./bench/compare -rounds 3 -t 4 -scenarios all -markdown
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// extraTimeout is added to the test time for every subprocess's deadline.
const extraTimeout = 30 * time.Second

type config struct {
	rounds      int
	seconds     float64
	scenarios   []scenario
	tools       []*tool
	pause       time.Duration
	markdown    bool
	cc          string
	quietPct    float64
	quietWait   time.Duration
	busyRetries int
	// special scenarios
	udpSteps    int
	udpStepSecs float64
	tuiRounds   int
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rounds := fs.Int("rounds", 3, "rounds; each round runs every tool once per scenario (A B C A B C …)")
	secs := fs.Float64("t", 4, "test `seconds` per run")
	scen := fs.String("scenarios", strings.Join(defaultScenarios, ","),
		"comma-separated `list` of "+scenarioNames()+", or all")
	toolList := fs.String("tools", "flowscope,iperf3,iperf2", "comma-separated tools to run")
	fsBin := fs.String("flowscope", "", "flowscope binary (default: go build the module into a temp dir)")
	i3Bin := fs.String("iperf3", "iperf3", "iperf3 binary")
	i2Bin := fs.String("iperf2", "iperf", "iperf2 binary")
	cc := fs.String("cc", "cubic", "TCP congestion control set on every tool")
	pause := fs.Duration("pause", 500*time.Millisecond, "pause between runs (before the -quiet check)")
	md := fs.Bool("markdown", false, "print the table as Markdown, with a machine header")
	quietPct := fs.Float64("quiet", 10, "before each run, wait until the machine is less than this `percent` busy (others' load)")
	quietWait := fs.Duration("quiet-wait", 30*time.Second, "longest wait for -quiet before running anyway")
	busyRetries := fs.Int("busy-retries", 2, "repeat a run up to this many times if other processes used -quiet percent or more of the CPUs during it")
	udpSteps := fs.Int("udp-steps", 6, "udp-max: bisection steps per tool")
	udpSecs := fs.Float64("udp-t", 2, "udp-max: test `seconds` per step")
	tuiRounds := fs.Int("tui-rounds", 5, "tui-p8: rounds (TUI and --no-tui once each)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: go run ./bench/compare [flags]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "compare: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *rounds < 1 || *secs <= 0 || *secs > 3600 {
		fmt.Fprintln(stderr, "compare: need -rounds >= 1 and 0 < -t <= 3600")
		return 2
	}
	if *udpSteps < 1 || *udpSteps > 20 || *udpSecs <= 0 || *udpSecs > 60 || *tuiRounds < 1 {
		fmt.Fprintln(stderr, "compare: need 1 <= -udp-steps <= 20, 0 < -udp-t <= 60 and -tui-rounds >= 1")
		return 2
	}
	if !regexp.MustCompile(`^[a-z0-9_-]+$`).MatchString(*cc) {
		fmt.Fprintf(stderr, "compare: bad -cc %q\n", *cc)
		return 2
	}
	scs, err := pickScenarios(*scen)
	if err != nil {
		fmt.Fprintf(stderr, "compare: %v\n", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg := config{rounds: *rounds, seconds: *secs, scenarios: scs, pause: *pause, markdown: *md, cc: *cc,
		quietPct: *quietPct, quietWait: *quietWait, busyRetries: *busyRetries,
		udpSteps: *udpSteps, udpStepSecs: *udpSecs, tuiRounds: *tuiRounds}
	tc := toolConfig{seconds: strconv.FormatFloat(*secs, 'f', -1, 64), cc: *cc}
	for _, name := range splitList(*toolList) {
		switch name {
		case "flowscope":
			bin := *fsBin
			if bin == "" {
				dir, err := os.MkdirTemp("", "bench-compare-")
				if err != nil {
					fmt.Fprintf(stderr, "compare: %v\n", err)
					return 1
				}
				defer os.RemoveAll(dir)
				if bin, err = buildFlowscope(ctx, dir); err != nil {
					fmt.Fprintf(stderr, "compare: building flowscope: %v (or pass -flowscope PATH)\n", err)
					return 1
				}
			}
			tc.fsZeroCp = flowscopeHasZeroCopy(ctx, bin)
			cfg.tools = append(cfg.tools, flowscopeTool(bin, tc))
		case "iperf3":
			cfg.tools = append(cfg.tools, iperf3Tool(*i3Bin, tc))
		case "iperf2":
			cfg.tools = append(cfg.tools, iperf2Tool(*i2Bin, tc))
		default:
			fmt.Fprintf(stderr, "compare: unknown tool %q (flowscope, iperf3, iperf2)\n", name)
			return 2
		}
	}
	if len(cfg.tools) == 0 {
		fmt.Fprintln(stderr, "compare: no tools")
		return 2
	}

	hdr := describeMachine(ctx, cfg.tools, args)
	results := runAll(ctx, cfg, stderr)
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "compare: interrupted; partial results:")
	}
	printReport(stdout, cfg, hdr, results)
	if ctx.Err() != nil {
		return 130
	}
	return 0
}

func scenarioNames() string {
	var n []string
	for _, s := range allScenarios {
		n = append(n, s.name)
	}
	return strings.Join(n, ", ")
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func pickScenarios(list string) ([]scenario, error) {
	if strings.TrimSpace(list) == "all" {
		return allScenarios, nil
	}
	var out []scenario
	for _, name := range splitList(list) {
		found := false
		for _, s := range allScenarios {
			if s.name == name {
				out = append(out, s)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown scenario %q (have %s, all)", name, scenarioNames())
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no scenarios")
	}
	return out, nil
}

// buildFlowscope builds the module's main package into dir.
func buildFlowscope(ctx context.Context, dir string) (string, error) {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	if strings.TrimSpace(string(gomod)) == "" || strings.TrimSpace(string(gomod)) == os.DevNull {
		return "", errors.New("not inside the flowscope module")
	}
	bin := filepath.Join(dir, "flowscope")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	flowscopeSource = gitDescribe(ctx, root)
	return bin, nil
}

// flowscopeSource says what the flowscope binary was built from, if known.
var flowscopeSource string

func gitDescribe(ctx context.Context, root string) string {
	rev, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return ""
	}
	desc := "built from commit " + strings.TrimSpace(string(rev))
	st, err := exec.CommandContext(ctx, "git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output()
	if err == nil && len(strings.TrimSpace(string(st))) > 0 {
		desc += " plus uncommitted changes"
	}
	return desc
}

// flowscopeHasZeroCopy reports whether flowscope's help lists -Z.
func flowscopeHasZeroCopy(ctx context.Context, bin string) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, "--help").CombinedOutput()
	return regexp.MustCompile(`(?m)^\s*-Z\b|--zerocopy\b`).Match(out)
}

// runResult is one run of one tool in one scenario.
type runResult struct {
	round int
	m     measure
	err   error
	wall  time.Duration
	cli   usage
	srv   usage
	host  cpuSample // machine-wide CPU while the client ran
	// before is how busy the machine was (percent of all CPUs) just
	// before the run, with none of our processes running; -1 if unknown.
	before float64
}

// otherPct estimates the share of the machine (percent of all CPUs) used
// by processes other than this run's client and server while the client
// ran: machine busy time less softirq and ksoftirqd (loopback TCP's own
// receive work) less our processes' CPU time. -1 if unknown.
func (r runResult) otherPct() float64 {
	if !r.host.ok || r.host.all <= 0 {
		return -1
	}
	other := r.host.busy - r.host.softirq - r.host.ksoftirqd - r.cli.cpu - r.srv.cpu
	return max(0, 100*float64(other)/float64(r.host.all))
}

// cell holds every run of one tool in one scenario.
type cell struct {
	tool      *tool
	na        string
	runs      []runResult
	discarded int // runs repeated because others loaded the machine
}

type scenarioResult struct {
	sc    scenario
	cells []*cell
	table *table // special scenarios' own table (cells unused)
}

// runAll runs the scenarios one after another; within a scenario the
// tools take turns, round by round.
func runAll(ctx context.Context, cfg config, log io.Writer) []scenarioResult {
	var out []scenarioResult
	for _, sc := range cfg.scenarios {
		if sc.special != "" {
			tb := runSpecial(ctx, cfg, sc, log)
			if ctx.Err() != nil {
				tb.notes = append(tb.notes, "interrupted: not all runs were made")
			}
			out = append(out, scenarioResult{sc: sc, table: tb})
			continue
		}
		out = append(out, runThroughput(ctx, cfg, sc, log))
	}
	return out
}

// runThroughput runs one throughput scenario: every tool once per round.
func runThroughput(ctx context.Context, cfg config, sc scenario, log io.Writer) scenarioResult {
	sr := scenarioResult{sc: sc}
	var topo *netTopo
	var topoNA string
	if sc.netns {
		if topoNA = netnsMissing(); topoNA == "" {
			var err error
			if topo, err = newNetTopo(ctx); err != nil {
				topoNA = "failed: " + err.Error()
			}
		}
		if topoNA != "" {
			fmt.Fprintf(log, "[%s] %s\n", sc.name, topoNA)
		}
		defer func() {
			if err := topo.close(); err != nil {
				fmt.Fprintf(log, "[%s] removing the namespaces: %v\n", sc.name, err)
			}
		}()
	}
	for _, t := range cfg.tools {
		na := t.na(sc)
		if na == "" {
			na = topoNA
		}
		sr.cells = append(sr.cells, &cell{tool: t, na: na})
	}
	for r := 1; r <= cfg.rounds; r++ {
		for _, c := range sr.cells {
			if c.na != "" || ctx.Err() != nil {
				continue
			}
			// A run during which other processes took a share of the
			// CPUs is repeated (up to -busy-retries times); the last
			// attempt is kept either way, and flagged in the notes.
			for attempt := 0; ; attempt++ {
				before := waitQuiet(ctx, cfg.quietPct, cfg.quietWait)
				res := runOne(ctx, cfg, c.tool, sc, topo)
				res.round, res.before = r, before
				busy := res.err == nil && res.otherPct() >= cfg.quietPct
				retry := busy && attempt < cfg.busyRetries && ctx.Err() == nil
				logRun(log, sc, r, cfg.rounds, c.tool.name, res, retry)
				if cfg.pause > 0 {
					select {
					case <-ctx.Done():
					case <-time.After(cfg.pause):
					}
				}
				if !retry {
					c.runs = append(c.runs, res)
					break
				}
				c.discarded++
			}
		}
	}
	return sr
}

func logRun(w io.Writer, sc scenario, r, rounds int, tool string, res runResult, discard bool) {
	prefix := fmt.Sprintf("[%s %d/%d] %-9s", sc.name, r, rounds, tool)
	if discard {
		prefix = "(discarded: others' load) " + prefix
	}
	if res.err != nil {
		fmt.Fprintf(w, "%s failed: %v (wall %.1fs)\n", prefix, res.err, res.wall.Seconds())
		return
	}
	fmt.Fprintf(w, "%s %6.2f Gbit/s over %.2fs  wall %.2fs  cpu cli %.2fs srv %.2fs host %.2fs  rss MiB cli %s srv %s  other load before %.0f%% during %.0f%%%s\n",
		prefix, res.m.bps/1e9, res.m.seconds, res.wall.Seconds(), res.cli.cpu.Seconds(), res.srv.cpu.Seconds(),
		res.host.busy.Seconds(), mib(res.cli.maxRSS), mib(res.srv.maxRSS), res.before, res.otherPct(), noteSuffix(res.m.note))
}

func noteSuffix(n string) string {
	if n == "" {
		return ""
	}
	return "  (" + n + ")"
}

// runOne runs one tool once: fresh server on a free port, client, kill
// server. A server that dies before listening (it lost the port to a
// race) is retried on another port.
func runOne(ctx context.Context, cfg config, t *tool, sc scenario, topo *netTopo) runResult {
	var res runResult
	for attempt := 0; attempt < 3; attempt++ {
		var retry bool
		res, retry = attemptOne(ctx, cfg, t, sc, topo)
		if !retry || ctx.Err() != nil {
			break
		}
	}
	return res
}

// topo is the veth pair for sc.netns scenarios, nil otherwise.
func attemptOne(ctx context.Context, cfg config, t *tool, sc scenario, topo *netTopo) (res runResult, retry bool) {
	testTime := time.Duration(cfg.seconds * float64(time.Second))
	host := "127.0.0.1"
	var port int
	var err error
	if topo != nil {
		host, port = vethSrvAddr, topo.nextPort()
	} else if port, err = freePort(); err != nil {
		return runResult{err: fmt.Errorf("free port: %v", err)}, false
	}
	srvArgs, cliArgs := t.serverArgs(host, port), t.clientArgs(host, port, sc)
	if topo != nil {
		srvArgs, cliArgs = wrapNetns(topo.tp.Server, srvArgs), wrapNetns(topo.tp.Client, cliArgs)
	}
	// The server's own deadline covers the client's plus reading its report.
	srv, err := startServer(ctx, testTime+2*extraTimeout, srvArgs)
	if err != nil {
		return runResult{err: fmt.Errorf("server: %v", err)}, false
	}
	defer srv.stop()
	if topo != nil {
		err = waitListeningNetns(ctx, srv, topo.tp.Server, port, 10*time.Second)
	} else {
		err = waitListening(srv, port, 10*time.Second)
	}
	if err != nil {
		return runResult{err: err}, errors.Is(err, errServerExited)
	}
	h0 := readCPU()
	c := runClient(ctx, testTime+extraTimeout, cliArgs)
	res.host = readCPU().sub(h0)
	res.wall, res.cli = c.wall, c.usage
	res.m, res.err = t.parse(ctx, c, srv, sc)
	res.srv = srv.stop()
	return res, false
}

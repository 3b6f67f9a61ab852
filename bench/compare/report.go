package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// header describes where and how the numbers were made.
type header struct {
	machine  string
	versions []string
	command  string
	load     string // load average at start
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func describeMachine(ctx context.Context, tools []*tool, args []string) header {
	model := "unknown CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	kernel := "unknown"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	h := header{
		machine: fmt.Sprintf("%d CPUs (nproc), %s, Linux %s", runtime.NumCPU(), model, kernel),
		load:    loadavg(),
		command: commandLine(args),
	}
	for _, t := range tools {
		h.versions = append(h.versions, toolVersion(ctx, t))
	}
	return h
}

func toolVersion(ctx context.Context, t *tool) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	flag := "--version"
	if t.name == "flowscope" {
		flag = "-v"
	}
	out, err := exec.CommandContext(ctx, t.bin, flag).CombinedOutput()
	first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if err != nil && first == "" {
		return t.name + ": version unknown (" + err.Error() + ")"
	}
	first = strings.TrimSpace(first)
	if t.name == "flowscope" && flowscopeSource != "" {
		first += ", " + flowscopeSource
	}
	return first
}

// commandLine is how this run was started, as one would retype it.
func commandLine(args []string) string {
	prog := os.Args[0]
	if strings.Contains(prog, "go-build") || strings.HasPrefix(filepath.Base(prog), "compare") {
		prog = "go run ./bench/compare"
	}
	parts := []string{prog}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t'\"$`\\*?") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func mib(kib int64) string {
	if kib <= 0 {
		return "?"
	}
	return fmt.Sprintf("%.0f", float64(kib)/1024)
}

// summary is one table row.
type summary struct {
	tool      string
	runs      string
	gbps      string
	minmax    string
	wall      string
	measured  string
	cpuPerGB  string
	other     string
	rss       string
	ratio     string
	medianBps float64 // 0 if no successful run
}

func summarize(c *cell) summary {
	s := summary{tool: c.tool.name}
	if c.na != "" {
		s.runs = "–"
		s.gbps = "n/a: " + c.na
		return s
	}
	var bps, walls, meas, cpg []float64
	var cliRSS, srvRSS int64
	other := -1.0
	var firstErr error
	for _, r := range c.runs {
		if r.err != nil {
			if firstErr == nil {
				firstErr = r.err
			}
			continue
		}
		bps = append(bps, r.m.bps)
		walls = append(walls, r.wall.Seconds())
		meas = append(meas, r.m.seconds)
		if r.m.bytes > 0 {
			cpg = append(cpg, (r.cli.cpu+r.srv.cpu).Seconds()/(r.m.bytes/1e9))
		}
		other = max(other, r.otherPct(), r.before)
		cliRSS = max(cliRSS, r.cli.maxRSS)
		srvRSS = max(srvRSS, r.srv.maxRSS)
	}
	s.runs = fmt.Sprintf("%d/%d", len(bps), len(c.runs))
	if c.discarded > 0 {
		s.runs += fmt.Sprintf(" (+%d redone)", c.discarded)
	}
	if len(bps) == 0 {
		reason := "not run (interrupted)"
		if firstErr != nil {
			reason = firstErr.Error()
		}
		s.gbps = "failed: " + reason
		return s
	}
	s.medianBps = median(bps)
	s.gbps = fmt.Sprintf("%.1f", s.medianBps/1e9)
	s.minmax = fmt.Sprintf("%.1f–%.1f", slices.Min(bps)/1e9, slices.Max(bps)/1e9)
	s.wall = fmt.Sprintf("%.1f", median(walls))
	s.measured = fmt.Sprintf("%.2f", median(meas))
	if len(cpg) > 0 {
		s.cpuPerGB = fmt.Sprintf("%.3f", median(cpg))
	}
	s.rss = mib(cliRSS) + " / " + mib(srvRSS)
	if other >= 0 {
		s.other = fmt.Sprintf("%.0f", other)
	}
	return s
}

var columns = []string{"scenario", "tool", "ok runs", "Gbit/s (median)", "min–max", "measured s", "wall s (client)",
	"CPU s/GB cli+srv", "peak RSS MiB cli / srv", "others' load % (max)", "flowscope / tool"}

func printReport(w io.Writer, cfg config, h header, results []scenarioResult) {
	var rows [][]string
	var failures []string
	var specials []*table
	for _, sr := range results {
		if sr.table != nil {
			specials = append(specials, sr.table)
			continue
		}
		var sums []summary
		var fsBps float64
		for _, c := range sr.cells {
			s := summarize(c)
			if c.tool.name == "flowscope" {
				fsBps = s.medianBps
			}
			sums = append(sums, s)
			for _, r := range c.runs {
				if r.err != nil {
					failures = append(failures, fmt.Sprintf("%s round %d %s: %v (client wall %.1f s)",
						sr.sc.name, r.round, c.tool.name, r.err, r.wall.Seconds()))
					continue
				}
				if r.m.note != "" {
					failures = append(failures, fmt.Sprintf("%s round %d %s: %s", sr.sc.name, r.round, c.tool.name, r.m.note))
				}
				if r.before >= cfg.quietPct || r.otherPct() >= cfg.quietPct {
					failures = append(failures, fmt.Sprintf("%s round %d %s: other processes used %.0f%% of the CPUs before the run, ~%.0f%% during it (%.1f Gbit/s)",
						sr.sc.name, r.round, c.tool.name, r.before, r.otherPct(), r.m.bps/1e9))
				}
			}
		}
		for i, s := range sums {
			switch {
			case s.tool == "flowscope" && s.medianBps > 0:
				s.ratio = "1"
			case s.medianBps > 0 && fsBps > 0:
				s.ratio = fmt.Sprintf("%.2f", fsBps/s.medianBps)
			case s.medianBps > 0:
				s.ratio = "n/a"
			}
			name := ""
			if i == 0 {
				name = sr.sc.name
			}
			rows = append(rows, []string{name, s.tool, s.runs, s.gbps, s.minmax, s.measured, s.wall,
				s.cpuPerGB, s.rss, s.other, s.ratio})
		}
	}

	var desc []string
	for _, sc := range cfg.scenarios {
		if sc.special == "" {
			desc = append(desc, fmt.Sprintf("%s = %s", sc.name, sc.desc))
		}
	}
	where := "fresh server on 127.0.0.1 per run"
	for _, sc := range cfg.scenarios {
		if sc.netns {
			where += " (veth-*: in a namespace of its own, the client in another, over a veth pair)"
			break
		}
	}
	setup := fmt.Sprintf("%d rounds × %s s per run, tools interleaved per round; congestion control %s on every tool "+
		"(flowscope/iperf3 -C, iperf2 -Z); receiver throughput; %s; "+
		"load average %s at start, %s at end.",
		cfg.rounds, fmtSecs(cfg.seconds), cfg.cc, where, h.load, loadavg())

	if len(rows) == 0 {
		// Only special scenarios: no throughput table.
		setup = fmt.Sprintf("Load average %s at start, %s at end.", h.load, loadavg())
	}
	if cfg.markdown {
		fmt.Fprintf(w, "Machine: %s.  \n", h.machine)
		fmt.Fprintf(w, "Tools: %s.  \n", strings.Join(h.versions, "; "))
		fmt.Fprintf(w, "Command: `%s`  \n", h.command)
		if len(rows) == 0 {
			fmt.Fprintf(w, "%s\n", setup)
		} else {
			fmt.Fprintf(w, "%s  \n", setup)
			fmt.Fprintf(w, "Scenarios: %s.\n\n", strings.Join(desc, "; "))
			printTable(w, true, columns, 3, rows)
		}
		if len(failures) > 0 {
			fmt.Fprintf(w, "\nFailed or odd runs:\n\n")
			for _, f := range failures {
				fmt.Fprintf(w, "- %s\n", f)
			}
		}
	} else {
		fmt.Fprintf(w, "Machine: %s\nTools:   %s\nCommand: %s\n%s\n", h.machine, strings.Join(h.versions, "; "), h.command, setup)
		if len(rows) > 0 {
			fmt.Fprintln(w)
			printTable(w, false, columns, 3, rows)
		}
		if len(failures) > 0 {
			fmt.Fprintf(w, "\nFailed or odd runs:\n")
			for _, f := range failures {
				fmt.Fprintf(w, "  %s\n", f)
			}
		}
	}
	for _, t := range specials {
		printSpecial(w, cfg.markdown, t)
	}
}

func fmtSecs(s float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.3f", s), "0"), ".")
}

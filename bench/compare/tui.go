package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// tui-p8: flowscope --loopback -P 8 with the live TUI against the same
// test with --no-tui. Both run inside a detached tmux session of their
// own (a private server, tmux -L fsbench-<pid>-<n>, 120×40), so the only
// difference is the flag: the TUI draws into tmux's pane, --no-tui prints
// its text report there. The pane's command is
//
//	flowscope --loopback -P 8 -t T -C cubic [--no-tui]; times; sleep 100
//
// The TUI stays on its final screen ("done · q to exit") until q: the
// harness sends q once it shows. The summary then printed on the normal
// screen is read with capture-pane; its "[SUM] … receiver" line is the
// result. The shell's `times` gives flowscope's CPU time; the tmux
// server's own CPU time (drawing the pane) is read from /proc. The tmux
// server is killed after every run, also on failure and Ctrl-C.

var (
	sumRecvLine = regexp.MustCompile(`(?m)^\[SUM\]\s+([\d.]+)-([\d.]+)\s+sec\s+[\d.]+\s+\S+\s+([\d.]+)\s+([KMGT]?)bits/sec.*\breceiver\s*$`)
	sumSendLine = regexp.MustCompile(`(?m)^\[SUM\]\s+([\d.]+)-([\d.]+)\s+sec\s+[\d.]+\s+\S+\s+([\d.]+)\s+([KMGT]?)bits/sec.*\bsender\s*$`)
	timesLine   = regexp.MustCompile(`(?m)^(\d+)m([\d.]+)s (\d+)m([\d.]+)s\s*$`)
)

// tuiSummary is what the pane shows once flowscope has finished.
type tuiSummary struct {
	recvBps, recvSecs float64
	sendBps           float64
	cpu               time.Duration // flowscope's user+system, from `times`
}

// parseTUIPane reads the text summary and the shell's `times` output from
// a captured pane; ok is false until both are there.
func parseTUIPane(s string) (tuiSummary, bool) {
	var r tuiSummary
	m := sumRecvLine.FindStringSubmatch(s)
	tl := timesLine.FindAllStringSubmatch(s, -1)
	if m == nil || len(tl) < 2 {
		return r, false
	}
	from, _ := strconv.ParseFloat(m[1], 64)
	to, _ := strconv.ParseFloat(m[2], 64)
	r.recvSecs = to - from
	r.recvBps = unitRate(m[3], m[4])
	if ms := sumSendLine.FindStringSubmatch(s); ms != nil {
		r.sendBps = unitRate(ms[3], ms[4])
	}
	// The second line of `times` is the children's user and system time.
	c := tl[1]
	um, _ := strconv.ParseFloat(c[1], 64)
	us, _ := strconv.ParseFloat(c[2], 64)
	sm, _ := strconv.ParseFloat(c[3], 64)
	ss, _ := strconv.ParseFloat(c[4], 64)
	r.cpu = time.Duration((um*60 + us + sm*60 + ss) * float64(time.Second))
	return r, true
}

func unitRate(v, unit string) float64 {
	x, _ := strconv.ParseFloat(v, 64)
	switch unit {
	case "K":
		x *= 1e3
	case "M":
		x *= 1e6
	case "G":
		x *= 1e9
	case "T":
		x *= 1e12
	}
	return x
}

type tuiRun struct {
	sum    tuiSummary
	tmux   time.Duration // tmux server CPU during the run
	other  float64
	sentQ  bool
	waited time.Duration
}

func runTUI(ctx context.Context, cfg config, sc scenario, log io.Writer) *table {
	secs := fmtSecs(cfg.seconds)
	tb := &table{
		name: sc.name,
		desc: []string{
			fmt.Sprintf("flowscope only: `flowscope --loopback -P %d -t %s -C %s` with the live TUI and with `--no-tui`, "+
				"each in its own detached tmux session (120×40), %d rounds, the order alternating per round. "+
				"Throughput is the summary's `[SUM] … receiver` line, read with capture-pane after the test "+
				"(the TUI waits on its final screen for q, which the harness sends when it shows). "+
				"flowscope CPU s: the shell's `times` after it exits (one process, client and server); tmux CPU s: the tmux server drawing the pane.",
				sc.parallel, secs, cfg.cc, cfg.tuiRounds),
		},
		columns: []string{"mode", "ok runs", "receiver Gbit/s (median)", "min–max", "receiver s (median)", "sender Gbit/s (median)",
			"flowscope CPU s", "tmux CPU s", "others' load % (max)"},
		right: 2,
	}
	fsTool := findTool(cfg, "flowscope")
	if fsTool == nil {
		tb.notes = append(tb.notes, "skipped: needs flowscope in -tools")
		return tb
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		tb.notes = append(tb.notes, "skipped: needs tmux on PATH")
		return tb
	}
	type cellRuns struct {
		tui       bool
		runs      []tuiRun
		total     int
		discarded int
		maxLoad   float64
	}
	cells := []*cellRuns{{tui: true, maxLoad: -1}, {tui: false, maxLoad: -1}}
	seq := 0
	for r := 1; r <= cfg.tuiRounds && ctx.Err() == nil; r++ {
		order := cells
		if r%2 == 0 {
			order = []*cellRuns{cells[1], cells[0]}
		}
		for _, c := range order {
			if ctx.Err() != nil {
				break
			}
			mode := tuiMode(c.tui)
			label := fmt.Sprintf("[%s %d/%d] %-9s", sc.name, r, cfg.tuiRounds, mode)
			res, li, err := retryBusy(ctx, cfg, log, label, func() (tuiRun, float64, string, error) {
				seq++
				return tuiOnce(ctx, cfg, fsTool, sc.parallel, c.tui, seq)
			})
			c.total++
			c.discarded += li.discarded
			if err != nil {
				tb.notes = append(tb.notes, fmt.Sprintf("round %d %s: %v", r, mode, err))
				continue
			}
			c.maxLoad = max(c.maxLoad, li.max())
			c.runs = append(c.runs, res)
		}
	}
	var meds [2]float64
	for i, c := range cells {
		var recv, rsecs, send, cpu, tm stats
		for _, r := range c.runs {
			recv.add(r.sum.recvBps / 1e9)
			rsecs.add(r.sum.recvSecs)
			if r.sum.sendBps > 0 {
				send.add(r.sum.sendBps / 1e9)
			}
			cpu.add(r.sum.cpu.Seconds())
			tm.add(r.tmux.Seconds())
		}
		if recv.ok() {
			meds[i] = recv.med()
		}
		tb.rows = append(tb.rows, []string{tuiMode(c.tui), okRuns(len(c.runs), c.total, c.discarded),
			recv.fmtMed("%.1f"), recv.fmtRange("%.1f"), rsecs.fmtMed("%.2f"), send.fmtMed("%.1f"),
			cpu.fmtMed("%.2f"), tm.fmtMed("%.2f"), fmtLoad(c.maxLoad)})
	}
	if meds[0] > 0 && meds[1] > 0 {
		loss := 100 * (1 - meds[0]/meds[1])
		what := fmt.Sprintf("a loss of %.1f %%", loss)
		if loss < 0 {
			what = fmt.Sprintf("%.1f %% more with the TUI (no loss)", -loss)
		}
		tb.results = append(tb.results, fmt.Sprintf("Receiver throughput with the TUI: %.1f vs %.1f Gbit/s headless (medians), %s.",
			meds[0], meds[1], what))
	}
	return tb
}

func tuiMode(tui bool) string {
	if tui {
		return "TUI"
	}
	return "--no-tui"
}

// tmuxCmd runs tmux on the private server sock, bounded, without $TMUX
// (so it also works from inside someone's tmux).
func tmuxCmd(ctx context.Context, sock string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "tmux", append([]string{"-L", sock}, args...)...)
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "TMUX=") {
			env = append(env, e)
		}
	}
	cmd.Env = env
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = tail(string(ee.Stderr))
		}
		return string(out), fmt.Errorf("tmux %s: %v%s", strings.Join(args, " "), err, msg)
	}
	return string(out), nil
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func tuiOnce(ctx context.Context, cfg config, t *tool, flows int, tui bool, seq int) (res tuiRun, other float64, desc string, err error) {
	sock := fmt.Sprintf("fsbench-%d-%d", os.Getpid(), seq) // tmux -L socket name
	cmdline := fmt.Sprintf("%s --loopback -P %d -t %s -C %s", shellQuote(t.bin), flows, fmtSecs(cfg.seconds), cfg.cc)
	if !tui {
		cmdline += " --no-tui"
	}
	cmdline += "; times; sleep 100"
	h0 := markHost()
	start := time.Now()
	if _, err := tmuxCmd(ctx, sock, "new-session", "-d", "-x", "120", "-y", "40", cmdline); err != nil {
		return res, -1, "", err
	}
	var sockPath string
	defer func() {
		// Its own deadline: this also runs after Ctrl-C. tmux leaves its
		// socket file behind; remove it (it is this run's own).
		_, _ = tmuxCmd(context.Background(), sock, "kill-server")
		if filepath.Base(sockPath) == sock {
			_ = os.Remove(sockPath)
		}
	}()
	info, err := tmuxCmd(ctx, sock, "display-message", "-p", "#{pid} #{socket_path}")
	if err != nil {
		return res, -1, "", err
	}
	pidStr, sockPath, _ := strings.Cut(strings.TrimSpace(info), " ")
	tmuxPid, _ := strconv.Atoi(pidStr)
	tmux0, _ := procCPU(tmuxPid)
	deadline := start.Add(time.Duration(cfg.seconds*float64(time.Second)) + extraTimeout)
	var pane string
	for {
		select {
		case <-ctx.Done():
			return res, -1, "", fmt.Errorf("interrupted")
		case <-time.After(200 * time.Millisecond):
		}
		pane, err = tmuxCmd(ctx, sock, "capture-pane", "-p", "-J", "-S", "-")
		if err != nil {
			return res, -1, "", err
		}
		if sum, ok := parseTUIPane(pane); ok {
			res.sum = sum
			break
		}
		if tui && !res.sentQ && strings.Contains(pane, "q to exit") {
			if _, err := tmuxCmd(ctx, sock, "send-keys", "q"); err != nil {
				return res, -1, "", err
			}
			res.sentQ = true
		}
		if time.Now().After(deadline) {
			return res, -1, "", fmt.Errorf("no summary in the pane after %s%s", time.Since(start).Round(time.Second), tail(pane))
		}
	}
	res.waited = time.Since(start)
	tmux1, _ := procCPU(tmuxPid)
	res.tmux = tmux1 - tmux0
	res.other = h0.others(res.sum.cpu + res.tmux)
	desc = fmt.Sprintf("receiver %.2f Gbit/s over %.2fs (sender %.2f)  flowscope cpu %.2fs  tmux cpu %.2fs",
		res.sum.recvBps/1e9, res.sum.recvSecs, res.sum.sendBps/1e9, res.sum.cpu.Seconds(), res.tmux.Seconds())
	return res, res.other, desc, nil
}

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/flowscope/flowscope/cputime"
	"github.com/flowscope/flowscope/nstest"
)

// Special scenarios measure something other than TCP throughput per tool
// (a search for a rate, set-up time, CPU, the TUI's cost). Each has its own
// runner and prints its own table after the throughput table.

// table is one special scenario's result.
type table struct {
	name    string
	desc    []string // how it was measured, printed above the table
	columns []string
	right   int // columns from this index on are right-aligned (Markdown)
	rows    [][]string
	results []string // the derived figures, printed below the table
	notes   []string // failed or odd runs
}

func runSpecial(ctx context.Context, cfg config, sc scenario, log io.Writer) *table {
	switch sc.special {
	case "udp-max":
		return runUDPMax(ctx, cfg, sc, log)
	case "setup":
		return runSetup(ctx, cfg, sc, log)
	case "sampler":
		return runSampler(ctx, cfg, sc, log)
	case "tui":
		return runTUI(ctx, cfg, sc, log)
	case "overrun":
		return runOverrun(ctx, cfg, sc, log)
	}
	return &table{name: sc.name, notes: []string{"unknown special scenario " + sc.special}}
}

func findTool(cfg config, name string) *tool {
	for _, t := range cfg.tools {
		if t.name == name {
			return t
		}
	}
	return nil
}

// loadInfo is how busy others kept the machine around one kept run.
type loadInfo struct {
	before    float64 // percent of all CPUs busy just before, -1 if unknown
	other     float64 // others' share during the run, percent, -1 if unknown
	discarded int     // earlier attempts redone because of others' load
}

func (l loadInfo) max() float64 { return max(l.before, l.other) }

// othersPct estimates others' share of the machine during host: busy time
// less softirq and ksoftirqd (our traffic's receive work) less own, the
// CPU time of the processes under test. -1 if unknown.
func othersPct(host cpuSample, own time.Duration) float64 {
	if !host.ok || host.all <= 0 {
		return -1
	}
	other := host.busy - host.softirq - host.ksoftirqd - own
	return max(0, 100*float64(other)/float64(host.all))
}

// hostMark is a point to measure others' load from.
type hostMark struct {
	cpu  cpuSample
	self time.Duration
}

func markHost() hostMark { return hostMark{cpu: readCPU(), self: selfCPU()} }

// others is others' share of the machine since m (see othersPct), own
// being the CPU time of the processes under test; the harness's own CPU
// time counts as ours too.
func (m hostMark) others(own time.Duration) float64 {
	return othersPct(readCPU().sub(m.cpu), own+selfCPU()-m.self)
}

// selfCPU is the harness's own user+system CPU time so far (reading the
// tools' output, polling /proc), which is not others' load.
func selfCPU() time.Duration {
	user, system, err := cputime.Self()
	if err != nil {
		return 0
	}
	return user + system
}

// retryBusy runs fn once the machine is quiet (-quiet, -quiet-wait) and
// repeats it, up to -busy-retries times, when others used -quiet percent
// or more of the CPUs during it; the last attempt is kept. fn returns its
// result, others' load during it, a line for the progress log and an
// error. label heads the log line.
func retryBusy[T any](ctx context.Context, cfg config, log io.Writer, label string,
	fn func() (res T, other float64, desc string, err error)) (T, loadInfo, error) {
	var li loadInfo
	for attempt := 0; ; attempt++ {
		before := waitQuiet(ctx, cfg.quietPct, cfg.quietWait)
		res, other, desc, err := fn()
		retry := err == nil && other >= cfg.quietPct && attempt < cfg.busyRetries && ctx.Err() == nil
		prefix := label
		if retry {
			prefix = "(discarded: others' load) " + label
		}
		if err != nil {
			fmt.Fprintf(log, "%s failed: %v\n", prefix, err)
		} else {
			fmt.Fprintf(log, "%s %s  other load before %.0f%% during %.0f%%\n", prefix, desc, before, other)
		}
		if cfg.pause > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(cfg.pause):
			}
		}
		if !retry {
			li.before, li.other = before, other
			return res, li, err
		}
		li.discarded++
	}
}

// procCPU is a live process's user+system CPU time (all its threads) from
// /proc/PID/stat, in USER_HZ ticks (10 ms).
func procCPU(pid int) (time.Duration, bool) {
	if nstest.ProcessGone(pid) {
		return 0, false
	}
	return threadCPU(strconv.Itoa(pid)), true
}

// lineWriter hands a process's output to onLine line by line, with the
// time the line's first byte arrived (since start).
type lineWriter struct {
	start   time.Time
	onLine  func(at time.Duration, line []byte)
	buf     []byte
	lineAt  time.Duration
	tailBuf []byte // the last few KiB, for error messages
}

func (w *lineWriter) Write(p []byte) (int, error) {
	now := time.Since(w.start)
	n := len(p)
	w.tailBuf = append(w.tailBuf, p...)
	if len(w.tailBuf) > 8192 {
		w.tailBuf = append(w.tailBuf[:0], w.tailBuf[len(w.tailBuf)-4096:]...)
	}
	for len(p) > 0 {
		if len(w.buf) == 0 {
			w.lineAt = now
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.buf = append(w.buf, p...)
			break
		}
		w.buf = append(w.buf, p[:i]...)
		w.onLine(w.lineAt, w.buf)
		w.buf = w.buf[:0]
		p = p[i+1:]
	}
	return n, nil
}

// runClientLines runs argv to completion, bounded by timeout, passing its
// stdout to onLine line by line as it arrives (the line is only valid
// during the call). started, if not nil, gets the pid once it runs. The
// result's stdout holds only the output's last few KiB.
func runClientLines(parent context.Context, timeout time.Duration, argv []string,
	started func(pid int), onLine func(at time.Duration, line []byte)) clientResult {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stderr bytes.Buffer
	start := time.Now()
	lw := &lineWriter{start: start, onLine: onLine}
	cmd.Stdout, cmd.Stderr = lw, &stderr
	cmd.WaitDelay = 2 * time.Second
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		return clientResult{err: err}
	}
	hwm := trackHWM(cmd.Process.Pid)
	if started != nil {
		started(cmd.Process.Pid)
	}
	err := cmd.Wait()
	r := clientResult{wall: time.Since(start), stdout: string(lw.tailBuf), stderr: stderr.String()}
	if len(lw.buf) > 0 {
		onLine(lw.lineAt, lw.buf)
	}
	peak := hwm.finish()
	if cmd.ProcessState != nil {
		r.usage = usageOf(cmd.ProcessState)
	}
	r.usage.maxRSS = peak
	switch {
	case parent.Err() != nil:
		err = errors.New("interrupted")
	case ctx.Err() == context.DeadlineExceeded:
		err = fmt.Errorf("client killed after %s timeout", timeout.Round(time.Second))
	case err != nil:
		err = fmt.Errorf("client: %v%s", err, tail(r.stderr+"\n"+r.stdout))
	}
	r.err = err
	return r
}

// localServer starts t's server on a free 127.0.0.1 port with extra
// arguments and waits until it listens, retrying on another port if it
// lost the port to a race.
func localServer(ctx context.Context, timeout time.Duration, argv func(port int) []string) (*server, int, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, 0, fmt.Errorf("free port: %v", err)
		}
		srv, err := startServer(ctx, timeout, argv(port))
		if err != nil {
			return nil, 0, fmt.Errorf("server: %v", err)
		}
		err = waitListening(srv, port, 10*time.Second)
		if err == nil {
			return srv, port, nil
		}
		srv.stop()
		lastErr = err
		if !errors.Is(err, errServerExited) || ctx.Err() != nil {
			break
		}
	}
	return nil, 0, lastErr
}

// stats is a median and range of the successful values.
type stats struct{ vals []float64 }

func (s *stats) add(v float64) { s.vals = append(s.vals, v) }
func (s stats) ok() bool       { return len(s.vals) > 0 }
func (s stats) med() float64   { return median(s.vals) }

// fmtMed formats the median with format f, or "–".
func (s stats) fmtMed(f string) string {
	if !s.ok() {
		return "–"
	}
	return fmt.Sprintf(f, s.med())
}

// fmtRange formats min–max with format f, or "".
func (s stats) fmtRange(f string) string {
	if !s.ok() {
		return ""
	}
	return fmt.Sprintf(f+"–"+f, slices.Min(s.vals), slices.Max(s.vals))
}

func fmtLoad(v float64) string {
	if v < 0 {
		return ""
	}
	return fmt.Sprintf("%.0f", v)
}

func okRuns(ok, total, discarded int) string {
	s := fmt.Sprintf("%d/%d", ok, total)
	if discarded > 0 {
		s += fmt.Sprintf(" (+%d redone)", discarded)
	}
	return s
}

// printTable prints one table as Markdown or aligned text. Markdown
// right-aligns the columns from index right on.
func printTable(w io.Writer, md bool, columns []string, right int, rows [][]string) {
	if md {
		fmt.Fprintf(w, "| %s |\n", strings.Join(columns, " | "))
		seps := make([]string, len(columns))
		for i := range seps {
			seps[i] = "---"
			if i >= right {
				seps[i] = "--:"
			}
		}
		fmt.Fprintf(w, "|%s|\n", strings.Join(seps, "|"))
		for _, r := range rows {
			cells := make([]string, len(r))
			for i, c := range r {
				cells[i] = strings.ReplaceAll(c, "|", `\|`)
			}
			fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
		}
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(columns, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

// printSpecial prints a special scenario's table with its description,
// results and notes.
func printSpecial(w io.Writer, md bool, t *table) {
	if md {
		fmt.Fprintf(w, "\n### %s\n\n", t.name)
		for _, d := range t.desc {
			fmt.Fprintf(w, "%s  \n", d)
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintf(w, "\n== %s ==\n", t.name)
		for _, d := range t.desc {
			fmt.Fprintln(w, d)
		}
		fmt.Fprintln(w)
	}
	if len(t.rows) > 0 {
		printTable(w, md, t.columns, t.right, t.rows)
	}
	bullet := "  "
	if md {
		bullet = "- "
	}
	if len(t.results) > 0 {
		fmt.Fprintln(w)
		for _, r := range t.results {
			fmt.Fprintf(w, "%s%s\n", bullet, r)
		}
	}
	if len(t.notes) > 0 {
		fmt.Fprintf(w, "\nFailed or odd runs:\n")
		if md {
			fmt.Fprintln(w)
		}
		for _, n := range t.notes {
			fmt.Fprintf(w, "%s%s\n", bullet, n)
		}
	}
}

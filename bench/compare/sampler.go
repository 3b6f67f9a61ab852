package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"
)

// sampler-10000: what flowscope's interval sampler costs with many flows.
// Every flow is rate-limited (-b 100K), to keep the data path light, and
// the client's and the server's CPU use is read from
// /proc/PID/stat over a fixed window of the data phase: from the client's
// --json-stream "start" event (all flows up) for samplerWindow, which with
// -i 1 holds samplerTicks interval samples on each side. Four variants
// run interleaved each round: -P 10000 and -P 1000, each with sampling
// on (-i 1 on client and server) and off (-i 0 on both); the -i 1 minus
// -i 0 difference is the sampler's cost, including formatting and writing
// each interval's report (client: one --json-stream line for all flows;
// server: its text report, one line per flow) into a pipe.

const (
	samplerSecs   = 5
	samplerWindow = 4500 * time.Millisecond
	samplerTicks  = 4 // interval samples at 1, 2, 3 and 4 s fall in the window
	samplerRate   = "100K"
)

type samplerVariant struct {
	flows    int
	interval string // -i on both sides
}

func (v samplerVariant) String() string {
	return fmt.Sprintf("-P %d -i %s", v.flows, v.interval)
}

type samplerRun struct {
	cliPct, srvPct float64 // percent of one core over the window
	sentBps        float64 // end.sum_sent
	recvBps        float64 // end.sum_received
	recvSecs       float64
	wall           time.Duration
	other          float64
}

func runSampler(ctx context.Context, cfg config, sc scenario, log io.Writer) *table {
	big := sc.parallel
	small := big / 10
	variants := []samplerVariant{{big, "1"}, {big, "0"}, {small, "1"}, {small, "0"}}
	tb := &table{
		name: sc.name,
		desc: []string{
			fmt.Sprintf("flowscope only: client `-P N -b %s -t %d -i I --json-stream`, server `-s -i I`, on 127.0.0.1, "+
				"fresh server per run, %d rounds, the four variants interleaved. -b asks for 100 kbit/s per flow "+
				"(%d flows: %.1f Gbit/s in all) to keep the data path light; flowscope applies it to TCP as SO_MAX_PACING_RATE "+
				"(see the sent / received columns for what that gave). "+
				"CPU %% = the process's user+system time (/proc/PID/stat, 10 ms ticks, all threads) over a %.1f s window "+
				"that starts at the client's \"start\" event (all flows up), divided by the window; 100 = one core. "+
				"With -i 1 each side takes %d interval samples in the window; -i 0 turns the sampler off on both sides.",
				samplerRate, samplerSecs, cfg.rounds, big, float64(big)*100e3/1e9, samplerWindow.Seconds(), samplerTicks),
		},
		columns: []string{"variant", "ok runs", "client CPU % (median)", "min–max", "server CPU % (median)", "min–max",
			"sent / received Gbit/s", "received over s", "client wall s", "others' load % (max)"},
		right: 2,
	}
	fsTool := findTool(cfg, "flowscope")
	if fsTool == nil {
		tb.notes = append(tb.notes, "skipped: needs flowscope in -tools")
		return tb
	}
	if err := raiseNofile(uint64(big) + 1024); err != nil {
		tb.notes = append(tb.notes, err.Error())
	}
	type cellRuns struct {
		v         samplerVariant
		runs      []samplerRun
		total     int
		discarded int
		maxLoad   float64
	}
	cells := make([]*cellRuns, len(variants))
	for i, v := range variants {
		cells[i] = &cellRuns{v: v, maxLoad: -1}
	}
	for r := 1; r <= cfg.rounds && ctx.Err() == nil; r++ {
		for _, c := range cells {
			if ctx.Err() != nil {
				break
			}
			label := fmt.Sprintf("[%s %d/%d] %-16s", sc.name, r, cfg.rounds, c.v)
			res, li, err := retryBusy(ctx, cfg, log, label, func() (samplerRun, float64, string, error) {
				return samplerOnce(ctx, cfg, fsTool, c.v)
			})
			c.total++
			c.discarded += li.discarded
			if err != nil {
				tb.notes = append(tb.notes, fmt.Sprintf("round %d %s: %v", r, c.v, err))
				continue
			}
			c.maxLoad = max(c.maxLoad, li.max())
			c.runs = append(c.runs, res)
		}
	}
	med := map[samplerVariant][2]float64{}
	var rateNotes []string
	for _, c := range cells {
		var cli, srv, sent, recv, rsecs, wall stats
		for _, r := range c.runs {
			cli.add(r.cliPct)
			srv.add(r.srvPct)
			sent.add(r.sentBps / 1e9)
			recv.add(r.recvBps / 1e9)
			rsecs.add(r.recvSecs)
			wall.add(r.wall.Seconds())
		}
		if cli.ok() {
			med[c.v] = [2]float64{cli.med(), srv.med()}
		}
		asked := float64(c.v.flows) * 100e3 / 1e9
		if c.v.interval == "1" && sent.ok() && sent.med() > 1.5*asked {
			rateNotes = append(rateNotes, fmt.Sprintf(
				"-b %s did not hold -P %d to %.1f Gbit/s: the client counted %.2f Gbit/s sent in the %d s test "+
					"(bytes its sockets accepted), the receiver got %.2f Gbit/s measured over %.1f s, and the client ran %.1f s (medians).",
				samplerRate, c.v.flows, asked, sent.med(), samplerSecs, recv.med(), rsecs.med(), wall.med()))
		}
		tb.rows = append(tb.rows, []string{c.v.String(), okRuns(len(c.runs), c.total, c.discarded),
			cli.fmtMed("%.1f"), cli.fmtRange("%.1f"), srv.fmtMed("%.1f"), srv.fmtRange("%.1f"),
			sent.fmtMed("%.2f") + " / " + recv.fmtMed("%.2f"), rsecs.fmtMed("%.1f"), wall.fmtMed("%.1f"), fmtLoad(c.maxLoad)})
	}
	diff := func(a, b samplerVariant) ([2]float64, bool) {
		x, ok1 := med[a]
		y, ok2 := med[b]
		return [2]float64{x[0] - y[0], x[1] - y[1]}, ok1 && ok2
	}
	for _, n := range []int{big, small} {
		d, ok := diff(samplerVariant{n, "1"}, samplerVariant{n, "0"})
		if !ok {
			continue
		}
		perSample := func(pct float64) float64 { // ms of CPU per interval sample
			return pct / 100 * samplerWindow.Seconds() / samplerTicks * 1e3
		}
		tb.results = append(tb.results, fmt.Sprintf(
			"Sampler cost at %d flows (-i 1 minus -i 0, medians): client %+.1f %%, server %+.1f %% of a core, "+
				"i.e. %.1f / %.1f ms of CPU per 1 s interval sample, %.2f / %.2f µs per flow per sample.",
			n, d[0], d[1], perSample(d[0]), perSample(d[1]),
			perSample(d[0])*1e3/float64(n), perSample(d[1])*1e3/float64(n)))
	}
	if d, ok := diff(samplerVariant{big, "1"}, samplerVariant{small, "1"}); ok {
		tb.results = append(tb.results, fmt.Sprintf(
			"-P %d minus -P %d, both -i 1: client %+.1f %%, server %+.1f %% of a core; this also includes "+
				"10× the data (%.1f vs %.1f Gbit/s) and 10× the paced sockets, not only sampling.",
			big, small, d[0], d[1], float64(big)*100e3/1e9, float64(small)*100e3/1e9))
	}
	tb.results = append(tb.results, rateNotes...)
	return tb
}

func samplerOnce(ctx context.Context, cfg config, t *tool, v samplerVariant) (samplerRun, float64, string, error) {
	timeout := samplerSecs*time.Second + extraTimeout
	srv, port, err := localServer(ctx, timeout+extraTimeout, func(port int) []string {
		return []string{t.bin, "-s", "-B", "127.0.0.1", "-p", strconv.Itoa(port), "-i", v.interval}
	})
	if err != nil {
		return samplerRun{}, -1, "", err
	}
	defer srv.stop()
	srvPid := srv.cmd.Process.Pid
	argv := []string{t.bin, "-c", "127.0.0.1", "-p", strconv.Itoa(port), "-P", strconv.Itoa(v.flows),
		"-b", samplerRate, "-t", strconv.Itoa(samplerSecs), "-i", v.interval, "-C", cfg.cc, "--json-stream"}

	var (
		mu       sync.Mutex
		cliPid   int
		res      samplerRun
		windowOK bool
		winErr   error
		errText  string
		timer    *time.Timer
	)
	started := func(pid int) {
		mu.Lock()
		cliPid = pid
		mu.Unlock()
	}
	onLine := func(_ time.Duration, line []byte) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case bytes.HasPrefix(line, []byte(`{"event":"start"`)) && timer == nil:
			c0, ok1 := procCPU(cliPid)
			s0, ok2 := procCPU(srvPid)
			h0 := markHost()
			t0 := time.Now()
			if !ok1 || !ok2 {
				winErr = fmt.Errorf("cannot read CPU time at the start")
				return
			}
			timer = time.AfterFunc(samplerWindow, func() {
				mu.Lock()
				defer mu.Unlock()
				c1, ok1 := procCPU(cliPid)
				s1, ok2 := procCPU(srvPid)
				w := time.Since(t0).Seconds()
				if !ok1 || !ok2 {
					winErr = fmt.Errorf("a process ended within the %.1f s window", samplerWindow.Seconds())
					return
				}
				res.cliPct = 100 * (c1 - c0).Seconds() / w
				res.srvPct = 100 * (s1 - s0).Seconds() / w
				res.other = h0.others(c1 - c0 + s1 - s0)
				windowOK = true
			})
		case bytes.HasPrefix(line, []byte(`{"event":"error"`)):
			var ev struct{ Data string }
			_ = json.Unmarshal(line, &ev)
			errText = ev.Data
		case bytes.HasPrefix(line, []byte(`{"event":"end"`)):
			type sum struct {
				Seconds       float64 `json:"seconds"`
				BitsPerSecond float64 `json:"bits_per_second"`
			}
			var ev struct {
				Data struct {
					SumSent     *sum `json:"sum_sent"`
					SumReceived *sum `json:"sum_received"`
				}
			}
			if json.Unmarshal(line, &ev) == nil && ev.Data.SumSent != nil && ev.Data.SumReceived != nil {
				res.sentBps = ev.Data.SumSent.BitsPerSecond
				res.recvBps, res.recvSecs = ev.Data.SumReceived.BitsPerSecond, ev.Data.SumReceived.Seconds
			}
		}
	}
	c := runClientLines(ctx, timeout, argv, started, onLine)
	su := srv.stop()
	mu.Lock()
	defer mu.Unlock()
	if timer != nil {
		timer.Stop()
	}
	res.wall = c.wall
	switch {
	case errText != "":
		return res, -1, "", fmt.Errorf("%s", errText)
	case c.err != nil:
		return res, -1, "", c.err
	case winErr != nil:
		return res, -1, "", winErr
	case !windowOK:
		return res, -1, "", fmt.Errorf("the client exited before the CPU window ended (no start event?)")
	}
	desc := fmt.Sprintf("CPU in window: client %.1f%% server %.1f%%  sent %.2f received %.2f Gbit/s over %.1fs  whole run: wall %.2fs cpu cli %.2fs srv %.2fs rss MiB cli %s srv %s",
		res.cliPct, res.srvPct, res.sentBps/1e9, res.recvBps/1e9, res.recvSecs, c.wall.Seconds(), c.usage.cpu.Seconds(), su.cpu.Seconds(),
		mib(c.usage.maxRSS), mib(su.maxRSS))
	return res, res.other, desc, nil
}

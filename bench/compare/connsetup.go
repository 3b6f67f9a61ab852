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

// setup-N: how long a client takes from exec until all N flows are
// connected and running, in a short (-t 1) test on 127.0.0.1.
//
//   - flowscope: the client runs with --json-stream, which writes the
//     "start" event once every data connection is up, just before data
//     flows (engine.Start); the time is when that line arrives.
//   - iperf2: its client (-e) prints one "… connected with …" line per flow
//     as the flow's thread connects, then starts sending; the time is
//     when the N-th line arrives.
//
// Both are read from the client's stdout pipe as it arrives, so the times
// are upper bounds by at most the time to write a line.

const setupSecs = "1"

type setupRun struct {
	connected time.Duration // exec → all flows connected
	wall      time.Duration
	// flowscope only
	connMedianUS, connMaxUS float64
	sentSecs, recvSecs      float64
	cli, srv                usage
}

func runSetup(ctx context.Context, cfg config, sc scenario, log io.Writer) *table {
	n := sc.parallel
	tb := &table{
		name: sc.name,
		desc: []string{
			fmt.Sprintf("Client `-P %d -t %s` on 127.0.0.1, fresh server per run, %d rounds, tools interleaved. "+
				"\"connected s\": from starting the client until all %d flows are connected — flowscope: its --json-stream \"start\" event "+
				"(written once every data connection is up, just before data flows); iperf2: its %d-th \"connected with\" line (-e), "+
				"after which each flow's thread sends at once. \"wall s\": the whole client run, including the 1 s test, "+
				"the results exchange and exit. \"connect µs\": flowscope's own per-connection connect times (flowscope.connect_time_us).",
				n, setupSecs, cfg.rounds, n, n),
		},
		columns: []string{"tool", "ok runs", "connected s (median)", "min–max", "wall s (median)", "test s sent / received",
			"connect µs median / max", "peak RSS MiB cli / srv", "others' load % (max)", "tool time / flowscope time"},
		right: 2,
	}
	if err := raiseNofile(uint64(n) + 1024); err != nil {
		tb.notes = append(tb.notes, err.Error())
	}
	type cellRuns struct {
		t         *tool
		na        string
		runs      []setupRun
		total     int
		discarded int
		maxLoad   float64
	}
	var cells []*cellRuns
	for _, t := range cfg.tools {
		c := &cellRuns{t: t, maxLoad: -1}
		switch {
		case t.name == "iperf3":
			c.na = t.na(scenario{parallel: n})
		case t.name == "iperf2" && n > 1000:
			c.na = "not run above 1,000 flows (a thread per flow on each side)"
		}
		cells = append(cells, c)
	}
	for r := 1; r <= cfg.rounds && ctx.Err() == nil; r++ {
		for _, c := range cells {
			if c.na != "" || ctx.Err() != nil {
				continue
			}
			label := fmt.Sprintf("[%s %d/%d] %-9s", sc.name, r, cfg.rounds, c.t.name)
			res, li, err := retryBusy(ctx, cfg, log, label, func() (setupRun, float64, string, error) {
				return setupOnce(ctx, cfg, c.t, n)
			})
			c.total++
			c.discarded += li.discarded
			if err != nil {
				tb.notes = append(tb.notes, fmt.Sprintf("round %d %s: %v", r, c.t.name, err))
				continue
			}
			c.maxLoad = max(c.maxLoad, li.max())
			c.runs = append(c.runs, res)
		}
	}
	var fsConn float64
	for _, c := range cells {
		if c.t.name == "flowscope" && len(c.runs) > 0 {
			var s stats
			for _, r := range c.runs {
				s.add(r.connected.Seconds())
			}
			fsConn = s.med()
		}
	}
	for _, c := range cells {
		if c.na != "" {
			tb.rows = append(tb.rows, []string{c.t.name, "–", "n/a: " + c.na, "", "", "", "", "", "", ""})
			continue
		}
		var conn, wall, sent, recv, cmed, cmax stats
		var cliRSS, srvRSS int64
		for _, r := range c.runs {
			conn.add(r.connected.Seconds())
			wall.add(r.wall.Seconds())
			if r.sentSecs > 0 {
				sent.add(r.sentSecs)
				recv.add(r.recvSecs)
			}
			if r.connMaxUS > 0 {
				cmed.add(r.connMedianUS)
				cmax.add(r.connMaxUS)
			}
			cliRSS, srvRSS = max(cliRSS, r.cli.maxRSS), max(srvRSS, r.srv.maxRSS)
		}
		row := []string{c.t.name, okRuns(len(c.runs), c.total, c.discarded), conn.fmtMed("%.2f"), conn.fmtRange("%.2f"),
			wall.fmtMed("%.2f"), "", "", mib(cliRSS) + " / " + mib(srvRSS), fmtLoad(c.maxLoad), ""}
		if sent.ok() {
			row[5] = sent.fmtMed("%.2f") + " / " + recv.fmtMed("%.2f")
		}
		if cmax.ok() {
			row[6] = cmed.fmtMed("%.0f") + " / " + cmax.fmtMed("%.0f")
		}
		if !conn.ok() {
			row[2] = "failed"
		} else if fsConn > 0 {
			row[9] = fmt.Sprintf("%.2f", conn.med()/fsConn)
		}
		tb.rows = append(tb.rows, row)
	}
	return tb
}

func setupOnce(ctx context.Context, cfg config, t *tool, n int) (setupRun, float64, string, error) {
	timeout := time.Second + extraTimeout
	srv, port, err := localServer(ctx, timeout+extraTimeout, func(port int) []string {
		return t.serverArgs("127.0.0.1", port)
	})
	if err != nil {
		return setupRun{}, -1, "", err
	}
	defer srv.stop()
	var (
		mu       sync.Mutex
		res      setupRun
		seen     bool
		count    int
		parseErr error
		errText  string
	)
	var argv []string
	var onLine func(at time.Duration, line []byte)
	switch t.name {
	case "flowscope":
		argv = []string{t.bin, "-c", "127.0.0.1", "-p", strconv.Itoa(port), "-P", strconv.Itoa(n), "-t", setupSecs,
			"-C", cfg.cc, "--json-stream"}
		onLine = func(at time.Duration, line []byte) {
			mu.Lock()
			defer mu.Unlock()
			switch {
			case bytes.HasPrefix(line, []byte(`{"event":"start"`)):
				res.connected, seen = at, true
			case bytes.HasPrefix(line, []byte(`{"event":"error"`)):
				var ev struct{ Data string }
				_ = json.Unmarshal(line, &ev)
				errText = ev.Data
			case bytes.HasPrefix(line, []byte(`{"event":"flowscope"`)):
				var ev struct {
					Data struct {
						ConnectTimeUS *struct{ Median, Max float64 } `json:"connect_time_us"`
					}
				}
				if err := json.Unmarshal(line, &ev); err != nil {
					parseErr = fmt.Errorf("flowscope event: %v", err)
				} else if ct := ev.Data.ConnectTimeUS; ct != nil {
					res.connMedianUS, res.connMaxUS = ct.Median, ct.Max
				}
			case bytes.HasPrefix(line, []byte(`{"event":"end"`)):
				var ev struct {
					Data struct {
						SumSent     *struct{ Seconds float64 } `json:"sum_sent"`
						SumReceived *struct{ Seconds float64 } `json:"sum_received"`
					}
				}
				if err := json.Unmarshal(line, &ev); err != nil {
					parseErr = fmt.Errorf("end event: %v", err)
				} else if ev.Data.SumSent != nil && ev.Data.SumReceived != nil {
					res.sentSecs, res.recvSecs = ev.Data.SumSent.Seconds, ev.Data.SumReceived.Seconds
				}
			}
		}
	case "iperf2":
		argv = []string{t.bin, "-c", "127.0.0.1", "-p", strconv.Itoa(port), "-P", strconv.Itoa(n), "-t", setupSecs,
			"-Z", cfg.cc, "-e", "-f", "b"}
		onLine = func(at time.Duration, line []byte) {
			mu.Lock()
			defer mu.Unlock()
			if bytes.Contains(line, []byte(" connected with ")) {
				count++
				if count == n {
					res.connected, seen = at, true
				}
			}
		}
	default:
		return setupRun{}, -1, "", fmt.Errorf("no setup run for %s", t.name)
	}
	h0 := markHost()
	c := runClientLines(ctx, timeout, argv, nil, onLine)
	res.srv = srv.stop()
	mu.Lock()
	defer mu.Unlock()
	res.wall, res.cli = c.wall, c.usage
	other := h0.others(c.usage.cpu + res.srv.cpu)
	switch {
	case errText != "":
		return res, other, "", fmt.Errorf("%s", errText)
	case c.err != nil:
		return res, other, "", c.err
	case parseErr != nil:
		return res, other, "", parseErr
	case !seen && t.name == "iperf2":
		return res, other, "", fmt.Errorf("client printed %d/%d \"connected with\" lines", count, n)
	case !seen:
		return res, other, "", fmt.Errorf("no start event")
	}
	desc := fmt.Sprintf("connected %.3fs  wall %.2fs", res.connected.Seconds(), res.wall.Seconds())
	if res.sentSecs > 0 {
		desc += fmt.Sprintf("  test %.2fs sent / %.2fs received  connect µs median %.0f max %.0f",
			res.sentSecs, res.recvSecs, res.connMedianUS, res.connMaxUS)
	}
	desc += fmt.Sprintf("  cpu cli %.2fs srv %.2fs  rss MiB cli %s srv %s",
		res.cli.cpu.Seconds(), res.srv.cpu.Seconds(), mib(res.cli.maxRSS), mib(res.srv.maxRSS))
	return res, other, desc, nil
}

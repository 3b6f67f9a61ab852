package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"time"
)

// overrun-N: how far past its length a timed flowscope test with N flows
// runs on a machine kept busy by two CPU hogs (`yes > /dev/null`, as the
// suite's loaded runs use): the client's -t is the test's length; the
// server's measured seconds (end.sum_received.seconds) end when its
// TEST_END arrived, so their difference is the overrun a user waits for.
// The client's own seconds and its wall time (exec to exit, setup and the
// results exchange included) are shown beside it.

// overrunSecs is each scenario's -t: 5 s at 1,000 flows, 15 s at 5,000.
func overrunSecs(flows int) int {
	if flows >= 5000 {
		return 15
	}
	return 5
}

type overrunRun struct {
	clientSecs, serverSecs float64
	wall                   time.Duration
}

func runOverrun(ctx context.Context, cfg config, sc scenario, log io.Writer) *table {
	secs := overrunSecs(sc.parallel)
	tb := &table{
		name: sc.name,
		desc: []string{fmt.Sprintf("flowscope only: client `-P %d -t %d -J`, server `-s -1`, on 127.0.0.1, fresh server per run, "+
			"%d rounds, beside two CPU hogs (`yes > /dev/null`) for the whole run. Overrun = the server's measured seconds "+
			"(end.sum_received.seconds: until its TEST_END) minus -t; client seconds = end.sum_sent.seconds; wall = "+
			"the client process from exec to exit (setup and results exchange included).", sc.parallel, secs, cfg.rounds)},
		columns: []string{"flows", "-t s", "ok runs", "overrun s (median)", "max", "client s (median)", "server s (median)", "wall s (median)"},
		right:   1,
	}
	fsTool := findTool(cfg, "flowscope")
	if fsTool == nil {
		tb.notes = append(tb.notes, "skipped: needs flowscope in -tools")
		return tb
	}
	if err := raiseNofile(uint64(2*sc.parallel) + 1024); err != nil {
		tb.notes = append(tb.notes, err.Error())
	}
	var over, cli, srv, wall stats
	total := 0
	for r := 1; r <= cfg.rounds && ctx.Err() == nil; r++ {
		total++
		res, err := overrunOnce(ctx, fsTool, sc.parallel, secs)
		if err != nil {
			tb.notes = append(tb.notes, fmt.Sprintf("round %d: %v", r, err))
			continue
		}
		fmt.Fprintf(log, "[%s %d/%d] overrun %.2f s (client %.2f s, server %.2f s, wall %.1f s)\n",
			sc.name, r, cfg.rounds, res.serverSecs-float64(secs), res.clientSecs, res.serverSecs, res.wall.Seconds())
		over.add(res.serverSecs - float64(secs))
		cli.add(res.clientSecs)
		srv.add(res.serverSecs)
		wall.add(res.wall.Seconds())
	}
	maxOver := "—"
	if over.ok() {
		m := over.vals[0]
		for _, v := range over.vals {
			m = max(m, v)
		}
		maxOver = fmt.Sprintf("%.2f", m)
	}
	tb.rows = append(tb.rows, []string{strconv.Itoa(sc.parallel), strconv.Itoa(secs), okRuns(len(over.vals), total, 0),
		over.fmtMed("%.2f"), maxOver, cli.fmtMed("%.2f"), srv.fmtMed("%.2f"), wall.fmtMed("%.1f")})
	return tb
}

// overrunOnce runs one loaded test and reads both sides' seconds from the
// client's -J document.
func overrunOnce(ctx context.Context, t *tool, flows, secs int) (overrunRun, error) {
	var hogs []*exec.Cmd
	defer func() {
		for _, h := range hogs {
			_ = h.Process.Kill()
			_ = h.Wait()
		}
	}()
	for range 2 {
		h := exec.CommandContext(ctx, "yes")
		h.Stdout = io.Discard
		if err := h.Start(); err != nil {
			return overrunRun{}, fmt.Errorf("CPU hog: %v", err)
		}
		hogs = append(hogs, h)
	}
	timeout := time.Duration(secs)*time.Second + 2*extraTimeout
	srv, port, err := localServer(ctx, timeout+extraTimeout, func(port int) []string {
		return []string{t.bin, "-s", "-B", "127.0.0.1", "-p", strconv.Itoa(port), "-1"}
	})
	if err != nil {
		return overrunRun{}, err
	}
	defer srv.stop()
	r := runClient(ctx, timeout, []string{t.bin, "-c", "127.0.0.1", "-p", strconv.Itoa(port),
		"-P", strconv.Itoa(flows), "-t", strconv.Itoa(secs), "-J"})
	if r.err != nil {
		return overrunRun{}, r.err
	}
	return parseOverrun(r.stdout, r.wall)
}

// parseOverrun reads the client's -J document: its own and the server's
// measured seconds.
func parseOverrun(doc string, wall time.Duration) (overrunRun, error) {
	var d struct {
		End struct {
			SumSent     struct{ Seconds float64 } `json:"sum_sent"`
			SumReceived struct{ Seconds float64 } `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		return overrunRun{}, fmt.Errorf("client -J: %v", err)
	}
	if d.End.SumSent.Seconds <= 0 || d.End.SumReceived.Seconds <= 0 {
		return overrunRun{}, fmt.Errorf("client -J has no end.sum_sent/sum_received seconds")
	}
	return overrunRun{clientSecs: d.End.SumSent.Seconds, serverSecs: d.End.SumReceived.Seconds, wall: wall}, nil
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// udp-max: the highest UDP rate with 1,470-byte datagrams that loopback
// carries without loss, per tool, found by bisecting -b between udpLo and
// udpHi on a log scale (each step halves the ratio hi/lo), the tools
// taking turns step by step.

const (
	udpLo      = 100e6 // bit/s
	udpHi      = 20e9
	udpLen     = 1470
	udpKeepsUp = 0.95 // a step passes only if the receiver got this share of -b
	// udpSocketBufMiB is flowscope's UDP socket buffer size
	// (engine.udpSocketBuffer), for the description.
	udpSocketBufMiB = 4
)

// udpMeasure is a UDP test's end.sum_received (and sum_sent) numbers.
type udpMeasure struct {
	recvBps, sentBps float64
	lost, packets    int64
	seconds          float64
}

func parseUDPJSON(c clientResult) (udpMeasure, error) {
	var doc struct {
		Error string `json:"error"`
		End   struct {
			SumSent *struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_sent"`
			SumReceived *struct {
				Seconds       float64 `json:"seconds"`
				BitsPerSecond float64 `json:"bits_per_second"`
				LostPackets   *int64  `json:"lost_packets"`
				Packets       int64   `json:"packets"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	jerr := json.Unmarshal([]byte(c.stdout), &doc)
	switch {
	case jerr == nil && doc.Error != "":
		return udpMeasure{}, fmt.Errorf("%s", doc.Error)
	case c.err != nil:
		return udpMeasure{}, c.err
	case jerr != nil:
		return udpMeasure{}, fmt.Errorf("client JSON: %v%s", jerr, tail(c.stderr))
	case doc.End.SumReceived == nil || doc.End.SumReceived.LostPackets == nil:
		return udpMeasure{}, fmt.Errorf("client JSON has no end.sum_received.lost_packets")
	}
	r := doc.End.SumReceived
	m := udpMeasure{recvBps: r.BitsPerSecond, lost: *r.LostPackets, packets: r.Packets, seconds: r.Seconds}
	if doc.End.SumSent != nil {
		m.sentBps = doc.End.SumSent.BitsPerSecond
	}
	if m.packets <= 0 {
		return m, fmt.Errorf("receiver counted no datagrams")
	}
	return m, nil
}

// udpSearch is one tool's bisection.
type udpSearch struct {
	t      *tool
	label  string   // the row's name
	extra  []string // client arguments beyond the common ones
	lo, hi float64  // bit/s; lo passed (or is the floor), hi failed (or is the ceiling)
	steps  []udpStep
}

type udpStep struct {
	target float64 // -b, bit/s
	m      udpMeasure
	err    error
	load   loadInfo
}

// pass: the receiver lost nothing and got (nearly) the asked-for rate.
func (s udpStep) pass() bool {
	return s.err == nil && s.m.lost == 0 && s.m.recvBps >= udpKeepsUp*s.target
}

// next is the geometric midpoint of the bracket, rounded to 1 Mbit/s.
func (u *udpSearch) next() float64 {
	return math.Round(math.Sqrt(u.lo*u.hi)/1e6) * 1e6
}

func (u *udpSearch) record(s udpStep) {
	u.steps = append(u.steps, s)
	if s.pass() {
		u.lo = s.target
	} else {
		u.hi = s.target
	}
}

// best is the highest receiver rate among the steps without loss, and
// that step's -b.
func (u *udpSearch) best() (bps, target float64, ok bool) {
	for _, s := range u.steps {
		if s.err == nil && s.m.lost == 0 && s.m.recvBps > bps {
			bps, target, ok = s.m.recvBps, s.target, true
		}
	}
	return
}

func runUDPMax(ctx context.Context, cfg config, sc scenario, log io.Writer) *table {
	tb := &table{
		name: sc.name,
		desc: []string{
			fmt.Sprintf("UDP, one stream, `-u -l %d -b RATE -t %s` on 127.0.0.1, fresh server per step. "+
				"Bisection of RATE on a log scale between %s and %s, %d steps of %s s per tool, the tools taking turns step by step. "+
				"A step passes when the receiver lost no datagrams (end.sum_received.lost_packets == 0) and received at least %.0f %% of RATE "+
				"(else the sender could not keep up); the next step goes up after a pass, down otherwise.",
				udpLen, fmtSecs(cfg.udpStepSecs), "100 Mbit/s", "20 Gbit/s", cfg.udpSteps, fmtSecs(cfg.udpStepSecs), udpKeepsUp*100),
			"Result: the highest rate the receiver got in any step without loss. iperf2 is not part of this scenario.",
			fmt.Sprintf("flowscope sets %d MiB UDP socket buffers (SO_SNDBUF/SO_RCVBUF, capped by net.core.rmem_max/wmem_max); "+
				"iperf3 keeps the defaults unless given -w, so \"iperf3 -w 4M\" (the same search with -w 4M) is a control for the buffer size.",
				udpSocketBufMiB),
		},
		columns: []string{"tool", "zero-loss Gbit/s (receiver)", "at -b", "steps: -b → received Gbit/s (lost datagrams)", "others' load % (max)", "flowscope / tool"},
		right:   4,
	}
	var searches []*udpSearch
	if t := findTool(cfg, "flowscope"); t != nil {
		searches = append(searches, &udpSearch{t: t, label: t.name, lo: udpLo, hi: udpHi})
	}
	if t := findTool(cfg, "iperf3"); t != nil {
		searches = append(searches, &udpSearch{t: t, label: t.name, lo: udpLo, hi: udpHi},
			&udpSearch{t: t, label: "iperf3 -w 4M", extra: []string{"-w", "4M"}, lo: udpLo, hi: udpHi})
	}
	if len(searches) == 0 {
		tb.notes = append(tb.notes, "skipped: needs flowscope or iperf3 in -tools")
		return tb
	}
	secs := strconv.FormatFloat(cfg.udpStepSecs, 'f', -1, 64)
	testTime := time.Duration(cfg.udpStepSecs * float64(time.Second))
	for i := 1; i <= cfg.udpSteps && ctx.Err() == nil; i++ {
		for _, u := range searches {
			if ctx.Err() != nil {
				break
			}
			target := u.next()
			label := fmt.Sprintf("[%s %d/%d] %-12s -b %-7s", sc.name, i, cfg.udpSteps, u.label, fmtRate(target))
			m, li, err := retryBusy(ctx, cfg, log, label, func() (udpMeasure, float64, string, error) {
				return udpRun(ctx, u.t, target, secs, testTime, u.extra)
			})
			u.record(udpStep{target: target, m: m, err: err, load: li})
		}
	}
	bests := map[string]float64{}
	for _, u := range searches {
		bps, _, ok := u.best()
		if ok {
			bests[u.label] = bps
		}
	}
	for _, u := range searches {
		row := []string{u.label, "", "", "", "", ""}
		var steps []string
		maxLoad := -1.0
		for _, s := range u.steps {
			maxLoad = max(maxLoad, s.load.max())
			if s.err != nil {
				steps = append(steps, fmt.Sprintf("%s → failed", fmtGbps(s.target)))
				tb.notes = append(tb.notes, fmt.Sprintf("%s -b %s: %v", u.label, fmtRate(s.target), s.err))
				continue
			}
			mark := ""
			if s.m.lost == 0 && !s.pass() {
				mark = ", sender short"
			}
			steps = append(steps, fmt.Sprintf("%s → %s (%d%s)", fmtGbps(s.target), fmtGbps(s.m.recvBps), s.m.lost, mark))
			if s.load.discarded > 0 {
				tb.notes = append(tb.notes, fmt.Sprintf("%s -b %s: redone %d× because of others' load", u.label, fmtRate(s.target), s.load.discarded))
			}
		}
		row[3] = strings.Join(steps, ", ")
		row[4] = fmtLoad(maxLoad)
		if bps, target, ok := u.best(); ok {
			row[1] = fmtGbps(bps)
			row[2] = fmtRate(target)
			if fs, ok := bests["flowscope"]; ok && u.label == "flowscope" {
				row[5] = "1"
			} else if ok {
				row[5] = fmt.Sprintf("%.2f", fs/bps)
			}
		} else {
			row[1] = "none without loss"
		}
		tb.rows = append(tb.rows, row)
	}
	if fs, ok1 := bests["flowscope"]; ok1 {
		if i3, ok2 := bests["iperf3"]; ok2 {
			tb.results = append(tb.results, fmt.Sprintf("Highest zero-loss rate: flowscope %s Gbit/s, iperf3 %s Gbit/s; flowscope / iperf3 = %.2f.",
				fmtGbps(fs), fmtGbps(i3), fs/i3))
		}
		if i3w, ok2 := bests["iperf3 -w 4M"]; ok2 {
			tb.results = append(tb.results, fmt.Sprintf("With the same 4 MiB buffers (iperf3 -w 4M): iperf3 %s Gbit/s; flowscope / iperf3 -w 4M = %.2f.",
				fmtGbps(i3w), fs/i3w))
		}
	}
	return tb
}

// udpRun runs one UDP test at target bit/s.
func udpRun(ctx context.Context, t *tool, target float64, secs string, testTime time.Duration, extra []string) (udpMeasure, float64, string, error) {
	srv, port, err := localServer(ctx, testTime+2*extraTimeout, func(port int) []string {
		return t.serverArgs("127.0.0.1", port)
	})
	if err != nil {
		return udpMeasure{}, -1, "", err
	}
	defer srv.stop()
	argv := []string{t.bin, "-c", "127.0.0.1", "-p", strconv.Itoa(port), "-u", "-l", strconv.Itoa(udpLen),
		"-b", fmtRate(target), "-t", secs, "-J"}
	argv = append(argv, extra...)
	h0 := markHost()
	c := runClient(ctx, testTime+extraTimeout, argv)
	su := srv.stop()
	other := h0.others(c.usage.cpu + su.cpu)
	m, err := parseUDPJSON(c)
	desc := fmt.Sprintf("received %s Gbit/s (sent %s), lost %d of %d datagrams  cpu cli %.2fs srv %.2fs",
		fmtGbps(m.recvBps), fmtGbps(m.sentBps), m.lost, m.packets, c.usage.cpu.Seconds(), su.cpu.Seconds())
	return m, other, desc, err
}

// fmtRate writes bit/s as a -b argument in whole Mbit/s ("1414M").
func fmtRate(bps float64) string {
	return fmt.Sprintf("%.0fM", bps/1e6)
}

func fmtGbps(bps float64) string {
	return fmt.Sprintf("%.2f", bps/1e9)
}

package main

import (
	"context"
	"io"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/flowscope/flowscope/engine"
	"github.com/flowscope/flowscope/fleet"
	"github.com/flowscope/flowscope/live"
	"github.com/flowscope/flowscope/record"
	"github.com/flowscope/flowscope/report"
	"github.com/flowscope/flowscope/ui"
)

// keptSummaries is how many tests' summaries a server's live view keeps.
const keptSummaries = 10

// liveInterval is how often the engine samples for a client's live view
// when interval reports are off (-i 0): the view needs samples to show.
// The summary it leaves gets none of them, as without the view.
const liveInterval = time.Second

// runTUI runs a client test, a loopback test, a server or a multi-server
// run in the live view, and leaves the summaries on the normal screen when
// it exits.
func runTUI(opts *options, rec *record.Recorder, stdout, stderr io.Writer) int {
	if opts.targets != nil {
		return runFleetTUI(opts, rec, stdout, stderr)
	}
	sums := report.NewSummaries(opts.reportOptions(), opts.mode == modeServer, keptSummaries)
	summarise := sums.Handle
	if opts.mode != modeServer && opts.cfg.Interval == 0 {
		// A client's interval never leaves this process (a server's goes
		// into the reports it sends, so it stays as given).
		opts.cfg.Interval = liveInterval
		summarise = func(ev engine.Event) {
			if _, ok := ev.(*engine.Sample); !ok {
				sums.Handle(ev)
			}
		}
	}
	var logs live.Log
	uiOpts := ui.Options{Mode: ui.ModeClient}
	client := func(ctx context.Context, cfg engine.Config, send func(tea.Msg)) error {
		_, err := engine.NewClient(cfg, func(ev engine.Event) { rec.Handle(ev); summarise(ev); send(ev) }).Run(ctx)
		return err
	}
	var work live.Work
	switch opts.mode {
	case modeServer:
		srv, err := listenServer(context.Background(), opts, logTo(stderr, ""))
		if err != nil {
			say(stderr, "%v", err)
			return exitFailed
		}
		uiOpts.Mode, uiOpts.Listen, uiOpts.Backlog = ui.ModeServer, srv.ln.Addr().String(), engine.Backlog()
		recordings := rec.Tee(nil)
		work = func(ctx context.Context, send func(tea.Msg)) error {
			srv.cfg.Log = logs.Logger("", send)
			return srv.serve(ctx, func(ev engine.Event) { recordings.Handle(ev); sums.Handle(ev); send(ev) })
		}
	case modeLoopback:
		work = func(ctx context.Context, send func(tea.Msg)) error {
			cfg, stopSrv, err := startLoopbackServer(ctx, opts, logs.Logger("server: ", nil))
			if err != nil {
				return err
			}
			defer stopSrv()
			return client(ctx, cfg, send)
		}
	default:
		work = func(ctx context.Context, send func(tea.Msg)) error { return client(ctx, opts.cfg, send) }
	}
	res := live.Run(uiOpts, stdout, exitWhenDone(opts, work))
	sums.Print(stdout, stderr)
	for _, l := range logs.Lines() {
		say(stderr, "%s", l)
	}
	return liveExit(res, stderr)
}

// liveExit reports how a live view's run ended and returns the exit code.
func liveExit(res live.Result, stderr io.Writer) int {
	if res.Tell(stderr) {
		return exitFailed
	}
	return exitOK
}

// runFleetTUI runs a multi-server test (-c A,B,C) in the live view: each
// client's events go to the view tagged with its server. q stops every
// test and the view waits for all their results; then each server's
// summary and the SUM over all of them are left on the normal screen, as
// the text output ends, followed by the findings and the servers' errors
// on stderr.
func runFleetTUI(opts *options, rec *record.Recorder, stdout, stderr io.Writer) int {
	if opts.cfg.Interval == 0 {
		opts.cfg.Interval = liveInterval // as runTUI: its summaries have no intervals
	}
	f := fleet.New(fleetOptions(opts, true), stdout, stderr)
	labels := f.Labels()
	res := live.Run(ui.Options{Mode: ui.ModeFleet, Targets: labels}, stdout, exitWhenDone(opts, func(ctx context.Context, send func(tea.Msg)) error {
		f.Run(ctx, func(i int, ev engine.Event) {
			rec.HandleTarget(labels[i], ev)
			send(ui.TargetMsg{Target: labels[i], Event: ev})
		})
		return nil
	}))
	if res.Err != nil || res.UIErr != nil {
		return liveExit(res, stderr)
	}
	if !f.Finish() {
		return exitFailed
	}
	return exitOK
}

// exitWhenDone is work that ends the view by itself with --exit-when-done.
func exitWhenDone(opts *options, work live.Work) live.Work {
	if opts.exitWhenDone {
		return live.ExitWhenDone(work)
	}
	return work
}

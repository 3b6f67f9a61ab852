// Command flowscope is a network throughput benchmark that speaks iperf3's
// protocol: a server (-s), a client (-c HOST), or both in one process
// (--loopback) for a first run without a second host. Package main holds
// the command line, the choice of mode and the wiring of the engine to its
// front ends (report/ for text and JSON, ui/ for the live view, fleet/ for
// several servers at once).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/flowscope/flowscope/buildinfo"
	"github.com/flowscope/flowscope/daemon"
	"github.com/flowscope/flowscope/engine"
	"github.com/flowscope/flowscope/fleet"
	"github.com/flowscope/flowscope/interrupt"
	"github.com/flowscope/flowscope/live"
	"github.com/flowscope/flowscope/profile"
	"github.com/flowscope/flowscope/record"
	"github.com/flowscope/flowscope/replaycmd"
	"github.com/flowscope/flowscope/report"
	"github.com/flowscope/flowscope/termsafe"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // the test did not run or failed
	exitUsage  = 2 // bad flags or values
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// say writes one line "flowscope: …" on w.
var say = termsafe.Say

// logTo is a server's log: one line on w per message.
func logTo(w io.Writer, prefix string) func(string) {
	return func(msg string) { say(w, "%s%s", prefix, msg) }
}

// run is main without the process: it returns the exit code.
func run(args []string, stdout, stderr io.Writer) (code int) {
	if code, ok := replaycmd.Run(args, stdout, stderr); ok {
		return code
	}
	opts, err := parseArgs(args)
	if errors.Is(err, errHelp) {
		fmt.Fprint(stdout, usage())
		return exitOK
	}
	if err != nil {
		say(stderr, "%v", err)
		if errors.Is(err, errEndConditions) {
			return exitFailed // iperf3's exit code for this refusal
		}
		return exitUsage
	}
	if opts.version {
		fmt.Fprintf(stdout, "flowscope %s (%s, iperf3 protocol 3.12 compatible)\n", engine.Version, buildinfo.Read().GoVersion)
		return exitOK
	}
	opts.listening = func() {}
	child := daemon.ThisChild()
	if child == nil && opts.out.Daemon {
		return daemonize(args, stderr)
	}
	stdout, stderr, cleanup, err := opts.out.Open(stdout, stderr)
	if child != nil { // started by -D: until it listens, stderr reaches the parent too
		defer child.Close()
		stderr = child.Tee(stderr)
		opts.noTUI, opts.listening = true, child.Ready
	}
	if err != nil {
		say(stderr, "%v", err)
		return exitFailed
	}
	defer cleanup()
	stopProfiles, err := profile.Start(opts.prof)
	defer func() {
		if err := stopProfiles(); err != nil {
			say(stderr, "%v", err)
			code = max(code, exitFailed)
		}
	}()
	if err != nil {
		say(stderr, "%v", err)
		return exitFailed
	}
	if opts.out.Logfile != "" || opts.out.Timestamps != "" {
		opts.noTUI = true // the live UI needs the terminal as it is
	}
	for _, n := range opts.notes {
		say(stderr, "note: %s", n)
	}
	if opts.affinity >= 0 {
		if err := engine.PinProcess(opts.affinity); err != nil {
			say(stderr, "-A: %v", err)
			return exitFailed
		}
	}
	var rec *record.Recorder
	if opts.record != "" {
		if rec, err = record.OpenRecorder(opts.record, opts.mode == modeServer, func(err error) { say(stderr, "%v", err) }); err != nil {
			say(stderr, "%v", err)
			return exitFailed
		}
	}
	code = runMode(opts, rec, stdout, stderr)
	if err := rec.Close(); err != nil {
		say(stderr, "%v", err)
		code = exitFailed
	}
	return code
}

// runMode runs the test, the server or the multi-server run the options
// describe, in the live view on a terminal, else with the text or JSON
// report; rec is --record (nil without).
func runMode(opts *options, rec *record.Recorder, stdout, stderr io.Writer) int {
	if !opts.noTUI && !opts.json && !opts.jsonStream && live.IsTerminal(stdout) {
		return runTUI(opts, rec, stdout, stderr)
	}
	ctx, stop := interrupt.Context(stderr)
	defer stop()
	switch {
	case opts.mode == modeServer:
		return runServer(ctx, opts, rec, stdout, stderr)
	case opts.mode == modeLoopback:
		return runLoopback(ctx, opts, rec.Tee(newReporter(opts, stdout, stderr)), stderr)
	case opts.targets != nil:
		return runFleet(ctx, opts, rec, stdout, stderr)
	}
	return runClient(ctx, opts.cfg, rec.Tee(newReporter(opts, stdout, stderr)), stderr)
}

// newReporter is the text, -J or --json-stream report of one test.
func newReporter(opts *options, stdout, stderr io.Writer) report.Reporter {
	ro := opts.reportOptions()
	var rep report.Reporter
	switch {
	case opts.json:
		rep = report.NewJSON(stdout, ro)
	case opts.jsonStream && opts.jsonFull:
		rep = report.Tee(report.NewJSONStream(stdout, ro), report.NewJSON(stdout, ro))
	case opts.jsonStream:
		rep = report.NewJSONStream(stdout, ro)
	default:
		rep = report.NewText(stdout, ro)
	}
	if opts.out.Debug {
		rep = report.Func(report.Debug(stderr, rep.Handle))
	}
	return rep
}

func runClient(ctx context.Context, cfg engine.Config, rep report.Reporter, stderr io.Writer) int {
	_, err := engine.NewClient(cfg, report.PrintFindings(stderr, rep.Handle)).Run(ctx)
	if err != nil {
		say(stderr, "%v", err)
		return exitCode(err)
	}
	return exitOK
}

// exitCode is the exit status for a failed test: a usage error when the
// engine found the test's own parameters invalid, a failure otherwise.
func exitCode(err error) int {
	if engine.CauseOf(err) == engine.CauseInvalid {
		return exitUsage
	}
	return exitFailed
}

// runServer serves with the text or JSON reports, each test its own.
func runServer(ctx context.Context, opts *options, rec *record.Recorder, stdout, stderr io.Writer) int {
	srv, err := listenServer(ctx, opts, logTo(stderr, ""))
	if err != nil {
		say(stderr, "%v", err)
		return exitFailed
	}
	banner := func() {
		if !opts.json && !opts.jsonStream {
			bar := "-----------------------------------------------------------\n"
			fmt.Fprintf(stdout, "%sServer listening on %d (backlog %d)\n%s", bar, opts.cfg.Port, engine.Backlog(), bar)
		}
	}
	banner()
	opts.listening()
	reports := report.NewPerTest(func(uint64) report.Reporter { return newReporter(opts, stdout, stderr) })
	recordings := rec.Tee(nil)
	err = srv.serve(ctx, report.PrintFindings(stderr, func(ev engine.Event) {
		recordings.Handle(ev)
		reports.Handle(ev)
		// The next test's banner; none once the server is stopping.
		if _, ok := ev.(*engine.End); ok && !opts.oneOff && ctx.Err() == nil {
			banner()
		}
	}))
	if err != nil {
		say(stderr, "%v", err)
		return exitFailed
	}
	return exitOK
}

// runLoopback runs a server on a free loopback port and a client against
// it, in this process.
func runLoopback(ctx context.Context, opts *options, rep report.Reporter, stderr io.Writer) int {
	cfg, stopSrv, err := startLoopbackServer(ctx, opts, logTo(stderr, "server: "))
	if err != nil {
		say(stderr, "%v", err)
		return exitFailed
	}
	code := runClient(ctx, cfg, rep, stderr)
	stopSrv()
	return code
}

// runFleet runs the same test against every target at once (fleet/); on a
// terminal in the live view.
func runFleet(ctx context.Context, opts *options, rec *record.Recorder, stdout, stderr io.Writer) int {
	f := fleet.New(fleetOptions(opts, false), stdout, stderr)
	var tap func(int, engine.Event)
	if rec != nil {
		labels := f.Labels()
		tap = func(i int, ev engine.Event) { rec.HandleTarget(labels[i], ev) }
	}
	f.Run(ctx, tap)
	if !f.Finish() {
		return exitFailed
	}
	return exitOK
}

// fleetOptions is the multi-server side of the command line; live: for the
// live view.
func fleetOptions(opts *options, live bool) fleet.Options {
	fo := fleet.Options{
		Config: opts.cfg, Targets: opts.targets, Debug: opts.out.Debug, Live: live,
		Report: opts.reportOptions(),
	}
	switch {
	case opts.json:
		fo.Output = fleet.JSON
	case opts.jsonStream:
		fo.Output = fleet.JSONStream
	}
	return fo
}

// daemonTimeout bounds how long -D waits for the background server.
const daemonTimeout = 30 * time.Second

// daemonize starts this command again in the background (-D) and returns
// once it listens, with its process id, or failed, with its error.
func daemonize(args []string, stderr io.Writer) int {
	pid, err := daemon.Start(args, daemonTimeout)
	var failed *daemon.FailedError
	switch {
	case errors.As(err, &failed) && len(failed.Lines) > 0:
		for _, l := range failed.Lines {
			fmt.Fprintln(stderr, l)
		}
		return exitFailed
	case err != nil:
		say(stderr, "-D: %v", err)
		return exitFailed
	}
	say(stderr, "server running in the background as process %d", pid)
	return exitOK
}

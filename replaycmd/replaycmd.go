// Package replaycmd runs flowscope's commands over a recording (a
// --record file, iperf3 --json-stream output or an iperf3 -J document):
// `flowscope replay FILE`, the live view played back, and
// `flowscope report FILE -o PAGE.html`, one self-contained HTML page.
package replaycmd

import (
	"errors"
	"fmt"
	"io"
	"os"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/spf13/pflag"

	"github.com/flowscope/flowscope/engine"
	"github.com/flowscope/flowscope/htmlreport"
	"github.com/flowscope/flowscope/live"
	"github.com/flowscope/flowscope/record"
	"github.com/flowscope/flowscope/replay"
	"github.com/flowscope/flowscope/report"
	"github.com/flowscope/flowscope/termsafe"
	"github.com/flowscope/flowscope/ui"
)

// Exit codes, as the command's others.
const (
	exitOK     = 0
	exitFailed = 1 // nothing to replay, or it could not be shown or written
	exitUsage  = 2 // bad flags
)

var say = termsafe.Say

// Run runs `flowscope replay …` and `flowscope report …` (args without the
// program's name) and returns the exit code; ok is false for any other
// command line.
func Run(args []string, stdout, stderr io.Writer) (code int, ok bool) {
	if len(args) == 0 {
		return 0, false
	}
	switch args[0] {
	case "replay":
		return runReplay(args[1:], stdout, stderr), true
	case "report":
		return runReport(args[1:], stdout, stderr), true
	}
	return 0, false
}

// readRecording reads the one FILE argument; a file that stops being valid
// still gives what came before, and the problem is returned beside it.
func readRecording(fs *pflag.FlagSet, stderr io.Writer) (*record.Recording, error, bool) {
	if fs.NArg() != 1 {
		say(stderr, "%s needs one FILE: a flowscope recording (--record), iperf3 --json-stream output or an iperf3 -J document", fs.Name())
		return nil, nil, false
	}
	rec, err := record.ReadFile(fs.Arg(0))
	if rec == nil || len(rec.Events) == 0 {
		if err == nil {
			err = fmt.Errorf("%s: no test in the file", fs.Arg(0))
		}
		say(stderr, "%v", err)
		return nil, nil, false
	}
	return rec, err, true
}

func parseSub(name string, args []string, stderr io.Writer, flags func(*pflag.FlagSet)) (*pflag.FlagSet, int, bool) {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	flags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprintf(stderr, "Usage: flowscope %s [options] FILE\n\n%s", name, fs.FlagUsages())
			return nil, exitOK, false
		}
		say(stderr, "%s: %v", name, err)
		return nil, exitUsage, false
	}
	return fs, 0, true
}

// runReplay opens the live view on a recording: `flowscope replay FILE`.
func runReplay(args []string, stdout, stderr io.Writer) int {
	var play, exit bool
	fs, code, ok := parseSub("replay", args, stderr, func(fs *pflag.FlagSet) {
		fs.BoolVar(&play, "play", false, "start playing at once (else paused on the first interval)")
		fs.BoolVar(&exit, "exit-when-done", false, "quit when playback reaches the end")
	})
	if !ok {
		return code
	}
	if !live.IsTerminal(stdout) {
		say(stderr, "replay needs a terminal; for a page to keep, use: flowscope report FILE -o report.html")
		return exitUsage
	}
	rec, problem, ok := readRecording(fs, stderr)
	if !ok {
		return exitFailed
	}
	uiOpts := ui.Options{Mode: ui.ModeClient, FrameInterval: live.FrameInterval}
	switch names := rec.TargetNames(); {
	case names != nil:
		uiOpts.Mode, uiOpts.Targets = ui.ModeFleet, names
	case rec.Side() == engine.SideServer:
		uiOpts.Mode = ui.ModeServer
	}
	ro := replay.Options{
		Screen:    func() tea.Model { return ui.New(uiOpts) },
		Wrap:      func(target string, ev engine.Event) tea.Msg { return ui.TargetMsg{Target: target, Event: ev} },
		Play:      play,
		ExitAtEnd: exit,
	}
	if problem != nil {
		ro.Problem = problem.Error()
	}
	p := tea.NewProgram(replay.New(rec, ro), tea.WithAltScreen(), tea.WithOutput(stdout))
	if _, err := p.Run(); err != nil {
		say(stderr, "terminal UI: %v", err)
		return exitFailed
	}
	// As after a live test: the summaries and their interval tables.
	sums := report.NewSummaries(report.Options{}, uiOpts.Mode == ui.ModeServer, 0)
	for _, ev := range rec.Events {
		sums.Handle(ev)
	}
	sums.Print(stdout, stderr)
	if problem != nil {
		say(stderr, "%v (replayed the %d events before it)", problem, len(rec.Events))
	}
	return exitOK
}

// runReport writes the HTML page: `flowscope report FILE -o PAGE.html`.
func runReport(args []string, stdout, stderr io.Writer) int {
	var out string
	fs, code, ok := parseSub("report", args, stderr, func(fs *pflag.FlagSet) {
		fs.StringVarP(&out, "output", "o", "", "write the page to `FILE` (- for standard output)")
	})
	if !ok {
		return code
	}
	if out == "" {
		say(stderr, "report needs -o FILE (the HTML page to write; - for standard output)")
		return exitUsage
	}
	rec, problem, ok := readRecording(fs, stderr)
	if !ok {
		return exitFailed
	}
	if err := writePage(out, stdout, rec, problem); err != nil {
		say(stderr, "report: %v", err)
		return exitFailed
	}
	if problem != nil {
		say(stderr, "%v (the page shows the %d events before it)", problem, len(rec.Events))
	}
	return exitOK
}

// writePage writes the HTML page to the file out, or to stdout for "-".
func writePage(out string, stdout io.Writer, rec *record.Recording, problem error) error {
	if out == "-" {
		return htmlreport.Write(stdout, rec, problem)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	err = htmlreport.Write(f, rec, problem)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

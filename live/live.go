// Package live runs the live terminal view (package ui) of a test, a
// server or a multi-server run: the program, the signals it takes over,
// and the log lines kept while it owns the screen.
package live

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/term"

	"github.com/flowscope/flowscope/termsafe"
	"github.com/flowscope/flowscope/ui"
)

// FrameInterval bounds how often engine data redraws the screen.
const FrameInterval = 100 * time.Millisecond

// ErrStoppedEarly: the view quit before the engine was done.
var ErrStoppedEarly = errors.New("stopped before the results arrived")

// Result is how a run of the view ended.
type Result struct {
	Err   error  // work's, or ErrStoppedEarly
	Panic string // a panic in work's goroutine, with its stack
	UIErr error  // the terminal UI's own failure
}

// Work drives the engine under the view: it sends the engine's events
// (and ui messages) with send and returns when the engine is done or ctx
// ends (q).
type Work func(ctx context.Context, send func(tea.Msg)) error

// Run runs the view with opts on out while work runs; q cancels work's
// context. SIGINT, SIGTERM and SIGHUP stop the test like q (the view
// reads Ctrl-C as a key); a second one quits at once, restoring the
// terminal. Run returns once the view quit and work returned, or soon
// after a forced quit.
func Run(opts ui.Options, out io.Writer, work Work) Result {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts.Stop, opts.FrameInterval = cancel, FrameInterval
	model := ui.New(opts)
	p := tea.NewProgram(model, tea.WithAltScreen(), tea.WithOutput(out), tea.WithoutSignalHandler())
	defer handleSignals(p)()

	done := make(chan Result, 1)
	go func() {
		var res Result
		defer func() {
			if r := recover(); r != nil {
				res.Panic = fmt.Sprintf("%v\n%s", r, debug.Stack())
				res.Err = fmt.Errorf("internal error: %v", r)
			}
			done <- res
			p.Send(ui.DoneMsg{Err: res.Err})
		}()
		res.Err = work(ctx, p.Send)
	}()

	_, perr := p.Run()
	if perr == nil {
		perr = model.Err() // the view recovered from a panic and quit
	}
	cancel()
	// The view quits after the End event (or the server stopping), so the
	// engine is about to return; after a forced quit it is not waited for
	// long.
	killed := errors.Is(perr, tea.ErrProgramKilled)
	wait := 5 * time.Second
	if killed || !model.Ended() {
		wait = 200 * time.Millisecond
	}
	var res Result
	select {
	case res = <-done:
	case <-time.After(wait):
		res.Err = ErrStoppedEarly
	}
	if perr != nil && !killed {
		res.UIErr = perr
	}
	return res
}

// handleSignals sends the first signal to the view as ui.StopMsg and kills
// it at the second; it returns the function that stops listening.
func handleSignals(p *tea.Program) func() {
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		n := 0
		for range sig {
			if n++; n == 1 {
				p.Send(ui.StopMsg{})
			} else {
				p.Kill()
			}
		}
	}()
	return func() { signal.Stop(sig) }
}

// maxLogLines bounds the log lines a Log keeps.
const maxLogLines = 100

// Log keeps log lines while the view owns the screen (they would tear
// it), to print them afterwards.
type Log struct {
	mu    sync.Mutex
	lines []string
}

// Logger returns a log function that keeps each message with prefix and,
// with send, also shows it in the view (a server's history pane).
func (l *Log) Logger(prefix string, send func(tea.Msg)) func(string) {
	return func(msg string) {
		l.mu.Lock()
		l.lines = append(l.lines, prefix+msg)
		if len(l.lines) > maxLogLines {
			l.lines = l.lines[len(l.lines)-maxLogLines:]
		}
		l.mu.Unlock()
		if send != nil {
			send(ui.LogMsg(msg))
		}
	}
}

// Lines are the kept lines, oldest first.
func (l *Log) Lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// IsTerminal reports whether w is a terminal (the live view's condition).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(f.Fd())
}

// ExitWhenDone makes the view quit by itself once work is over
// (--exit-when-done), as q would after the end: the summary stays.
func ExitWhenDone(work Work) Work {
	return func(ctx context.Context, send func(tea.Msg)) error {
		err := work(ctx, send)
		send(ui.StopMsg{})
		return err
	}
}

// Tell says on stderr how a run that failed ended (a panic with its stack,
// the terminal's failure or work's error) and reports whether it failed.
func (r Result) Tell(stderr io.Writer) (failed bool) {
	switch {
	case r.Panic != "":
		_, _ = io.WriteString(stderr, "flowscope: panic: "+r.Panic)
	case r.UIErr != nil:
		termsafe.Say(stderr, "terminal UI: %v", r.UIErr)
	case r.Err != nil:
		termsafe.Say(stderr, "%v", r.Err)
	default:
		return false
	}
	return true
}

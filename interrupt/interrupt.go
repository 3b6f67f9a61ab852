// Package interrupt ends a headless run the way iperf3's users expect: the
// first interrupt (or SIGTERM, SIGHUP) ends the test so its results are
// still reported, a second exits at once. The live view handles its own
// signals (package live).
package interrupt

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/flowscope/flowscope/termsafe"
)

// Context is cancelled by the first SIGINT, SIGTERM or SIGHUP
// (iperf3 treats a hang-up as a termination), saying so on
// stderr; a second one exits the process at once, with 128 + the
// signal's number. stop stops listening and cancels the context.
func Context(stderr io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	stopped := make(chan struct{})
	go func() {
		select {
		case <-sig:
			cancel()
		case <-stopped:
			return
		}
		termsafe.Say(stderr, "interrupted: ending the test (interrupt again to exit at once)")
		select {
		case s := <-sig:
			termsafe.Say(stderr, "interrupted again, exiting now")
			code := 130
			if n, ok := s.(syscall.Signal); ok {
				code = 128 + int(n)
			}
			os.Exit(code)
		case <-stopped:
		}
	}()
	return ctx, func() {
		signal.Stop(sig)
		close(stopped)
		cancel()
	}
}

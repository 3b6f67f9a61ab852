//go:build unix

package interrupt

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// lines is a writer that hands each write to the test.
type lines chan string

func (l lines) Write(p []byte) (int, error) {
	l <- string(p)
	return len(p), nil
}

// TestFirstSignalEndsTheTest: SIGINT, SIGTERM and SIGHUP each cancel the
// context (the test ends and reports) and say so on stderr; the process
// lives on.
func TestFirstSignalEndsTheTest(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			said := make(lines, 4)
			ctx, stop := Context(said)
			defer stop()
			if err := syscall.Kill(os.Getpid(), sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Second):
				t.Fatalf("%v did not cancel the context", sig)
			}
			select {
			case l := <-said:
				if !strings.Contains(l, "interrupted: ending the test") {
					t.Errorf("stderr %q", l)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("nothing said on stderr")
			}
		})
	}
}

// TestStopCancels: stop cancels the context without a signal and stops
// listening.
func TestStopCancels(t *testing.T) {
	ctx, stop := Context(make(lines, 1))
	stop()
	select {
	case <-ctx.Done():
	default:
		t.Fatal("stop did not cancel the context")
	}
}

// TestSecondSignalExitsAtOnce: a second signal exits with 128 + its
// number, whatever the program is doing (here: sleeping for a minute).
func TestSecondSignalExitsAtOnce(t *testing.T) {
	if os.Getenv("INTERRUPT_TEST_CHILD") == "1" {
		ctx, _ := Context(os.Stderr)
		_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
		<-ctx.Done()
		_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSecondSignalExitsAtOnce$")
	cmd.Env = append(os.Environ(), "INTERRUPT_TEST_CHILD=1")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 128+int(syscall.SIGTERM) {
		t.Fatalf("child: %v, want exit %d:\n%s", err, 128+int(syscall.SIGTERM), out)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("the second signal took %v to exit", d)
	}
	if !strings.Contains(string(out), "interrupted again, exiting now") {
		t.Errorf("child said:\n%s", out)
	}
}

// Package testbin builds the flowscope command for the tests that run it
// as a process (the command-line tests, interop/, nstest/).
package testbin

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var (
	once sync.Once
	dir  string
	path string
	err  error
)

// Flowscope returns the path of the flowscope command built with -race
// from this module, building it once per test binary; t fails when the
// build does. Remove deletes it.
func Flowscope(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		if dir, err = os.MkdirTemp("", "flowscope-bin-"); err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		p := filepath.Join(dir, "flowscope")
		out, berr := exec.CommandContext(ctx, "go", "build", "-race", "-o", p, "github.com/flowscope/flowscope").CombinedOutput()
		if berr != nil {
			err = fmt.Errorf("go build -race github.com/flowscope/flowscope: %w\n%s", berr, out)
			return
		}
		path = p
	})
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// Remove deletes the built command, if any (from TestMain, after m.Run).
func Remove() {
	if dir != "" {
		_ = os.RemoveAll(dir)
	}
}

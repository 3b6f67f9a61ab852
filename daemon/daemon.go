// Package daemon runs a program in the background (-D) the way Go can: it
// starts the program again, detached in its own session, and waits until
// the child says it is ready, or why it is not. The child knows it is the
// child by an environment variable, not by its arguments, so it never
// detaches again however the option that asked for it was spelled.
package daemon

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// env holds, in the child, the file descriptor on which it reports to its
// parent.
const env = "FLOWSCOPE_DAEMON_READY_FD"

// readyWord is the child's word for "ready".
const readyWord = "ready"

// FailedError is a child that stopped, or did not become ready in time,
// with what it wrote on its error output until then.
type FailedError struct {
	Lines []string
}

func (e *FailedError) Error() string {
	if len(e.Lines) == 0 {
		return "the background process stopped before it was ready"
	}
	return strings.Join(e.Lines, "\n")
}

// Start starts this program with args in the background and returns its
// process id once it called Ready. When the child exits first, or is not
// ready within timeout (it is killed then), the error is a *FailedError.
func Start(args []string, timeout time.Duration) (int, error) {
	if err := supported(); err != nil {
		return 0, err
	}
	exe, err := os.Executable()
	if err != nil {
		return 0, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), env+"=3")
	cmd.ExtraFiles = []*os.File{w} // the child's fd 3
	cmd.SysProcAttr = detached()
	err = cmd.Start()
	w.Close()
	if err != nil {
		return 0, err
	}
	_ = r.SetReadDeadline(time.Now().Add(timeout))
	failed := &FailedError{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if sc.Text() == readyWord {
			pid := cmd.Process.Pid
			_ = cmd.Process.Release()
			return pid, nil
		}
		failed.Lines = append(failed.Lines, sc.Text())
	}
	if errors.Is(sc.Err(), os.ErrDeadlineExceeded) {
		_ = cmd.Process.Kill()
		failed.Lines = append(failed.Lines, "flowscope: -D: the background process was not ready within "+timeout.String())
	}
	_ = cmd.Wait()
	return 0, failed
}

// Child is the started process's report to its parent: until Ready, what
// it writes through Tee also reaches the parent.
type Child struct {
	mu sync.Mutex
	f  *os.File // nil once ready or closed
}

// ThisChild returns the report when Start started this process, else nil;
// the mark is removed so that processes this one starts are not children.
func ThisChild() *Child {
	v, ok := os.LookupEnv(env)
	if !ok {
		return nil
	}
	_ = os.Unsetenv(env)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return &Child{}
	}
	return &Child{f: os.NewFile(uintptr(fd), "daemon-report")}
}

// Tee returns w also writing to the parent until Ready.
func (c *Child) Tee(w io.Writer) io.Writer { return tee{w, c} }

// Ready tells the parent that this process is ready; Start returns.
func (c *Child) Ready() { c.end(readyWord + "\n") }

// Close ends the report: if Ready was not called, the parent reports a
// failure.
func (c *Child) Close() { c.end("") }

func (c *Child) end(word string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f != nil {
		_, _ = io.WriteString(c.f, word)
		_ = c.f.Close()
		c.f = nil
	}
}

// tee writes to w and to the parent; only w's errors count.
type tee struct {
	w io.Writer
	c *Child
}

func (t tee) Write(p []byte) (int, error) {
	t.c.mu.Lock()
	if t.c.f != nil {
		_, _ = t.c.f.Write(p)
	}
	t.c.mu.Unlock()
	return t.w.Write(p)
}

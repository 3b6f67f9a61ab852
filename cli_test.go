//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// oneLine fails the test unless stderr is exactly one "flowscope: " line.
func oneLine(t *testing.T, what, stderr string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "flowscope: ") {
		t.Errorf("%s: stderr %q, want one line starting with 'flowscope: '", what, stderr)
	}
}

// An unwritable --pidfile or --logfile is one line and exit 1, on either
// side, never a panic.
func TestUnwritablePathsExit1(t *testing.T) {
	port := strconv.Itoa(closedPort(t))
	for _, args := range [][]string{
		{"-s", "-p", port, "-B", "127.0.0.1", "-I", "/nonexistent/x.pid"},
		{"-s", "-p", port, "-B", "127.0.0.1", "--logfile", "/proc/nope/x"},
		{"-c", "127.0.0.1", "-p", port, "--logfile", "/proc/nope/x"},
		{"-c", "127.0.0.1", "-p", port, "-I", "/nonexistent/x.pid"},
	} {
		_, stderr, code := runBin(t, args...)
		if code != exitFailed {
			t.Errorf("%v: exit %d, want %d", args, code, exitFailed)
		}
		oneLine(t, strings.Join(args, " "), stderr)
	}
}

// Values that name something this host does not have are usage errors:
// exit 2 and one line, before anything runs; so is an -O the server would
// refuse.
func TestHostValuesExit2(t *testing.T) {
	for _, args := range [][]string{
		{"-c", "127.0.0.1", "-A", "99999"},
		{"-c", "127.0.0.1", "-B", "notanaddress"},
		{"-c", "127.0.0.1", "-C", "nonexistent_cc"},
		{"-c", "127.0.0.1", "--bind-dev", "nosuchdev0"},
		{"-c", "127.0.0.1%nosuchdev0"},
		{"-s", "--bind-dev", "nosuchdev0"},
		{"-c", "127.0.0.1", "-O", "100000"},
	} {
		_, stderr, code := runBin(t, args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %q)", args, code, exitUsage, stderr)
		}
		oneLine(t, strings.Join(args, " "), stderr)
	}
}

// daemonPid is the process id "-D" reported.
var daemonPid = regexp.MustCompile(`running in the background as process (\d+)`)

// -D detaches exactly once in every spelling pflag accepts: the parent
// exits 0 once the child listens, the child serves and has started no
// process of its own.
func TestDaemonDetachesOnce(t *testing.T) {
	for _, spelling := range [][]string{{"-sD"}, {"-s", "--daemon=true"}, {"-s", "-D"}, {"-Ds"}} {
		t.Run(strings.Join(spelling, " "), func(t *testing.T) {
			port := strconv.Itoa(closedPort(t))
			args := append(append([]string(nil), spelling...), "-p", port, "-B", "127.0.0.1")
			_, stderr, code := runBin(t, args...)
			m := daemonPid.FindStringSubmatch(stderr)
			if code != exitOK || m == nil {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			pid, _ := strconv.Atoi(m[1])
			proc, _ := os.FindProcess(pid)
			defer func() { _ = proc.Signal(syscall.SIGKILL) }()
			// The parent returned after the child's "listening": it serves now.
			c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", port), 5*time.Second)
			if err != nil {
				t.Fatalf("the background server does not listen: %v", err)
			}
			c.Close()
			if kids := childrenOf(t, pid); len(kids) > 0 {
				t.Errorf("the background server %d started processes %v", pid, kids)
			}
			if err := proc.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(t *testing.T, pid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc:", err)
	}
	var kids []int
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces, so cut at the last ')'.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			kids = append(kids, n)
		}
	}
	return kids
}

// -D reports the child's failure as its own: exit 1 and the child's one
// line, when the port is taken or a path cannot be written.
func TestDaemonReportsChildFailure(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	taken := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)
	free := strconv.Itoa(closedPort(t))
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-sD", "-p", taken, "-B", "127.0.0.1"}, "address already in use"},
		{[]string{"-sD", "-p", free, "-B", "127.0.0.1", "--logfile", "/proc/nope/x"}, "--logfile"},
		{[]string{"-sD", "-p", free, "-B", "127.0.0.1", "-I", "/nonexistent/x.pid"}, "--pidfile"},
	} {
		_, stderr, code := runBin(t, c.args...)
		if code != exitFailed || !strings.Contains(stderr, c.want) || strings.Contains(stderr, "background as process") {
			t.Errorf("%v: exit %d, stderr %q; want exit 1 and %q", c.args, code, stderr, c.want)
		}
		oneLine(t, strings.Join(c.args, " "), stderr)
	}
}

// serverProc is a `flowscope -s` process and its output lines.
type serverProc struct {
	cmd    *exec.Cmd
	port   string
	lines  chan string
	stdout bytes.Buffer // every line, once the process ended
	stderr bytes.Buffer
}

func startServerProc(t *testing.T, extra ...string) *serverProc {
	t.Helper()
	s := &serverProc{port: strconv.Itoa(closedPort(t)), lines: make(chan string, 1000)}
	s.cmd = exec.Command(binary(t), append([]string{"-s", "-p", s.port, "-B", "127.0.0.1", "--no-tui"}, extra...)...)
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stderr = &s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.cmd.Process.Kill(); _ = s.cmd.Wait() })
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	s.waitFor(t, "Server listening")
	return s
}

// waitFor reads the server's lines until one contains what.
func (s *serverProc) waitFor(t *testing.T, what string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				t.Fatalf("server exited while waiting for %q; stderr: %s", what, s.stderr.String())
			}
			s.stdout.WriteString(l + "\n")
			if strings.Contains(l, what) {
				return
			}
		case <-timeout:
			t.Fatalf("server never printed %q", what)
		}
	}
}

// rest reads the server's remaining lines, after it exited.
func (s *serverProc) rest() string {
	for l := range s.lines {
		s.stdout.WriteString(l + "\n")
	}
	return s.stdout.String()
}

// SIGHUP ends a server as SIGTERM does: the client is told the server
// ended the test, the server prints the test's summary, exits 0 and
// prints its "Server listening" banner once.
func TestServerSignalsTellTheClient(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			srv := startServerProc(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cli := exec.CommandContext(ctx, binary(t), "-c", "127.0.0.1", "-p", srv.port, "-t", "30", "-i", "0.2", "--no-tui")
			var cliErr bytes.Buffer
			cli.Stderr = &cliErr
			if err := cli.Start(); err != nil {
				t.Fatal(err)
			}
			srv.waitFor(t, " sec ") // the server's first interval line
			if err := srv.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			err := cli.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != exitFailed || !strings.Contains(cliErr.String(), "the server terminated the test") {
				t.Errorf("client: %v, stderr %q; want exit 1 and the server's word", err, cliErr.String())
			}
			werr := srv.cmd.Wait()
			out := srv.rest()
			if werr != nil {
				t.Errorf("server: %v, stderr %q", werr, srv.stderr.String())
			}
			if n := strings.Count(out, "Server listening on"); n != 1 {
				t.Errorf("%d banners, want 1:\n%s", n, out)
			}
			if !strings.Contains(out, "receiver") {
				t.Errorf("no summary of the ended test:\n%s", out)
			}
		})
	}
}

// An authentication refusal is one line on the client's stderr.
func TestAuthRefusalOneLine(t *testing.T) {
	key := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(key, []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServerProc(t, "--auth-key-file", key)
	_, stderr, code := runBin(t, "-c", "127.0.0.1", "-p", srv.port, "-t", "1", "--no-tui")
	if code != exitFailed || !strings.Contains(stderr, "authentication required") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	oneLine(t, "refused client", stderr)
}

// The first interrupt ends the test; a second one exits at once, even
// while the client waits for results from a server that stopped answering
// (here: a server stopped with SIGSTOP mid-test).
func TestSecondInterruptExits(t *testing.T) {
	srv := startServerProc(t)
	cli := exec.Command(binary(t), "-c", "127.0.0.1", "-p", srv.port, "-t", "30", "-i", "0.2", "--no-tui")
	errPipe, err := cli.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cli.Process.Kill() }()
	srv.waitFor(t, " sec ") // data flows
	if err := srv.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	errLines := bufio.NewScanner(errPipe)
	_ = cli.Process.Signal(os.Interrupt)
	for errLines.Scan() && !strings.Contains(errLines.Text(), "interrupt again") {
	}
	sent := time.Now()
	_ = cli.Process.Signal(os.Interrupt)
	go func() {
		for errLines.Scan() {
		}
	}()
	exited := make(chan error, 1)
	go func() { exited <- cli.Wait() }()
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 130 {
			t.Errorf("exit %v, want status 130", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("still running %v after the second interrupt", time.Since(sent))
	}
}

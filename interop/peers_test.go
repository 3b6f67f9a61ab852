package interop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowscope/flowscope/testbin"
)

// A peer is one program that can be a client or a server in a test:
// flowscope itself (built from this module), Debian's iperf3 3.12 or the
// iperf3 3.21 in ../shared/peers.
type peer struct {
	name string
	bin  string
	// flowscope is true for flowscope itself.
	flowscope bool
}

// iperf321Path is where the iperf3 3.21 test peer lives (see its README).
const iperf321Path = "../../shared/peers/iperf3-3.21/iperf3"

// iperf321 returns the iperf3 3.21 peer, or why it cannot run here.
func iperf321() (peer, error) {
	p, err := filepath.Abs(iperf321Path)
	if err == nil {
		_, err = os.Stat(p)
	}
	if err == nil {
		err = exec.Command(p, "--version").Run()
	}
	if err != nil {
		return peer{}, fmt.Errorf("iperf3 3.21 is not available at %s (%v): the 3.21 interop tests need ../shared/peers/iperf3-3.21 (see its README)", iperf321Path, err)
	}
	return peer{name: "iperf3-3.21", bin: p}, nil
}

// peerIperf312 returns Debian's iperf3 (3.12), or skips t.
func peerIperf312(t *testing.T) peer {
	t.Helper()
	return peer{name: "iperf3-3.12", bin: iperf3Path(t)}
}

// peerFlowscope is flowscope itself, built from this module.
func peerFlowscope(t *testing.T) peer {
	t.Helper()
	return peer{name: "flowscope", bin: testbin.Flowscope(t), flowscope: true}
}

// run is one finished process: its exit code, output and wall time.
type run struct {
	args     []string
	code     int // -1: killed at the deadline
	stdout   []byte
	stderr   []byte
	wall     time.Duration
	timedOut bool
}

func (r *run) String() string {
	return fmt.Sprintf("%v: exit %d after %v\nstderr:\n%s\nstdout:\n%s", r.args, r.code, r.wall.Round(time.Millisecond), r.stderr, r.stdout)
}

// runProcess runs bin with args until it exits, ctx ends or timeout passes
// (then it is killed and timedOut is set).
func runProcess(ctx context.Context, bin string, timeout time.Duration, args ...string) *run {
	return startProcess(ctx, bin, timeout, args...).wait()
}

// process is a started run.
type process struct {
	cmd      *exec.Cmd
	ctx      context.Context
	cancel   context.CancelFunc
	out, err bytes.Buffer
	begin    time.Time
	startErr error
}

func startProcess(ctx context.Context, bin string, timeout time.Duration, args ...string) *process {
	p := &process{}
	p.ctx, p.cancel = context.WithTimeout(ctx, timeout)
	p.cmd = exec.CommandContext(p.ctx, bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.err
	p.begin = time.Now()
	p.startErr = p.cmd.Start()
	return p
}

func (p *process) wait() *run {
	defer p.cancel()
	err := p.startErr
	if err == nil {
		err = p.cmd.Wait()
	}
	r := &run{args: append([]string{filepath.Base(p.cmd.Path)}, p.cmd.Args[1:]...), stdout: p.out.Bytes(), stderr: p.err.Bytes(), wall: time.Since(p.begin)}
	var ee *exec.ExitError
	switch {
	case p.ctx.Err() != nil:
		r.code, r.timedOut = -1, true
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		r.code, r.stderr = -1, append(r.stderr, err.Error()...)
	}
	return r
}

// server is a one-off server process (-s -1) of some peer.
type server struct {
	port int
	done chan *run
	stop context.CancelFunc
}

// wait returns the server's run once it exited by itself within grace,
// else stops it and returns nil.
func (s *server) wait(grace time.Duration) *run {
	select {
	case r := <-s.done:
		s.stop()
		return r
	case <-time.After(grace):
		s.stop()
		<-s.done
		return nil
	}
}

// startServer starts `bin -s -1 -J` bound to host on a free port and waits
// until it listens (a port taken in between by another test is retried on
// another). The server's run arrives on done when it exits (it is killed
// after timeout).
func startServer(p peer, host string, timeout time.Duration, extra ...string) (*server, error) {
	var err error
	for range 5 {
		var s *server
		if s, err = startServerOnce(p, host, timeout, extra...); err == nil {
			return s, nil
		}
	}
	return nil, err
}

func startServerOnce(p peer, host string, timeout time.Duration, extra ...string) (*server, error) {
	port, err := freeTCPPort(host)
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &server{port: port, done: make(chan *run, 1), stop: stop}
	args := append([]string{"-s", "-1", "-J", "-p", strconv.Itoa(port), "-B", host}, extra...)
	proc := startProcess(ctx, p.bin, timeout, args...)
	go func() { s.done <- proc.wait() }()
	// The server is ready when it holds a socket listening on the port (a
	// connect would occupy a one-off iperf3 server; another test's server
	// may have taken the same port meanwhile).
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if proc.startErr == nil && listensOn(proc.cmd.Process.Pid, port) {
			return s, nil
		}
		select {
		case r := <-s.done:
			stop()
			return nil, fmt.Errorf("%s -s exited before it listened: %v", p.name, r)
		case <-time.After(10 * time.Millisecond):
		}
	}
	stop()
	<-s.done
	return nil, fmt.Errorf("%s -s did not listen on %s within 10 s", p.name, net.JoinHostPort(host, strconv.Itoa(port)))
}

// listensOn reports whether process pid has a TCP socket listening on port
// (from /proc/net/tcp, tcp6 and the process's descriptors).
func listensOn(pid, port int) bool {
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			fields := strings.Fields(line)
			if len(fields) < 10 || fields[3] != "0A" { // 0A: LISTEN
				continue
			}
			_, hexPort, _ := strings.Cut(fields[1], ":")
			if p, err := strconv.ParseInt(hexPort, 16, 32); err == nil && int(p) == port {
				inodes["socket:["+fields[9]+"]"] = true
			}
		}
	}
	if len(inodes) == 0 {
		return false
	}
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, fd := range fds {
		if link, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && inodes[link] {
			return true
		}
	}
	return false
}

// freeTCPPort returns a port on host that was free a moment ago for TCP
// and for UDP (an iperf3 server binds its UDP streams to its TCP port),
// below the ephemeral range, so that another test's sockets do not take
// it meanwhile.
func freeTCPPort(host string) (int, error) {
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				low = v
			}
		}
	}
	const base = 10000
	if low <= base+1000 {
		low = 60000 // an odd range: any port will do
	}
	for range 100 {
		port := base + rand.IntN(low-base)
		addr := net.JoinHostPort(host, strconv.Itoa(port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		pc, err := net.ListenPacket("udp", addr)
		ln.Close()
		if err != nil {
			continue
		}
		pc.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no port free for TCP and UDP on %s", host)
}

// jsonPart is a -J output without the text lines iperf3 3.12 prints before
// the document with -V.
func jsonPart(out []byte) []byte {
	if i := bytes.Index(out, []byte("\n{")); !bytes.HasPrefix(out, []byte("{")) && i >= 0 {
		return out[i+1:]
	}
	return out
}

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Remove()
	os.Exit(code)
}

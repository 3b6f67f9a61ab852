package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// usage is what the kernel accounted to one finished process.
type usage struct {
	cpu    time.Duration // user + system, from rusage
	maxRSS int64         // peak VmHWM seen, KiB (0 if never sampled)
}

func usageOf(ps *os.ProcessState) usage {
	if ps == nil {
		return usage{}
	}
	return usage{cpu: ps.UserTime() + ps.SystemTime()}
}

// Peak RSS: ru_maxrss of a child is useless here. Go starts children
// with clone(CLONE_VM|CLONE_VFORK), and exec carries the old (shared, so
// the harness's) memory's high-water RSS into the child's maxrss, so every
// child reports at least the harness's own peak RSS. Instead, poll the
// child's VmHWM (its own memory's high-water mark) while it runs.

// vmHWM is a live process's VmHWM in KiB, or 0.
func vmHWM(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// hwmTracker polls a process's VmHWM until done.
type hwmTracker struct {
	pid  int
	stop chan struct{}
	done chan struct{}
	peak atomic.Int64
}

func trackHWM(pid int) *hwmTracker {
	t := &hwmTracker{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(t.done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			t.sample()
			select {
			case <-t.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return t
}

func (t *hwmTracker) sample() {
	v := vmHWM(t.pid)
	for {
		old := t.peak.Load()
		if v <= old || t.peak.CompareAndSwap(old, v) {
			return
		}
	}
}

// finish stops polling and returns the peak seen (KiB, 0 if none).
func (t *hwmTracker) finish() int64 {
	close(t.stop)
	<-t.done
	return t.peak.Load()
}

// syncBuffer is a bytes.Buffer that a process may write while we read it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// clientResult is one finished client process.
type clientResult struct {
	stdout, stderr string
	wall           time.Duration
	usage          usage
	err            error // non-nil if it did not exit 0 (timeout included)
}

// runClient runs argv to completion, bounded by timeout.
func runClient(parent context.Context, timeout time.Duration, argv []string) clientResult {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 2 * time.Second
	cmd.SysProcAttr = procAttr()
	start := time.Now()
	err := cmd.Start()
	if err != nil {
		return clientResult{err: err}
	}
	hwm := trackHWM(cmd.Process.Pid)
	err = cmd.Wait()
	r := clientResult{wall: time.Since(start), stdout: stdout.String(), stderr: stderr.String()}
	peak := hwm.finish()
	if cmd.ProcessState != nil {
		r.usage = usageOf(cmd.ProcessState)
	}
	r.usage.maxRSS = peak
	if parent.Err() != nil {
		err = errors.New("interrupted")
	} else if ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("client killed after %s timeout", timeout.Round(time.Second))
	} else if err != nil {
		err = fmt.Errorf("client: %v%s", err, tail(r.stderr))
	}
	r.err = err
	return r
}

// server is a running server process; stop kills it and reaps it.
type server struct {
	cmd     *exec.Cmd
	out     *syncBuffer // stdout and stderr
	done    chan struct{}
	waitErr error
	once    sync.Once
	usage   usage
	hwm     *hwmTracker
}

func startServer(ctx context.Context, timeout time.Duration, argv []string) (*server, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	s := &server{cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = s.out, s.out
	cmd.WaitDelay = 2 * time.Second
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, err
	}
	s.hwm = trackHWM(cmd.Process.Pid)
	go func() {
		s.waitErr = cmd.Wait()
		cancel()
		close(s.done)
	}()
	return s, nil
}

func (s *server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// stop kills the server (SIGKILL: there is nothing left to flush that we
// need) and returns what it used. Safe to call more than once.
func (s *server) stop() usage {
	s.once.Do(func() {
		s.hwm.sample() // last look while it is alive
		if !s.exited() {
			_ = s.cmd.Process.Kill()
		}
		<-s.done
		peak := s.hwm.finish()
		if s.cmd.ProcessState != nil {
			s.usage = usageOf(s.cmd.ProcessState)
		}
		s.usage.maxRSS = peak
	})
	return s.usage
}

// errServerExited means the server died before it listened (for example
// it lost a race for the port); the caller retries on another port.
var errServerExited = errors.New("server exited before listening")

// waitListening waits until something listens on 127.0.0.1:port. It does
// not connect (iperf3 -s would take a connection for a client): it tries
// to listen on the port itself until that fails because the port is taken.
func waitListening(s *server, port int, deadline time.Duration) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	end := time.Now().Add(deadline)
	for {
		if s.exited() {
			return fmt.Errorf("%w: %v%s", errServerExited, s.waitErr, tail(s.out.String()))
		}
		ln, err := net.Listen("tcp4", addr)
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				return nil
			}
			return fmt.Errorf("probing %s: %v", addr, err)
		}
		ln.Close()
		if time.Now().After(end) {
			return fmt.Errorf("server not listening on %s after %s%s", addr, deadline, tail(s.out.String()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freePort asks the kernel for a currently unused 127.0.0.1 port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// tail returns the last non-empty line of s, prefixed for an error text.
func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			if len(l) > 160 {
				l = l[:160] + "…"
			}
			return ": " + l
		}
	}
	return ""
}

// cpuSample is the machine-wide CPU time from /proc/stat's "cpu" line.
type cpuSample struct {
	busy    time.Duration // user nice system irq softirq steal
	softirq time.Duration
	all     time.Duration // busy + idle + iowait
	// ksoftirqd is the ksoftirqd threads' CPU time: softirq work the kernel
	// deferred to them is accounted to them as system time, not softirq.
	ksoftirqd time.Duration
	ok        bool
}

// ksoftirqdPIDs lists the per-CPU ksoftirqd kernel threads.
var ksoftirqdPIDs = sync.OnceValue(func() []string {
	dirs, _ := filepath.Glob("/proc/[0-9]*/comm")
	var pids []string
	for _, d := range dirs {
		if b, err := os.ReadFile(d); err == nil && strings.HasPrefix(string(b), "ksoftirqd/") {
			pids = append(pids, filepath.Base(filepath.Dir(d)))
		}
	}
	return pids
})

// threadCPU is utime+stime of /proc/PID/stat.
func threadCPU(pid string) time.Duration {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the parenthesised comm: state is field 3, utime 14, stime 15.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * (time.Second / 100)
}

// readCPU samples /proc/stat. Unlike a process's rusage, busy includes
// softirq time, where much of loopback TCP's receive path runs.
func readCPU() cpuSample {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuSample{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return cpuSample{}
	}
	var v [9]int64
	for i := 1; i < 9; i++ {
		if v[i], err = strconv.ParseInt(f[i], 10, 64); err != nil {
			return cpuSample{}
		}
	}
	const tick = time.Second / 100 // USER_HZ
	busy := v[1] + v[2] + v[3] + v[6] + v[7] + v[8]
	var ksirq time.Duration
	for _, pid := range ksoftirqdPIDs() {
		ksirq += threadCPU(pid)
	}
	return cpuSample{
		ksoftirqd: ksirq,
		busy:      time.Duration(busy) * tick,
		softirq:   time.Duration(v[7]) * tick,
		all:       time.Duration(busy+v[4]+v[5]) * tick,
		ok:        true,
	}
}

func (a cpuSample) sub(b cpuSample) cpuSample {
	if !a.ok || !b.ok {
		return cpuSample{}
	}
	return cpuSample{busy: a.busy - b.busy, softirq: a.softirq - b.softirq, all: a.all - b.all,
		ksoftirqd: a.ksoftirqd - b.ksoftirqd, ok: true}
}

// busyPct is the share of all CPUs that was busy, in percent.
func (a cpuSample) busyPct() float64 {
	if !a.ok || a.all <= 0 {
		return -1
	}
	return 100 * float64(a.busy) / float64(a.all)
}

// waitQuiet measures how busy the machine is while none of our processes
// run, in 500 ms windows, until it is below threshold percent or maxWait
// has passed. It returns the last measurement (-1 if unknown).
func waitQuiet(ctx context.Context, threshold float64, maxWait time.Duration) float64 {
	end := time.Now().Add(maxWait)
	for {
		s0 := readCPU()
		select {
		case <-ctx.Done():
			return -1
		case <-time.After(500 * time.Millisecond):
		}
		pct := readCPU().sub(s0).busyPct()
		if pct < threshold || !time.Now().Before(end) {
			return pct
		}
	}
}

// Package metrics exposes a flowscope server to Prometheus: what its tests
// did (from the engine's events, nothing else) and how the host's TCP stack
// copes (the listener's accept queue and the kernel's counters, read at
// scrape time).
//
// Every metric is prefixed "flowscope_". Labels have small fixed value sets
// (direction, state, stage, cause, kind, severity): no per-stream, per-test
// or per-client labels, so a busy server's series count stays constant.
//
// Byte counters count the measured part of each test, the same bytes the
// test's results report (the -O warm-up is excluded), so a test's bytes in
// Prometheus equal the bytes in its JSON document.
package metrics

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/flowscope/flowscope/buildinfo"
	"github.com/flowscope/flowscope/engine"
	"github.com/flowscope/flowscope/sysctl"
)

// Label values.
const (
	DirReceived = "received" // bytes the server read (client → server)
	DirSent     = "sent"     // bytes the server wrote (server → client)

	StageSetup = "setup" // the test failed before data flowed
	StageTest  = "test"  // the test failed while or after data flowed
)

// Setup-failure causes: the cause label of
// flowscope_server_setup_failures_total.
const (
	CauseAuth           = "auth"            // the client did not prove the pre-shared key
	CauseRejected       = "rejected"        // refused by the server's limits or parameter checks
	CauseStreamsMissing = "streams-missing" // not every data connection arrived in time
	CauseTimeout        = "timeout"         // the client did not answer in time
	CauseClientGone     = "client-gone"     // the client closed, reset or aborted during setup
	CauseProtocol       = "protocol"        // the client sent something the protocol does not allow
	CauseShutdown       = "shutdown"        // the server was shutting down
	CauseOther          = "other"
)

// Causes lists every setup-failure cause, in the order they are checked.
var Causes = []string{CauseAuth, CauseRejected, CauseShutdown, CauseStreamsMissing, CauseTimeout, CauseClientGone, CauseProtocol, CauseOther}

// Stream states reported by flowscope_server_streams.
var streamStates = []engine.StreamState{engine.StateConnecting, engine.StateRunning, engine.StateStalled}

// CounterSource reads the kernel's network counters;
// *sysctl.CounterReader is one.
type CounterSource interface {
	Read() (sysctl.Counters, error)
}

// Options say where the host readings come from. Every field may be left
// zero: the metrics that need it are then left out.
type Options struct {
	// Listener is the server's listening socket: its accept-queue length
	// and backlog are read at each scrape (TCP_INFO of the LISTEN socket).
	Listener syscall.RawConn
	// Counters are the kernel counters of the server's network namespace;
	// those in sysctl.WatchedCounters are exported.
	Counters CounterSource
	// Limits reads the host's limits (somaxconn, SYN backlog, ephemeral
	// ports); typically sysctl.ReadLimits.
	Limits func() sysctl.Limits
	// MaxTests is the server's --max-tests, exported as a gauge.
	MaxTests int
}

// Collector is a prometheus.Collector fed by a server's events through
// Observe. It is safe for concurrent use: the engine calls Observe while
// scrapes call Collect.
type Collector struct {
	opts Options

	mu            sync.Mutex
	tests         map[uint64]*testState
	started       uint64
	finished      uint64
	failed        map[string]uint64 // by stage
	setupFailures map[string]uint64 // by cause
	bytes         [2]uint64         // by engine.Dir (server side): Send, Recv
	findings      map[findingKey]uint64
	lastEnd       time.Time
	created       time.Time

	desc descs
}

// testState is what the collector keeps about a test between its events.
type testState struct {
	started    bool
	counted    [2]uint64  // measured bytes already added, by engine.Dir
	rate       [2]float64 // bytes/s of the latest interval, by engine.Dir
	streams    map[engine.StreamState]int
	connecting int
	findings   map[findingKey]bool
}

type findingKey struct{ kind, severity string }

type descs struct {
	info, startTime, started, finished, failed, running, maxTests *prometheus.Desc
	setupFailures                                                 *prometheus.Desc
	bytes, rate, streams, findings, lastEnd                       *prometheus.Desc
	queueLen, queueLimit, somaxconn, synBacklog, ephemeralPorts   *prometheus.Desc
	kernel                                                        map[string]*prometheus.Desc
}

// New returns a collector with every counter at zero.
func New(opts Options) *Collector {
	c := &Collector{
		opts:          opts,
		created:       time.Now(),
		tests:         map[uint64]*testState{},
		failed:        map[string]uint64{StageSetup: 0, StageTest: 0},
		setupFailures: map[string]uint64{},
		findings:      map[findingKey]uint64{},
	}
	for _, cause := range Causes {
		c.setupFailures[cause] = 0
	}
	d := &c.desc
	d.info = prometheus.NewDesc("flowscope_build_info", "Always 1; the labels say which build of flowscope serves.", []string{"version", "revision", "goversion"}, nil)
	d.startTime = prometheus.NewDesc("flowscope_server_start_time_seconds", "When this server started (Unix time); with flowscope_server_last_test_end_timestamp_seconds it tells a server never tested.", nil, nil)
	d.started = prometheus.NewDesc("flowscope_server_tests_started_total", "Tests whose data connections were all set up (data began to flow).", nil, nil)
	d.finished = prometheus.NewDesc("flowscope_server_tests_finished_total", "Tests that ran to the end and exchanged results.", nil, nil)
	d.failed = prometheus.NewDesc("flowscope_server_tests_failed_total", "Tests that ended with an error, by the stage they reached (setup: before data flowed; test: after).", []string{"stage"}, nil)
	d.running = prometheus.NewDesc("flowscope_server_tests_running", "Tests moving data now.", nil, nil)
	d.maxTests = prometheus.NewDesc("flowscope_server_tests_max", "Tests the server runs at once (--max-tests); clients beyond it are told the server is busy.", nil, nil)
	d.setupFailures = prometheus.NewDesc("flowscope_server_setup_failures_total", "Tests that failed before data flowed, by cause.", []string{"cause"}, nil)
	d.bytes = prometheus.NewDesc("flowscope_server_bytes_total", "Payload bytes of the measured part of tests (the -O warm-up excluded), as the tests' results count them; received: client to server, sent: server to client.", []string{"direction"}, nil)
	d.rate = prometheus.NewDesc("flowscope_server_rate_bytes_per_second", "Payload rate over the latest reporting interval, summed over running tests (0 when none runs).", []string{"direction"}, nil)
	d.streams = prometheus.NewDesc("flowscope_server_streams", "Data streams of running tests by state, as of their latest interval.", []string{"state"}, nil)
	d.findings = prometheus.NewDesc("flowscope_server_findings_total", "Diagnoses made by the server: each kind counts once per test and severity.", []string{"kind", "severity"}, nil)
	d.lastEnd = prometheus.NewDesc("flowscope_server_last_test_end_timestamp_seconds", "When the latest test ended (Unix time); absent before the first.", nil, nil)
	d.queueLen = prometheus.NewDesc("flowscope_server_accept_queue_length", "Connections waiting in the listening socket's accept queue.", nil, nil)
	d.queueLimit = prometheus.NewDesc("flowscope_server_accept_queue_limit", "The listening socket's backlog: the accept queue overflows beyond it.", nil, nil)
	d.somaxconn = prometheus.NewDesc("flowscope_host_somaxconn", "net.core.somaxconn: the cap on every listen backlog.", nil, nil)
	d.synBacklog = prometheus.NewDesc("flowscope_host_tcp_max_syn_backlog", "net.ipv4.tcp_max_syn_backlog: half-open connections per listener.", nil, nil)
	d.ephemeralPorts = prometheus.NewDesc("flowscope_host_ephemeral_ports", "Local ports per destination (net.ipv4.ip_local_port_range).", nil, nil)
	d.kernel = map[string]*prometheus.Desc{}
	for _, name := range sysctl.WatchedCounters {
		d.kernel[name] = prometheus.NewDesc(KernelMetricName(name),
			fmt.Sprintf("Kernel counter %s in the server's network namespace (%s).", name, counterFile(name)), nil, nil)
	}
	return c
}

// counterFile is where the kernel keeps a counter.
func counterFile(name string) string {
	if strings.HasPrefix(name, "TcpExt.") || strings.HasPrefix(name, "IpExt.") {
		return "/proc/net/netstat"
	}
	return "/proc/net/snmp"
}

// KernelMetricName is the metric name of a kernel counter:
// "TcpExt.ListenOverflows" → "flowscope_kernel_tcpext_listen_overflows_total".
func KernelMetricName(counter string) string {
	prefix, name, _ := strings.Cut(counter, ".")
	return "flowscope_kernel_" + strings.ToLower(prefix) + "_" + snake(name) + "_total"
}

// snake turns CamelCase into snake_case, keeping acronyms together:
// "TCPReqQFullDrop" → "tcp_req_q_full_drop".
func snake(s string) string {
	r := []rune(s)
	var b strings.Builder
	for i, c := range r {
		if i > 0 && unicode.IsUpper(c) {
			prevLower := unicode.IsLower(r[i-1]) || unicode.IsDigit(r[i-1])
			nextLower := i+1 < len(r) && unicode.IsLower(r[i+1])
			if prevLower || (unicode.IsUpper(r[i-1]) && nextLower) {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}

// Observe records one of the server's events. Call it from the server's
// emit function (one event at a time); other event types are ignored.
func (c *Collector) Observe(ev engine.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch e := ev.(type) {
	case *engine.Progress:
		if e.Side == engine.SideServer {
			c.test(e.Test).connecting = max(e.Total-e.Connected, 0)
		}
	case *engine.Start:
		if e.Side != engine.SideServer {
			return
		}
		t := c.test(e.Test)
		t.started, t.connecting = true, 0
		c.started++
		t.streams = map[engine.StreamState]int{engine.StateRunning: len(e.Streams)}
		c.addFindings(t, e.Findings)
	case *engine.Sample:
		if e.Side != engine.SideServer {
			return
		}
		t := c.test(e.Test)
		secs := e.Seconds()
		for dir, sum := range [2]*engine.Sum{engine.Send: &e.Sent, engine.Recv: &e.Received} {
			if secs > 0 {
				t.rate[dir] = float64(sum.Bytes) / secs
			}
			if !e.Omitted {
				t.counted[dir] += sum.Bytes
				c.bytes[dir] += sum.Bytes
			}
		}
		t.streams = map[engine.StreamState]int{}
		for i := range e.Streams {
			t.streams[e.Streams[i].State]++
		}
		c.addFindings(t, e.Findings)
	case *engine.End:
		if e.Side != engine.SideServer {
			return
		}
		t := c.test(e.Test)
		delete(c.tests, e.Test)
		// The results are the reference: bytes that moved after the last
		// interval (the final drain) are added here.
		var total [2]uint64
		for i := range e.Streams {
			total[e.Streams[i].Dir&1] += e.Streams[i].Bytes
		}
		for dir := range total {
			if total[dir] > t.counted[dir] {
				c.bytes[dir] += total[dir] - t.counted[dir]
			}
		}
		c.addFindings(t, e.Findings)
		c.lastEnd = time.Now()
		switch {
		case e.Err == nil:
			c.finished++
		case t.started:
			c.failed[StageTest]++
		default:
			c.failed[StageSetup]++
			c.setupFailures[SetupCause(e.Err)]++
		}
	}
}

// test returns the state of test id, creating it.
func (c *Collector) test(id uint64) *testState {
	t := c.tests[id]
	if t == nil {
		t = &testState{findings: map[findingKey]bool{}}
		c.tests[id] = t
	}
	return t
}

// addFindings counts the findings a test had not shown yet, one per kind
// and severity.
func (c *Collector) addFindings(t *testState, fs []engine.Finding) {
	for _, f := range fs {
		k := findingKey{kindLabel(f.Kind), f.Severity.String()}
		if !t.findings[k] {
			t.findings[k] = true
			c.findings[k]++
		}
	}
}

var kindRE = regexp.MustCompile(`^[a-z][a-z0-9@-]{0,47}$`)

// kindLabel keeps the kind label's values to flowscope's short identifiers.
func kindLabel(kind string) string {
	if kindRE.MatchString(kind) {
		return kind
	}
	return CauseOther
}

// SetupCause names why a test failed before data flowed, from the cause
// the server's End error carries (engine.CauseOf), never from its text.
func SetupCause(err error) string {
	switch engine.CauseOf(err) {
	case engine.CauseAuth:
		return CauseAuth
	case engine.CauseRejected, engine.CauseInvalid:
		return CauseRejected
	case engine.CauseShutdown:
		return CauseShutdown
	case engine.CauseStreamsMissing:
		return CauseStreamsMissing
	case engine.CauseTimeout:
		return CauseTimeout
	case engine.CausePeerGone:
		return CauseClientGone
	case engine.CauseProtocol:
		return CauseProtocol
	}
	return CauseOther
}

// Describe sends every metric's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	d := &c.desc
	for _, x := range []*prometheus.Desc{d.info, d.startTime, d.started, d.finished, d.failed, d.running, d.maxTests, d.setupFailures,
		d.bytes, d.rate, d.streams, d.findings, d.lastEnd, d.queueLen, d.queueLimit, d.somaxconn, d.synBacklog, d.ephemeralPorts} {
		ch <- x
	}
	for _, x := range d.kernel {
		ch <- x
	}
}

// Collect sends the current values: the event tallies, then the host
// readings taken now.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	d := &c.desc
	counter := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, v, labels...)
	}
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}

	c.mu.Lock()
	bi := buildinfo.Read()
	gauge(d.info, 1, bi.Version, bi.Revision, bi.GoVersion)
	gauge(d.startTime, float64(c.created.UnixNano())/1e9)
	counter(d.started, float64(c.started))
	counter(d.finished, float64(c.finished))
	for stage, n := range c.failed {
		counter(d.failed, float64(n), stage)
	}
	for cause, n := range c.setupFailures {
		counter(d.setupFailures, float64(n), cause)
	}
	counter(d.bytes, float64(c.bytes[engine.Recv]), DirReceived)
	counter(d.bytes, float64(c.bytes[engine.Send]), DirSent)
	var running int
	var rate [2]float64
	streams := map[engine.StreamState]int{}
	for _, t := range c.tests {
		streams[engine.StateConnecting] += t.connecting
		if !t.started {
			continue
		}
		running++
		rate[0] += t.rate[0]
		rate[1] += t.rate[1]
		for s, n := range t.streams {
			streams[s] += n
		}
	}
	gauge(d.running, float64(running))
	gauge(d.rate, rate[engine.Recv], DirReceived)
	gauge(d.rate, rate[engine.Send], DirSent)
	for _, s := range streamStates {
		gauge(d.streams, float64(streams[s]), s.String())
	}
	for k, n := range c.findings {
		counter(d.findings, float64(n), k.kind, k.severity)
	}
	if !c.lastEnd.IsZero() {
		gauge(d.lastEnd, float64(c.lastEnd.UnixNano())/1e9)
	}
	c.mu.Unlock()

	if c.opts.MaxTests > 0 {
		gauge(d.maxTests, float64(c.opts.MaxTests))
	}
	if c.opts.Listener != nil {
		if q, b, err := sysctl.ListenerQueue(c.opts.Listener); err == nil {
			gauge(d.queueLen, float64(q))
			gauge(d.queueLimit, float64(b))
		}
	}
	if c.opts.Limits != nil {
		l := c.opts.Limits()
		for _, x := range []struct {
			desc *prometheus.Desc
			v    int64
		}{{d.somaxconn, l.Somaxconn}, {d.synBacklog, l.TCPMaxSynBacklog}, {d.ephemeralPorts, l.EphemeralPorts()}} {
			if x.v != sysctl.Unknown {
				gauge(x.desc, float64(x.v))
			}
		}
	}
	if c.opts.Counters != nil {
		if now, err := c.opts.Counters.Read(); err == nil {
			for _, name := range sysctl.WatchedCounters {
				if v, ok := now[name]; ok {
					counter(d.kernel[name], float64(v))
				}
			}
		}
	}
}

// Handler serves the collector's metrics, with the Go runtime's and the
// process's (CPU, memory, open file descriptors), in Prometheus's text
// format (or OpenMetrics, when the scraper asks for it).
func Handler(c *Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, MaxRequestsInFlight: 4, Timeout: 10 * time.Second})
}

package metrics

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/flowscope/flowscope/buildinfo"
	"github.com/flowscope/flowscope/diagnose"
	"github.com/flowscope/flowscope/engine"
	"github.com/flowscope/flowscope/sysctl"
)

// scrape is what one GET /metrics returned, parsed by Prometheus's own
// text parser.
type scrape map[string]*dto.MetricFamily

func scrapeHandler(t *testing.T, h http.Handler) scrape {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body)
	}
	return parse(t, rec.Body)
}

func parse(t *testing.T, r io.Reader) scrape {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatalf("parse the exposition: %v", err)
	}
	return fams
}

// value returns the value of the series name{labels}; labels are
// "k=v" pairs. ok is false when the series is absent.
func (s scrape) value(name string, labels ...string) (float64, bool) {
	f := s[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for _, kv := range labels {
			k, v, _ := strings.Cut(kv, "=")
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

func (s scrape) want(t *testing.T, want float64, name string, labels ...string) {
	t.Helper()
	got, ok := s.value(name, labels...)
	if !ok {
		t.Errorf("%s%v: absent", name, labels)
		return
	}
	if got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

func (s scrape) typeOf(name string) dto.MetricType {
	if f := s[name]; f != nil {
		return f.GetType()
	}
	return -1
}

func sample(test uint64, seq int, from, to time.Duration, omitted bool, recv, sent uint64, states ...engine.StreamState) *engine.Sample {
	s := &engine.Sample{Side: engine.SideServer, Test: test, Seq: seq, Start: from, End: to, Omitted: omitted,
		Received: engine.Sum{Bytes: recv}, Sent: engine.Sum{Bytes: sent}}
	for i, st := range states {
		s.Streams = append(s.Streams, engine.StreamSample{ID: engine.StreamID(i), State: st})
	}
	return s
}

func TestEventsToMetrics(t *testing.T) {
	created := time.Now()
	c := New(Options{MaxTests: 2})
	h := Handler(c)

	// Before any test every series is there, at zero.
	s := scrapeHandler(t, h)
	s.want(t, 0, "flowscope_server_bytes_total", "direction=received")
	s.want(t, 0, "flowscope_server_bytes_total", "direction=sent")
	s.want(t, 0, "flowscope_server_tests_started_total")
	s.want(t, 2, "flowscope_server_tests_max")
	for _, cause := range Causes {
		s.want(t, 0, "flowscope_server_setup_failures_total", "cause="+cause)
	}
	if _, ok := s.value("flowscope_server_last_test_end_timestamp_seconds"); ok {
		t.Error("last test end time reported before any test ended")
	}
	// Which build serves, and since when: a server never tested is told
	// from one that was (the FlowscopeNoRecentTest alert needs it).
	bi := buildinfo.Read()
	s.want(t, 1, "flowscope_build_info", "version="+bi.Version, "revision="+bi.Revision, "goversion="+runtime.Version())
	if st, ok := s.value("flowscope_server_start_time_seconds"); !ok || st < float64(created.Unix()) || st > float64(time.Now().Unix()+1) {
		t.Errorf("start time %v (%v), want about %d", st, ok, created.Unix())
	}

	// Test 1: bidir, one stream each way, a 1 s omit period, findings
	// repeated across events.
	rwnd := engine.Finding{Severity: engine.Warning, Kind: diagnose.KindRwndLimited, What: "receiver limited"}
	stall := engine.Finding{Severity: engine.Warning, Kind: diagnose.KindStalled, What: "stream 1 stalled"}
	stallCrit := engine.Finding{Severity: engine.Critical, Kind: diagnose.KindStalled, What: "stream 1 stalled for long"}
	c.Observe(&engine.Start{Side: engine.SideServer, Test: 1, Streams: make([]engine.StreamInfo, 2), Findings: []engine.Finding{rwnd}})
	c.Observe(sample(1, 0, 0, time.Second, true, 5000, 7000, engine.StateRunning, engine.StateRunning))
	s = scrapeHandler(t, h)
	s.want(t, 1, "flowscope_server_tests_running")
	s.want(t, 1, "flowscope_server_tests_started_total")
	s.want(t, 0, "flowscope_server_bytes_total", "direction=received") // omitted
	s.want(t, 5000, "flowscope_server_rate_bytes_per_second", "direction=received")
	s.want(t, 7000, "flowscope_server_rate_bytes_per_second", "direction=sent")
	s.want(t, 2, "flowscope_server_streams", "state=running")

	c.Observe(sample(1, 1, 0, 500*time.Millisecond, false, 1000, 3000, engine.StateRunning, engine.StateStalled))
	c.Observe(&engine.Sample{Side: engine.SideServer, Test: 1, Seq: 2, Start: 500 * time.Millisecond, End: time.Second,
		Received: engine.Sum{Bytes: 2000}, Sent: engine.Sum{Bytes: 0}, Findings: []engine.Finding{stall, rwnd},
		Streams: []engine.StreamSample{{ID: 1, State: engine.StateStalled}, {ID: 3, State: engine.StateStalled}}})
	s = scrapeHandler(t, h)
	s.want(t, 3000, "flowscope_server_bytes_total", "direction=received")
	s.want(t, 3000, "flowscope_server_bytes_total", "direction=sent")
	s.want(t, 4000, "flowscope_server_rate_bytes_per_second", "direction=received")
	s.want(t, 0, "flowscope_server_rate_bytes_per_second", "direction=sent")
	s.want(t, 2, "flowscope_server_streams", "state=stalled")
	s.want(t, 0, "flowscope_server_streams", "state=running")

	// A second test runs at once; client-side events are not this
	// server's and change nothing.
	c.Observe(&engine.Start{Side: engine.SideServer, Test: 2, Streams: make([]engine.StreamInfo, 1)})
	c.Observe(sample(2, 0, 0, time.Second, false, 100, 0, engine.StateRunning))
	c.Observe(&engine.Start{Side: engine.SideClient, Streams: make([]engine.StreamInfo, 9)})
	c.Observe(&engine.Sample{Side: engine.SideClient, Start: 0, End: time.Second, Sent: engine.Sum{Bytes: 1 << 30}})
	c.Observe(&engine.End{Side: engine.SideClient, Streams: []engine.StreamResult{{Dir: engine.Send, Bytes: 1 << 30}}})
	s = scrapeHandler(t, h)
	s.want(t, 2, "flowscope_server_tests_running")
	s.want(t, 4100, "flowscope_server_rate_bytes_per_second", "direction=received")
	s.want(t, 3100, "flowscope_server_bytes_total", "direction=received")
	s.want(t, 1, "flowscope_server_streams", "state=running")
	s.want(t, 2, "flowscope_server_streams", "state=stalled")

	// Test 1 ends: its results hold 500 more received bytes than its
	// intervals (moved after the last one); the End repeats the findings
	// and escalates the stall.
	before := time.Now()
	c.Observe(&engine.End{Side: engine.SideServer, Test: 1, Findings: []engine.Finding{rwnd, stallCrit},
		Streams: []engine.StreamResult{{ID: 1, Dir: engine.Recv, Bytes: 3500}, {ID: 3, Dir: engine.Send, Bytes: 3000}}})
	s = scrapeHandler(t, h)
	s.want(t, 3600, "flowscope_server_bytes_total", "direction=received")
	s.want(t, 3000, "flowscope_server_bytes_total", "direction=sent")
	s.want(t, 1, "flowscope_server_tests_finished_total")
	s.want(t, 1, "flowscope_server_tests_running")
	s.want(t, 100, "flowscope_server_rate_bytes_per_second", "direction=received")
	s.want(t, 1, "flowscope_server_findings_total", "kind=rwnd-limited", "severity=warning")
	s.want(t, 1, "flowscope_server_findings_total", "kind=stalled", "severity=warning")
	s.want(t, 1, "flowscope_server_findings_total", "kind=stalled", "severity=critical")
	if ts, ok := s.value("flowscope_server_last_test_end_timestamp_seconds"); !ok || ts < float64(before.Unix()) || ts > float64(time.Now().Unix()+1) {
		t.Errorf("last test end = %v (present %v), want about %v", ts, ok, before.Unix())
	}

	// Test 2 fails while running; its bytes stay counted.
	c.Observe(&engine.End{Side: engine.SideServer, Test: 2, Err: errors.New("control connection lost during the test: the peer closed the control connection"),
		Streams: []engine.StreamResult{{ID: 1, Dir: engine.Recv, Bytes: 100}}, Findings: []engine.Finding{rwnd}})
	// Tests 3 and 4 fail before data flowed.
	c.Observe(&engine.End{Side: engine.SideServer, Test: 3, Err: &engine.Error{Cause: engine.CauseRejected, Err: errors.New("refused: 3 streams asked for, this server allows 2 (--max-streams)")}})
	c.Observe(&engine.End{Side: engine.SideServer, Test: 4, Err: &engine.Error{Cause: engine.CauseStreamsMissing, Err: errors.New("only 3 of 8 data connections arrived")}})
	s = scrapeHandler(t, h)
	s.want(t, 1, "flowscope_server_tests_failed_total", "stage=test")
	s.want(t, 2, "flowscope_server_tests_failed_total", "stage=setup")
	s.want(t, 1, "flowscope_server_setup_failures_total", "cause=rejected")
	s.want(t, 1, "flowscope_server_setup_failures_total", "cause=streams-missing")
	s.want(t, 0, "flowscope_server_setup_failures_total", "cause=other")
	s.want(t, 2, "flowscope_server_findings_total", "kind=rwnd-limited", "severity=warning")
	s.want(t, 2, "flowscope_server_tests_started_total")
	s.want(t, 1, "flowscope_server_tests_finished_total")
	s.want(t, 0, "flowscope_server_tests_running")
	s.want(t, 0, "flowscope_server_rate_bytes_per_second", "direction=received")
	s.want(t, 0, "flowscope_server_streams", "state=running")
	s.want(t, 3600, "flowscope_server_bytes_total", "direction=received")

	for name, typ := range map[string]dto.MetricType{
		"flowscope_server_bytes_total":           dto.MetricType_COUNTER,
		"flowscope_server_findings_total":        dto.MetricType_COUNTER,
		"flowscope_server_rate_bytes_per_second": dto.MetricType_GAUGE,
		"flowscope_server_streams":               dto.MetricType_GAUGE,
	} {
		if got := s.typeOf(name); got != typ {
			t.Errorf("%s is a %v, want a %v", name, got, typ)
		}
	}
	if c.tests[1] != nil || c.tests[2] != nil || len(c.tests) != 0 {
		t.Errorf("state of ended tests kept: %v", c.tests)
	}
}

// The label comes from the error's cause, whatever its wording.
func TestSetupCause(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{&engine.Error{Cause: engine.CauseAuth, Err: errors.New("x")}, CauseAuth},
		{fmt.Errorf("refused: %w", &engine.Error{Cause: engine.CauseRejected, Err: errors.New("authentication required")}), CauseRejected},
		{&engine.Error{Cause: engine.CauseInvalid, Err: errors.New("x")}, CauseRejected},
		{&engine.Error{Cause: engine.CauseStreamsMissing, Err: errors.New("x")}, CauseStreamsMissing},
		{&engine.Error{Cause: engine.CauseShutdown, Err: errors.New("x")}, CauseShutdown},
		{&engine.Error{Cause: engine.CauseTimeout, Err: errors.New("refused")}, CauseTimeout},
		{&engine.Error{Cause: engine.CausePeerGone, Err: errors.New("x")}, CauseClientGone},
		{&engine.Error{Cause: engine.CauseProtocol, Err: errors.New("x")}, CauseProtocol},
		{fmt.Errorf("read parameters: %w", io.EOF), CauseClientGone},
		{errors.New("authentication failed: refused"), CauseOther}, // text alone says nothing
	}
	for _, c := range cases {
		if got := SetupCause(c.err); got != c.want {
			t.Errorf("SetupCause(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

func TestKernelMetricName(t *testing.T) {
	cases := map[string]string{
		"TcpExt.ListenOverflows":      "flowscope_kernel_tcpext_listen_overflows_total",
		"TcpExt.TCPReqQFullDoCookies": "flowscope_kernel_tcpext_tcp_req_q_full_do_cookies_total",
		"TcpExt.TCPSynRetrans":        "flowscope_kernel_tcpext_tcp_syn_retrans_total",
		"Tcp.OutRsts":                 "flowscope_kernel_tcp_out_rsts_total",
		"Tcp.RetransSegs":             "flowscope_kernel_tcp_retrans_segs_total",
	}
	for in, want := range cases {
		if got := KernelMetricName(in); got != want {
			t.Errorf("KernelMetricName(%q) = %q, want %q", in, got, want)
		}
	}
	seen := map[string]string{}
	for _, c := range sysctl.WatchedCounters {
		n := KernelMetricName(c)
		if !model.LegacyValidation.IsValidMetricName(n) {
			t.Errorf("%s → %q is not a valid metric name", c, n)
		}
		if prev, dup := seen[n]; dup {
			t.Errorf("%s and %s both map to %s", prev, c, n)
		}
		seen[n] = c
	}
}

// Every metric passes Prometheus's own linter (naming, units, _total,
// help text), with every label value present.
func TestLint(t *testing.T) {
	c := New(Options{MaxTests: 1, Limits: sysctl.ReadLimits})
	c.Observe(&engine.Start{Side: engine.SideServer, Test: 1, Findings: []engine.Finding{{Kind: "fd-limit", Severity: engine.Warning}}})
	c.Observe(&engine.End{Side: engine.SideServer, Test: 1})
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

// Unknown or odd finding kinds cannot grow the label set without bound.
func TestFindingKindLabel(t *testing.T) {
	c := New(Options{})
	for i := 0; i < 50; i++ {
		c.Observe(&engine.End{Side: engine.SideServer, Test: uint64(i + 1), Findings: []engine.Finding{{Kind: fmt.Sprintf("Weird Kind %d with spaces", i)}}})
	}
	s := scrapeHandler(t, Handler(c))
	s.want(t, 50, "flowscope_server_findings_total", "kind=other", "severity=info")
	if n := len(s["flowscope_server_findings_total"].GetMetric()); n != 1 {
		t.Errorf("%d finding series, want 1", n)
	}
}

// The accept-queue gauges read the real listening socket: connections
// the server has not accepted yet wait in its queue.
func TestAcceptQueue(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	rc, err := ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := sysctl.ListenerQueue(rc); errors.Is(err, sysctl.ErrUnsupported) {
		t.Skip("skipping: no accept-queue reading on this platform")
	}
	h := Handler(New(Options{Listener: rc}))
	s := scrapeHandler(t, h)
	s.want(t, 0, "flowscope_server_accept_queue_length")
	limit, ok := s.value("flowscope_server_accept_queue_limit")
	if !ok || limit < 1 {
		t.Fatalf("accept queue limit = %v (present %v)", limit, ok)
	}
	if n, err := sysctl.Somaxconn(); err == nil && limit != float64(n) {
		t.Errorf("accept queue limit %v, want somaxconn %d (Go listens with it)", limit, n)
	}
	const waiting = 3
	for i := 0; i < waiting; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	// The handshakes complete in the kernel; the queue fills as they do.
	deadline := time.Now().Add(5 * time.Second)
	for {
		s = scrapeHandler(t, h)
		got, _ := s.value("flowscope_server_accept_queue_length")
		if got == waiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("accept queue length %v, want %d", got, waiting)
		}
		time.Sleep(10 * time.Millisecond)
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	scrapeHandler(t, h).want(t, waiting-1, "flowscope_server_accept_queue_length")
}

// Kernel counters come from the real /proc files, as counters.
func TestKernelCounters(t *testing.T) {
	r, err := sysctl.NewCounterReader()
	if err != nil {
		t.Skipf("skipping: no kernel counters here: %v", err)
	}
	defer r.Close()
	before, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	s := scrapeHandler(t, Handler(New(Options{Counters: r})))
	after, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for _, name := range sysctl.WatchedCounters {
		if _, ok := before[name]; !ok {
			missing = append(missing, name) // an older kernel
			continue
		}
		metric := KernelMetricName(name)
		got, ok := s.value(metric)
		if !ok {
			t.Errorf("%s (%s) absent", metric, name)
			continue
		}
		if got < float64(before[name]) || got > float64(after[name]) {
			t.Errorf("%s = %v, want between %d and %d", metric, got, before[name], after[name])
		}
		if s.typeOf(metric) != dto.MetricType_COUNTER {
			t.Errorf("%s is not a counter", metric)
		}
	}
	if len(missing) > 0 {
		t.Logf("this kernel lacks %s", strings.Join(missing, ", "))
	}
}

// Scrapes run while the engine reports: the race detector watches.
func TestConcurrentObserveAndScrape(t *testing.T) {
	c := New(Options{})
	h := Handler(c)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				scrapeHandler(t, h)
			}
		}
	}()
	const tests, intervals = 20, 50
	for id := uint64(1); id <= tests; id++ {
		c.Observe(&engine.Start{Side: engine.SideServer, Test: id, Streams: make([]engine.StreamInfo, 1)})
		for i := 0; i < intervals; i++ {
			c.Observe(sample(id, i, time.Duration(i)*time.Millisecond, time.Duration(i+1)*time.Millisecond, false, 10, 1, engine.StateRunning))
		}
		c.Observe(&engine.End{Side: engine.SideServer, Test: id, Streams: []engine.StreamResult{{Dir: engine.Recv, Bytes: 10 * intervals}, {Dir: engine.Send, Bytes: intervals}}})
	}
	close(stop)
	wg.Wait()
	s := scrapeHandler(t, h)
	s.want(t, tests*intervals*10, "flowscope_server_bytes_total", "direction=received")
	s.want(t, tests*intervals, "flowscope_server_bytes_total", "direction=sent")
	s.want(t, tests, "flowscope_server_tests_finished_total")
}

// sortedNames lists a scrape's flowscope metric names (for messages).
func (s scrape) sortedNames() []string {
	var names []string
	for n := range s {
		if strings.HasPrefix(n, "flowscope_") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

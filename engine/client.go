package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/flowscope/flowscope/diagnose"
	"github.com/flowscope/flowscope/sysctl"
	"github.com/flowscope/flowscope/wire"
)

// ErrServerBusy is returned when the server is running another test.
var ErrServerBusy = errors.New("the server is busy running a test; try again later")

// Client runs one test against a server.
type Client struct {
	cfg  Config
	emit func(Event)

	hooks clientHooks

	findings      *findingLog
	ctl           *net.TCPConn
	cookie        string
	mu            sync.Mutex
	rejection     string             // why the server refused the test, when it said so
	serverSetup   *wire.TelemetryMsg // the server's setup telemetry
	serverBacklog int64              // the server's listen backlog, from its preflight
}

// clientHooks let tests reorder stream setup.
type clientHooks struct {
	beforeDial func(idx int)
	afterDial  func(idx int)
}

// NewClient returns a client for cfg that reports through emit (which may
// be nil). emit is called from the engine's goroutines, one call at a time.
func NewClient(cfg Config, emit func(Event)) *Client {
	if emit == nil {
		emit = func(Event) {}
	}
	return &Client{cfg: cfg, emit: emit}
}

// Run runs the test and returns its results. Cancelling ctx while data
// flows ends the test early but still exchanges results; cancelling it
// during setup aborts. Run emits exactly one End, also on failure.
func (c *Client) Run(ctx context.Context) (*End, error) {
	var mu sync.Mutex
	emit := func(ev Event) { mu.Lock(); defer mu.Unlock(); c.emit(ev) }
	end, err := c.run(ctx, emit)
	if end == nil {
		end = &End{Side: SideClient}
	}
	end.Err = err
	if c.findings != nil {
		end.Findings = c.findings.all()
	}
	emit(end)
	return end, err
}

func (c *Client) run(ctx context.Context, emit func(Event)) (*End, error) {
	cfg := c.cfg
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Host == "" {
		return nil, errors.New("no server host given")
	}
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	d := net.Dialer{
		Timeout: cfg.ConnectTimeout,
		KeepAliveConfig: net.KeepAliveConfig{
			Enable: true, Idle: 10 * time.Second, Interval: 5 * time.Second, Count: 4,
		},
	}
	if cfg.BindAddr != "" {
		ip := net.ParseIP(cfg.BindAddr)
		if ip == nil {
			return nil, fmt.Errorf("bind address %q is not an IP address", cfg.BindAddr)
		}
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	c.findings = newFindingLog()
	c.findings.add(c.hostChecks()...)
	emit(&Connecting{Host: cfg.Host, Port: cfg.Port, Streams: cfg.NumStreams()})
	conn, err := d.DialContext(ctx, cfg.Network, addr)
	if err != nil {
		return nil, fmt.Errorf("unable to connect to server %s: %w", addr, unwrapOpError(err))
	}
	ctl := conn.(*net.TCPConn)
	defer ctl.Close()
	_ = ctl.SetNoDelay(true)
	if c.cfg.BlockSize == 0 {
		c.cfg.BlockSize = DefaultBlockSize
		if cfg.UDP {
			// iperf3's default: one datagram per segment of the control
			// connection's path.
			c.cfg.BlockSize = 1460
			if m := mss(mustRaw(ctl)); m >= MinUDPSize {
				c.cfg.BlockSize = min(m, MaxUDPSize)
			}
		}
		cfg.BlockSize = c.cfg.BlockSize
	}
	if cfg.Blocks > 0 {
		// -k counts blocks (datagrams for UDP): the engine counts bytes.
		c.cfg.Bytes = cfg.Blocks * int64(cfg.BlockSize)
		cfg.Bytes = c.cfg.Bytes
	}

	// Abort setup promptly if ctx is cancelled.
	setupDone := make(chan struct{})
	defer func() {
		select {
		case <-setupDone:
		default:
			close(setupDone)
		}
	}()
	go func() {
		select {
		case <-ctx.Done():
			_ = ctl.SetDeadline(time.Now())
		case <-setupDone:
		}
	}()

	br := wire.NewReader(ctl)
	cookie := wire.NewCookie()
	c.ctl, c.cookie = ctl, cookie
	_ = ctl.SetDeadline(time.Now().Add(setupTimeout))
	if _, err := ctl.Write(wire.EncodeCookie(cookie)); err != nil {
		return nil, c.setupErr(ctx, fmt.Errorf("send cookie: %w", err))
	}
	if err := c.expectState(br, wire.ParamExchange); err != nil {
		return nil, c.setupErr(ctx, err)
	}
	params := c.wireParams()
	if err := wire.WriteMessage(ctl, params.Marshal()); err != nil {
		return nil, c.setupErr(ctx, fmt.Errorf("send parameters: %w", err))
	}
	st, err := c.readState(br)
	if err != nil {
		return nil, c.setupErr(ctx, err)
	}
	var ext *wire.Extensions
	if st == wire.ExtAccept {
		msg, err := wire.ReadMessage(br, wire.MaxParamsSize)
		if err != nil {
			return nil, c.setupErr(ctx, fmt.Errorf("read extension acceptance: %w", err))
		}
		ext = &wire.Extensions{}
		if err := json.Unmarshal(msg, ext); err != nil {
			return nil, c.setupErr(ctx, fmt.Errorf("decode extension acceptance: %w", err))
		}
		if st, err = c.readState(br); err != nil {
			return nil, c.setupErr(ctx, err)
		}
	}
	if err := stateErr(br, st, wire.CreateStreams); err != nil {
		return nil, c.setupErr(ctx, err)
	}

	if cfg.ReverseRate > 0 && ext == nil {
		_ = wire.WriteState(ctl, wire.ClientTerminate)
		return nil, errors.New("--reverse-bitrate needs a flowscope server; this server is stock iperf3, which sends at -b")
	}
	if ext.Has(wire.ExtRoles) && !cfg.UDP {
		c.mu.Lock()
		backlog := c.serverBacklog
		c.mu.Unlock()
		c.findings.add(diagnose.BacklogSmall(min(cfg.NumStreams(), cfg.ConnectConcurrency), backlog))
	}
	counters, _ := sysctl.NewCounterReader()
	defer counters.Close()
	var before sysctl.Counters
	if counters != nil {
		before, _ = counters.Read()
	}
	dial := c.dialStreams
	if cfg.UDP {
		dial = c.dialUDPStreams
	}
	flows, connectTimes, err := dial(ctx, ctl.RemoteAddr(), cookie, ext, emit)
	if err != nil {
		flows.closeAll()
		if ctx.Err() == nil {
			_ = wire.WriteState(ctl, wire.ClientTerminate)
		}
		return nil, err
	}
	defer flows.closeAll()

	// The server accepts every stream, then says TEST_START, TEST_RUNNING.
	_ = ctl.SetDeadline(time.Now().Add(setupTimeout))
	if err := c.expectState(br, wire.TestStart); err != nil {
		return nil, c.setupErr(ctx, err)
	}
	if err := c.expectState(br, wire.TestRunning); err != nil {
		return nil, c.setupErr(ctx, err)
	}
	close(setupDone)
	c.setupFindings(ext, ctl.RemoteAddr(), counters, before, connectTimes)
	_ = ctl.SetDeadline(time.Time{})

	tp := c.testParams()
	start := &Start{
		Side:          SideClient,
		Version:       Version,
		PeerFlowscope: ext != nil,
		Cookie:        cookie,
		Host:          cfg.Host,
		Port:          cfg.Port,
		Params:        tp,
		Timestamp:     time.Now(),
		MSS:           mss(mustRaw(ctl)),
		ConnectTimes:  connectTimes,
		Findings:      c.findings.take(),
	}
	congestion := flows.describe(start)
	emit(start)

	drain := ext.Has(wire.ExtDrain) && !cfg.UDP
	limit := newByteLimit(cfg.Bytes)
	smp := newSampler(SideClient, flows, tp, cfg.StallWindow, emit)
	smp.findings = c.findings
	smp.roleCheck = ext == nil && cfg.Bidir
	cpu := readCPU()
	t0 := time.Now()
	if err := flows.start(newPayload(cfg.BlockSize, cfg.RepeatingPayload), cfg.BlockSize, limit, cfg.ZeroCopy, cfg.SkipRxCopy); err != nil {
		return c.endFromFlows(flows, smp, cpu, congestion), err
	}
	smp.begin(t0)

	var deadline <-chan time.Time
	if cfg.Duration > 0 {
		timer := time.NewTimer(time.Until(t0.Add(cfg.Omit + cfg.Duration)))
		defer timer.Stop()
		deadline = timer.C
	}
	allDone := make(chan struct{})
	go func() {
		for _, f := range flows {
			<-f.done
		}
		close(allDone)
	}()
	ctlState := c.readStateAsync(br)
	var watchTick <-chan time.Time
	var watchEvery time.Duration
	watch := newStallWatch(flows, t0)
	if cfg.StallTimeout > 0 {
		tk := time.NewTicker(watchPeriod(cfg.StallTimeout))
		watchEvery = watchPeriod(cfg.StallTimeout)
		defer tk.Stop()
		watchTick = tk.C
	}

	var testErr error
wait:
	for {
		select {
		case <-deadline:
		case <-limit.reached():
		case <-ctx.Done():
		case <-allDone:
			// The server usually says why it dropped the streams: its
			// control message explains better than a reset does.
			select {
			case sr := <-ctlState:
				testErr = c.midTestState(ctl, br, sr)
			case <-time.After(time.Second):
				testErr = firstFlowErr(flows, "all streams ended before the test did")
			}
		case sr := <-ctlState:
			testErr = c.midTestState(ctl, br, sr)
		case now := <-watchTick:
			if !stalledLongEnough(watch.check(now), cfg.StallTimeout, watchEvery) {
				continue
			}
			reason := watch.reason()
			c.findings.add(diagnose.AllStalled(len(flows), cfg.StallTimeout, reason))
			testErr = fmt.Errorf("no stream moved a byte for %s (%s)", cfg.StallTimeout, reason)
		}
		break wait
	}
	if testErr != nil {
		flows.closeAll()
		end := c.endFromFlows(flows, smp, cpu, congestion)
		return end, testErr
	}

	// Orderly end: senders stop, TEST_END, receivers drain, results.
	flows.stopSenders(drain)
	if err := wire.WriteState(ctl, wire.TestEnd); err != nil {
		flows.closeAll()
		return c.endFromFlows(flows, smp, cpu, congestion), fmt.Errorf("send TEST_END: %w", err)
	}
	_ = ctl.SetReadDeadline(time.Now().Add(resultsTimeout + drainTimeout))
	if drain {
		timeout := time.NewTimer(drainTimeout)
		flows.waitReceivers(timeout.C)
		timeout.Stop()
	}
	final := smp.finish(time.Now())
	_ = final
	end := &End{Side: SideClient, Seconds: smp.measuredSeconds(), LocalCPU: cpu.since(), Congestion: congestion}
	end.Streams = localResults(flows, end.Seconds)

	sr := <-ctlState
	if sr.err != nil {
		return end, fmt.Errorf("waiting for results exchange: %w", describeCtlErr(sr.err))
	}
	if err := stateErr(br, sr.state, wire.ExchangeResults); err != nil {
		return end, err
	}
	res, err := wireResults(end.Streams, end.LocalCPU, congestion).Marshal()
	if err != nil {
		return end, err
	}
	_ = ctl.SetDeadline(time.Now().Add(resultsTimeout))
	if err := wire.WriteMessage(ctl, res); err != nil {
		return end, fmt.Errorf("send results: %w", err)
	}
	msg, err := wire.ReadMessage(br, wire.MaxResultsSize)
	if err != nil {
		return end, fmt.Errorf("read server results: %w", describeCtlErr(err))
	}
	peer, err := wire.UnmarshalResults(msg)
	if err != nil {
		return end, err
	}
	if err := mergePeer(end, peer); err != nil {
		return end, err
	}
	end.ServerOutputText, end.ServerOutputJSON = peer.ServerOutputText, peer.ServerOutputJSON
	if err := c.expectState(br, wire.DisplayResults); err != nil {
		return end, err
	}
	flows.stopReceivers()
	_ = wire.WriteState(ctl, wire.IperfDone)
	return end, nil
}

// endFromFlows builds an End from whatever was measured before a failure.
func (c *Client) endFromFlows(flows flowSet, smp *sampler, cpu cpuClock, congestion string) *End {
	smp.finish(time.Now())
	end := &End{Side: SideClient, Seconds: smp.measuredSeconds(), LocalCPU: cpu.since(), Congestion: congestion}
	end.Streams = localResults(flows, end.Seconds)
	return end
}

// hostChecks looks at this host's limits before the test.
func (c *Client) hostChecks() []*Finding {
	cfg := c.cfg
	lim := sysctl.ReadLimits()
	n := cfg.NumStreams()
	perStream := 1
	if cfg.Loopback {
		perStream = 2
	}
	return []*Finding{
		diagnose.FDLimit(n, perStream, lim.NofileSoft, lim.NofileHard),
		diagnose.EphemeralPorts(n, lim.EphemeralPorts()),
		diagnose.WindowClamped(int64(cfg.Window), lim.RmemMax, lim.WmemMax),
	}
}

// setupFindings explains slow connects, with the server's accept-queue
// evidence from its telemetry or, when the server shares this host's
// network namespace, from the local counters.
func (c *Client) setupFindings(ext *wire.Extensions, server net.Addr, counters *sysctl.CounterReader, before sysctl.Counters, times []time.Duration) {
	overflow, backlog := int64(-1), int64(0)
	c.mu.Lock()
	if c.serverSetup != nil {
		overflow = c.serverSetup.Counters["TcpExt.ListenOverflows"]
		backlog = c.serverSetup.Backlog
	}
	c.mu.Unlock()
	if !ext.Has(wire.ExtTelemetry) && counters != nil && before != nil && isLoopback(server) {
		if now, err := counters.Read(); err == nil {
			delta := now.Sub(before)
			overflow = delta["TcpExt.ListenOverflows"]
			c.findings.add(diagnose.ListenOverflow(delta, sysctl.ReadLimits().Somaxconn))
		}
	}
	c.findings.add(diagnose.SlowConnects(times, overflow, backlog))
}

func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// readState reads the next state byte, handling any telemetry the server
// sends in between.
func (c *Client) readState(br *bufio.Reader) (wire.State, error) {
	for {
		st, err := wire.ReadState(br)
		if err == nil && st == wire.AuthChallenge {
			if err := c.answerAuth(br); err != nil {
				return 0, err
			}
			continue
		}
		if err != nil || st != wire.Telemetry {
			return st, err
		}
		msg, err := wire.ReadMessage(br, wire.MaxTelemetrySize)
		if err != nil {
			return 0, fmt.Errorf("read telemetry: %w", err)
		}
		tm, err := wire.UnmarshalTelemetry(msg)
		if err != nil {
			continue // a bad telemetry document is not worth the test
		}
		c.findings.add(fromWire(tm.Findings)...)
		c.mu.Lock()
		switch tm.Phase {
		case "preflight":
			c.serverBacklog = tm.Backlog
		case "setup":
			c.serverSetup = tm
		case "rejected":
			if len(tm.Findings) > 0 {
				c.rejection = tm.Findings[0].What
			}
		}
		c.mu.Unlock()
	}
}

// expectState reads one state and requires want.
func (c *Client) expectState(br *bufio.Reader, want wire.State) error {
	st, err := c.readState(br)
	if err != nil {
		return fmt.Errorf("waiting for %v: %w", want, describeCtlErr(err))
	}
	return stateErr(br, st, want)
}

// readStateAsync reads one state in the background.
func (c *Client) readStateAsync(br *bufio.Reader) <-chan stateResult {
	ch := make(chan stateResult, 1)
	go func() {
		st, err := c.readState(br)
		ch <- stateResult{st, err}
	}()
	return ch
}

// midTestState handles a control message that arrives while data flows.
func (c *Client) midTestState(ctl *net.TCPConn, br interface {
	ReadByte() (byte, error)
	Read([]byte) (int, error)
}, sr stateResult) error {
	if sr.err != nil {
		return fmt.Errorf("control connection lost during the test: %w", describeCtlErr(sr.err))
	}
	switch sr.state {
	case wire.ServerTerminate:
		_ = wire.WriteState(ctl, wire.IperfDone)
		return errors.New("the server terminated the test")
	case wire.ServerError:
		_ = ctl.SetReadDeadline(time.Now().Add(time.Second))
		return wire.ReadServerError(br)
	case wire.AccessDenied:
		return errors.New("the server denied access during the test")
	}
	return fmt.Errorf("unexpected control message %v during the test", sr.state)
}

// setupErr prefers ctx's error when the failure came from cancellation.
func (c *Client) setupErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted during setup: %w", ctx.Err())
	}
	c.mu.Lock()
	why := c.rejection
	c.mu.Unlock()
	if why != "" {
		return fmt.Errorf("the server refused the test: %s", why)
	}
	return err
}

func (c *Client) wireParams() *wire.Params {
	cfg := c.cfg
	p := &wire.Params{
		TCP:           !cfg.UDP,
		UDP:           cfg.UDP,
		UDPCounters64: cfg.Counters64,
		Omit:          int64(cfg.Omit / time.Second),
		Time:          int64(cfg.Duration / time.Second),
		Num:           cfg.Bytes,
		Parallel:      int64(cfg.Parallel),
		Reverse:       cfg.Reverse,
		Bidirectional: cfg.Bidir,
		Window:        int64(cfg.Window),
		Len:           int64(cfg.BlockSize),
		Bandwidth:     int64(cfg.Rate),
		PacingTimer:   1000,
		Congestion:    cfg.Congestion,
		ClientVersion: "3.12",
		Flowscope:     &wire.Extensions{Version: Version, Extensions: c.offer(), ReverseBitrate: int64(cfg.ReverseRate), NoGSO: cfg.NoGSO},

		MSS:             int64(cfg.MSS),
		NoDelay:         cfg.NoDelay,
		TOS:             int64(cfg.TOS),
		FQRate:          int64(cfg.FQRate),
		Burst:           int64(cfg.Burst),
		BlockCount:      cfg.Blocks,
		Title:           cfg.Title,
		ExtraData:       cfg.ExtraData,
		GetServerOutput: cfg.GetServerOutput,
		RepeatingLoad:   cfg.RepeatingPayload,
		ZeroCopy:        cfg.ZeroCopy,
		SkipRxCopy:      cfg.SkipRxCopy,
		DontFragment:    cfg.DontFragment,
	}
	if cfg.ServerAffinity >= 0 {
		a := int64(cfg.ServerAffinity)
		p.ServerAffinity = &a
	}
	if cfg.Duration > 0 && cfg.Duration < time.Second {
		p.Time = 1
	}
	if cfg.Bytes > 0 || cfg.Blocks > 0 {
		p.Time = 0
	}
	if cfg.Blocks > 0 {
		p.Num = 0 // the block count alone says when to stop, as with iperf3 -k
	}
	return p
}

func (c *Client) testParams() TestParams {
	cfg := c.cfg
	proto := "TCP"
	if cfg.UDP {
		proto = "UDP"
	}
	return TestParams{
		Protocol:    proto,
		Counters64:  cfg.Counters64,
		ReverseRate: cfg.ReverseRate,
		Blocks:      cfg.Blocks,
		TOS:         cfg.TOS,
		FQRate:      cfg.FQRate,
		Title:       cfg.Title,
		ExtraData:   cfg.ExtraData,
		NumStreams:  cfg.Parallel,
		BlockSize:   cfg.BlockSize,
		Omit:        cfg.Omit,
		Duration:    cfg.Duration,
		Bytes:       cfg.Bytes,
		Reverse:     cfg.Reverse,
		Bidir:       cfg.Bidir,
		Rate:        cfg.Rate,
		Window:      cfg.Window,
		Congestion:  cfg.Congestion,
		Interval:    cfg.Interval,
		ZeroCopy:    cfg.ZeroCopy,
		SkipRxCopy:  cfg.SkipRxCopy,
	}
}

// dialStreams opens every data connection. With the roles extension they
// are dialled in parallel and each declares its role; against a stock
// server they are dialled one at a time in iperf3's order.
func (c *Client) dialStreams(ctx context.Context, server net.Addr, cookie string, ext *wire.Extensions, emit func(Event)) (flowSet, []time.Duration, error) {
	cfg := c.cfg
	n := cfg.NumStreams()
	roles := ext.Has(wire.ExtRoles)
	flows := make(flowSet, n)
	times := make([]time.Duration, n)
	var fails setupFailures
	var mu sync.Mutex
	connected := 0
	lastProgress := time.Now()

	dialOne := func(idx int) {
		if c.hooks.beforeDial != nil {
			c.hooks.beforeDial(idx)
		}
		dir := streamDir(SideClient, idx, cfg.Parallel, cfg.Reverse, cfg.Bidir)
		opts := c.dataSockOpts(server, false)
		if dir == Send {
			opts.pacing = pacingRate(cfg.Rate, cfg.FQRate)
		}
		d := net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: -1}
		if cfg.BindAddr != "" || cfg.CPort > 0 {
			la := &net.TCPAddr{IP: net.ParseIP(cfg.BindAddr)}
			if cfg.CPort > 0 {
				la.Port = cfg.CPort + idx
			} else {
				opts.noPortBind = true
			}
			d.LocalAddr = la
		}
		d.Control = opts.control
		t := time.Now()
		conn, err := d.DialContext(ctx, "tcp", server.String())
		if err == nil {
			hdr := wire.EncodeCookie(cookie)
			if roles {
				role := wire.ClientSends
				if dir == Recv {
					role = wire.ServerSends
				}
				hdr = append(hdr, wire.StreamHeader{Role: role, Index: uint32(idx)}.Encode()...)
			}
			_ = conn.SetWriteDeadline(time.Now().Add(setupTimeout))
			if _, err = conn.Write(hdr); err == nil {
				_ = conn.SetWriteDeadline(time.Time{})
			}
		}
		var f *flow
		if err == nil {
			_ = conn.(*net.TCPConn).SetNoDelay(cfg.NoDelay) // iperf3 leaves Nagle on unless -N
			f, err = newFlow(idx, dir, conn.(*net.TCPConn), len(wire.EncodeCookie(cookie))+boolInt(roles)*wire.StreamHeaderSize)
			if err == nil && dir == Send {
				f.rate = cfg.Rate
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if conn != nil {
				_ = conn.Close()
			}
			fails.add(fmt.Errorf("stream %d: %w", StreamID(idx), unwrapOpError(err)))
			return
		}
		flows[idx] = f
		times[idx] = time.Since(t)
		connected++
		if connected == n || time.Since(lastProgress) > 50*time.Millisecond {
			lastProgress = time.Now()
			emit(&Progress{Side: SideClient, Connected: connected, Total: n})
		}
		if c.hooks.afterDial != nil {
			c.hooks.afterDial(idx)
		}
	}

	if roles {
		workers := min(n, cfg.ConnectConcurrency)
		next := make(chan int)
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for idx := range next {
					dialOne(idx)
				}
			}()
		}
	feed:
		for idx := range n {
			select {
			case next <- idx:
			case <-ctx.Done():
				break feed
			}
		}
		close(next)
		wg.Wait()
	} else {
		for idx := range n {
			if ctx.Err() != nil {
				break
			}
			dialOne(idx)
			if fails.total > 0 {
				break // a stock server cannot recover from a missing stream
			}
		}
	}
	// Keep only the connected flows so callers can close them.
	ok := flows[:0:0]
	for _, f := range flows {
		if f != nil {
			ok = append(ok, f)
		}
	}
	if ctx.Err() != nil {
		return ok, nil, fmt.Errorf("interrupted during setup: %w", ctx.Err())
	}
	if err := fails.err(n); err != nil {
		c.findings.add(diagnose.SetupFailed(fails.byCause, n))
		return ok, nil, err
	}
	return ok, times, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// stateErr turns an unexpected state into an error, reading SERVER_ERROR's
// details.
func stateErr(r io.Reader, got, want wire.State) error {
	switch got {
	case want:
		return nil
	case wire.AccessDenied:
		return ErrServerBusy
	case wire.ServerError:
		return wire.ReadServerError(r)
	case wire.ServerTerminate:
		return errors.New("the server terminated the test")
	}
	return fmt.Errorf("protocol error: expected %v, got %v", want, got)
}

// describeCtlErr makes control-connection failures readable.
func describeCtlErr(err error) error {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("the peer closed the control connection")
	case isTimeout(err):
		return errors.New("the peer did not answer in time")
	}
	return unwrapOpError(err)
}

// unwrapOpError drops net.OpError's address noise but keeps the cause.
func unwrapOpError(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return fmt.Errorf("%s: %w", oe.Op, oe.Err)
	}
	return err
}

func firstFlowErr(flows flowSet, fallback string) error {
	for _, f := range flows {
		if err := f.endErr(); err != nil {
			return fmt.Errorf("%s: %w", fallback, err)
		}
	}
	return errors.New(fallback)
}

func mustRaw(c *net.TCPConn) rawConn {
	rc, _ := c.SyscallConn()
	return rc
}

// offer lists the extensions this client proposes.
func (c *Client) offer() []string {
	x := append([]string(nil), ourExtensions...)
	if len(c.cfg.AuthKey) > 0 {
		x = append(x, wire.ExtAuth)
	}
	return x
}

// dataSockOpts are the socket options of this client's data connections.
func (c *Client) dataSockOpts(server net.Addr, udp bool) sockOpts {
	cfg := c.cfg
	o := sockOpts{
		window: cfg.Window, congestion: cfg.Congestion, mss: cfg.MSS, tos: cfg.TOS,
		bindDev: cfg.BindDev, userTimeout: int(cfg.SndTimeout / time.Millisecond),
		udp: udp, dontFrag: cfg.DontFragment,
	}
	if ta, ok := server.(*net.TCPAddr); ok && ta.IP.To4() == nil {
		o.v6 = true
	}
	return o
}

// pacingRate is the SO_MAX_PACING_RATE (bytes/s) for a sender: the lower of
// -b and --fq-rate, 0 for none.
func pacingRate(rate, fqRate uint64) uint64 {
	switch {
	case rate == 0:
		return fqRate / 8
	case fqRate == 0:
		return rate / 8
	}
	return min(rate, fqRate) / 8
}

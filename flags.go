package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/flowscope/flowscope/compat"
	"github.com/flowscope/flowscope/engine"
	"github.com/flowscope/flowscope/fleet"
	"github.com/flowscope/flowscope/metrics"
	"github.com/flowscope/flowscope/profile"
	"github.com/flowscope/flowscope/report"
	"github.com/flowscope/flowscope/sysctl"
	"github.com/flowscope/flowscope/units"
)

type mode int

const (
	modeClient mode = iota
	modeServer
	modeLoopback
)

// options is the parsed command line.
type options struct {
	prof       profile.Files
	mode       mode
	cfg        engine.Config
	json       bool
	jsonStream bool
	// jsonFull: --json-stream-full-output, the whole -J document after
	// the event stream.
	jsonFull bool
	noTUI    bool // --no-tui: headless output on a terminal too
	server   engine.ServerConfig
	format   byte
	verbose  bool
	oneOff   bool
	version  bool
	affinity int // -A n: this process's CPU, -1 none
	out      compat.Output
	notes    []string // one-line notes for stderr (options accepted without effect)

	// record is --record: a client's file, a server's directory.
	record string
	// exitWhenDone: the live view quits once the run is over.
	exitWhenDone bool

	// Multi-server runs and server metrics.
	targets     []fleet.Target // several servers (-c A,B or --targets)
	metricsAddr string         // --metrics ADDR

	// listening is called once the server listens (-D's child tells its
	// parent).
	listening func()
}

// reportOptions are the text and JSON reports' options (-f, -V, -T).
func (o *options) reportOptions() report.Options {
	return report.Options{Format: o.format, Verbose: o.verbose, Title: o.out.Title}
}

var errHelp = errors.New("help requested")

// errEndConditions is iperf3's refusal of more than one of -t, -n and -k;
// like iperf3, flowscope exits 1 for it.
var errEndConditions = errors.New("only one test end condition (-t, -n, -k) may be specified")

//go:generate go test -run ^TestGeneratedDocsAreCurrent$ -update-docs .

// newFlagSet declares every flag; parseArgs, usage, the man page and the
// shell completions (package cmddoc) share it.
func newFlagSet() (*pflag.FlagSet, *rawFlags) {
	fs := pflag.NewFlagSet("flowscope", pflag.ContinueOnError)
	fs.SortFlags = false
	r := &rawFlags{}
	fs.BoolVarP(&r.server, "server", "s", false, "run as a server")
	fs.StringVarP(&r.client, "client", "c", "", "run as a client connecting to `HOST` (HOST,HOST,… tests several servers at once)")
	fs.StringVar(&r.targetsFile, "targets", "", "client: test every server in `FILE` (one HOST[:PORT] per line) at once; -c A,B,C does the same")
	fs.StringVar(&r.metrics, "metrics", "", "server: serve Prometheus metrics on `ADDR` (HOST:PORT or :PORT) at /metrics")
	fs.BoolVar(&r.loopback, "loopback", false, "run a server and a client in this process on loopback (no second host needed)")
	fs.IntVarP(&r.port, "port", "p", engine.DefaultPort, "server port")
	fs.IntVarP(&r.parallel, "parallel", "P", 1, "number of parallel streams")
	fs.StringVarP(&r.time, "time", "t", "10", "test duration in `SECONDS`")
	fs.StringVarP(&r.bytes, "bytes", "n", "", "transmit this many `BYTES` instead of running for a time (K/M/G suffixes)")
	fs.StringVarP(&r.interval, "interval", "i", "1", "`SECONDS` between reports (fractions allowed, 0 disables)")
	fs.BoolVarP(&r.reverse, "reverse", "R", false, "reverse: the server sends, the client receives")
	fs.BoolVar(&r.bidir, "bidir", false, "both directions at once")
	fs.StringVarP(&r.length, "length", "l", "", "read/write block `SIZE` (TCP 128K; UDP: the path MTU's payload)")
	fs.BoolVarP(&r.udp, "udp", "u", false, "UDP instead of TCP (default rate 1 Mbit/s per stream)")
	fs.BoolVar(&r.counters64, "udp-counters-64bit", false, "64-bit UDP sequence numbers")
	fs.StringVar(&r.reverseRate, "reverse-bitrate", "", "with --bidir: per-stream `RATE` of the server→client direction (flowscope servers)")
	fs.StringVar(&r.authKeyFile, "auth-key-file", "", "pre-shared key `FILE`: the server requires it, the client proves it (never sent)")
	fs.IntVar(&r.maxTests, "max-tests", 1, "server: tests that may run at once")
	fs.IntVar(&r.maxStreams, "max-streams", 0, "server: most data connections per test (0 = no limit)")
	fs.StringVar(&r.maxDuration, "max-duration", "0", "server: longest test in `SECONDS` (0 = no limit)")
	fs.StringVar(&r.maxBitrate, "max-bitrate", "", "server: highest total `RATE` per test in bit/s (K/M/G)")
	fs.StringVar(&r.maxTestMemory, "max-test-memory", "", "server: most buffer memory one test may claim, `SIZE` in bytes (K/M/G; default 1G, 0: no limit)")
	fs.StringVarP(&r.window, "window", "w", "", "socket buffer `SIZE` (SO_SNDBUF/SO_RCVBUF)")
	fs.StringVarP(&r.bitrate, "bitrate", "b", "", "per-stream target `RATE` in bit/s (K/M/G), 0 = unlimited")
	fs.StringVarP(&r.congestion, "congestion", "C", "", "TCP congestion control `ALGO` (e.g. cubic)")
	fs.StringVarP(&r.omit, "omit", "O", "0", "omit the first `SECONDS` from the results")
	fs.BoolVarP(&r.json, "json", "J", false, "output one JSON document in iperf3's schema")
	fs.BoolVar(&r.jsonStream, "json-stream", false, "output one JSON event per line (with -J too, as iperf3 3.21)")
	fs.BoolVar(&r.jsonFull, "json-stream-full-output", false, "with --json-stream: the whole -J document after the events")
	fs.BoolVar(&r.noTUI, "no-tui", false, "print the text report even when stdout is a terminal (no live UI)")
	fs.StringVar(&r.record, "record", "", "record every event, one JSON line each, to `PATH` (a server: one file per test in the directory PATH); see flowscope replay and report")
	fs.BoolVar(&r.exitWhenDone, "exit-when-done", false, "live view: quit by itself when the test is over (a server: with -1), leaving the summary")
	fs.BoolVarP(&r.ipv4, "version4", "4", false, "use IPv4 only")
	fs.BoolVarP(&r.ipv6, "version6", "6", false, "use IPv6 only")
	fs.StringVarP(&r.bind, "bind", "B", "", "bind to local `ADDRESS`")
	fs.BoolVarP(&r.oneOff, "one-off", "1", false, "server: handle one test, then exit")
	fs.StringVarP(&r.format, "format", "f", "a", "units: k/m/g/t bits, K/M/G/T bytes, a adaptive")
	fs.StringVar(&r.stallTimeout, "stall-timeout", "10", "end the test with an error when no stream moved a byte for `SECONDS` (0 = never)")
	fs.IntVar(&r.connectConc, "connect-concurrency", 128, "data connections dialled at once (flowscope servers)")
	fs.BoolVarP(&r.verbose, "verbose", "V", false, "more detailed output")
	fs.BoolVarP(&r.version, "version", "v", false, "print the version and exit")
	fs.BoolVarP(&r.help, "help", "h", false, "show this help")
	r.compat.Add(fs)
	// For finding where flowscope's own time goes (DEVELOPERS.md).
	fs.StringVar(&r.prof.CPU, "cpuprofile", "", "write a CPU profile (pprof) to `FILE`")
	fs.StringVar(&r.prof.Block, "blockprofile", "", "write a blocking profile (pprof) to `FILE`")
	fs.StringVar(&r.prof.Mutex, "mutexprofile", "", "write a mutex contention profile (pprof) to `FILE`")
	for _, n := range []string{"cpuprofile", "blockprofile", "mutexprofile"} {
		_ = fs.MarkHidden(n)
	}
	return fs, r
}

type rawFlags struct {
	prof                                               profile.Files
	server, loopback, reverse, bidir, json, jsonStream bool
	jsonFull                                           bool
	ipv4, ipv6, oneOff, verbose, version, help         bool
	noTUI, udp, counters64                             bool
	reverseRate, authKeyFile, maxDuration, maxBitrate  string
	authKeyFileSet                                     bool
	maxTestMemory                                      string
	maxTests, maxStreams                               int
	client, time, bytes, interval, length, window      string
	bitrate, congestion, omit, bind, format            string
	stallTimeout, targetsFile, metrics, record         string
	exitWhenDone                                       bool
	port, parallel, connectConc                        int
	compat                                             compat.Flags
}

func usage() string {
	fs, _ := newFlagSet()
	return "Usage: flowscope [-s | -c HOST | --loopback] [options]\n" +
		"       flowscope replay [--play] [--exit-when-done] FILE   (the live view on a recording or an iperf3 JSON file)\n" +
		"       flowscope report FILE -o PAGE.html                  (one self-contained HTML page about it)\n\n" + fs.FlagUsages()
}

// parseArgs turns the command line into options, or one error that says
// what is wrong.
func parseArgs(args []string) (*options, error) {
	fs, r := newFlagSet()
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil, errHelp
		}
		return nil, err
	}
	if r.help {
		return nil, errHelp
	}
	o := &options{prof: r.prof, version: r.version, json: r.json, jsonStream: r.jsonStream, verbose: r.verbose, oneOff: r.oneOff, noTUI: r.noTUI, affinity: -1,
		record: r.record, exitWhenDone: r.exitWhenDone}
	if r.version {
		return o, nil
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	r.authKeyFileSet = fs.Changed("auth-key-file") // --auth-key-file '' is refused, not ignored
	if err := applyFleetFlags(fs, r, o); err != nil {
		return nil, err
	}
	if err := parseMode(r, o); err != nil {
		return nil, err
	}
	ends := 0
	for _, set := range []bool{fs.Changed("time"), r.bytes != "", r.compat.EndCondition()} {
		if set {
			ends++
		}
	}
	if ends > 1 {
		return nil, errEndConditions
	}
	cfg, err := testConfig(r)
	if err != nil {
		return nil, err
	}
	o.cfg = cfg
	applied, err := r.compat.Apply(fs, compat.Role{Server: o.mode == modeServer, JSON: o.json || o.jsonStream}, &o.cfg, &o.server)
	if err != nil {
		return nil, err
	}
	o.out, o.affinity, o.notes = applied.Out, applied.Affinity, applied.Notes
	if err := checkLocal(o); err != nil {
		return nil, err
	}
	if fs.Changed("record") && o.record == "" {
		return nil, errors.New("--record needs a file name (a directory for a server)")
	}
	if o.mode == modeServer {
		return o, serverLimits(fs, r, o)
	}
	if r.oneOff {
		return nil, errors.New("-1 is a server option")
	}
	if o.mode == modeLoopback {
		o.cfg.Port = 1 // replaced by the loopback server's free port
		o.cfg.Loopback = true
	}
	if o.cfg.Omit > maxOmit {
		return nil, fmt.Errorf("invalid -O %q: at most %d seconds", r.omit, int(maxOmit.Seconds()))
	}
	return o, o.cfg.Validate()
}

// maxOmit is the longest -O a server accepts (iperf3's limit too).
const maxOmit = 600 * time.Second

// parseMode reads the role (-s, -c, --loopback) and the output choice.
func parseMode(r *rawFlags, o *options) error {
	roles := 0
	for _, b := range []bool{r.server, r.client != "", r.loopback} {
		if b {
			roles++
		}
	}
	switch {
	case roles == 0:
		return errors.New("choose a mode: -s (server), -c HOST (client) or --loopback (see --help)")
	case roles > 1:
		return errors.New("-s, -c and --loopback exclude each other")
	case r.server:
		o.mode = modeServer
	case r.loopback:
		o.mode = modeLoopback
	default:
		o.mode = modeClient
	}
	// As iperf3 3.21: --json-stream wins over -J, and
	// --json-stream-full-output adds the -J document after the events.
	if r.jsonFull && !r.jsonStream {
		return errors.New("--json-stream-full-output needs --json-stream")
	}
	if r.jsonStream {
		o.json, o.jsonFull = false, r.jsonFull
	}
	if r.ipv4 && r.ipv6 {
		return errors.New("-4 and -6 exclude each other")
	}
	if len(r.format) != 1 || !units.ValidFormat(r.format[0]) {
		return fmt.Errorf("invalid format %q for -f: use one of k m g t K M G T a", r.format)
	}
	o.format = r.format[0]
	return nil
}

// testConfig is the test the main flags describe.
func testConfig(r *rawFlags) (engine.Config, error) {
	cfg := engine.DefaultConfig()
	// iperf3 accepts HOST%DEV for -c and -B: the part after % is the
	// interface to bind to (--bind-dev, which wins).
	host, hostDev, _ := strings.Cut(r.client, "%")
	bind, bindDev, _ := strings.Cut(r.bind, "%")
	cfg.Host, cfg.BindAddr, cfg.BindDev = host, bind, cmp.Or(hostDev, bindDev)
	cfg.Port, cfg.Parallel, cfg.Reverse, cfg.Bidir = r.port, r.parallel, r.reverse, r.bidir
	cfg.Congestion, cfg.ConnectConcurrency = r.congestion, r.connectConc
	if r.ipv4 {
		cfg.Network = "tcp4"
	}
	if r.ipv6 {
		cfg.Network = "tcp6"
	}
	var err error
	for _, d := range []struct {
		dst    *time.Duration
		flag   string
		v      string
		zeroOK bool
	}{
		{&cfg.Duration, "-t", r.time, false}, {&cfg.Interval, "-i", r.interval, true},
		{&cfg.Omit, "-O", r.omit, true}, {&cfg.StallTimeout, "--stall-timeout", r.stallTimeout, true},
	} {
		if *d.dst, err = parseSeconds(d.flag, d.v, d.zeroOK); err != nil {
			return cfg, err
		}
	}
	if r.bytes != "" {
		if cfg.Bytes, err = units.ParseSize(r.bytes); err != nil {
			return cfg, fmt.Errorf("invalid -n %q: %w", r.bytes, err)
		}
		if cfg.Bytes <= 0 {
			return cfg, fmt.Errorf("invalid -n %q: must be positive", r.bytes)
		}
		cfg.Duration = 0
	}
	if r.udp {
		cfg.Protocol = engine.ProtoUDP
	}
	cfg.Counters64 = r.counters64
	if r.counters64 && !r.udp {
		return cfg, errors.New("--udp-counters-64bit needs -u")
	}
	if err := sizesAndRates(r, &cfg); err != nil {
		return cfg, err
	}
	if r.authKeyFile != "" || r.authKeyFileSet {
		if cfg.AuthKey, err = engine.ReadAuthKeyFile(r.authKeyFile); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// sizesAndRates reads -l, -w, -b and --reverse-bitrate.
func sizesAndRates(r *rawFlags, cfg *engine.Config) error {
	cfg.BlockSize = 0 // engine default: 128K for TCP, the path's MSS for UDP
	var err error
	if r.length != "" {
		bl, err := units.ParseSize(r.length)
		if err != nil {
			return fmt.Errorf("invalid -l %q: %w", r.length, err)
		}
		if bl < 1 || bl > math.MaxInt32 {
			return fmt.Errorf("invalid -l %q: out of range", r.length)
		}
		cfg.BlockSize = int(bl)
	}
	if r.window != "" {
		w, err := units.ParseSize(r.window)
		if err != nil {
			return fmt.Errorf("invalid -w %q: %w", r.window, err)
		}
		if w > math.MaxInt32 {
			return fmt.Errorf("invalid -w %q: too large", r.window)
		}
		cfg.Window = int(w)
	}
	if r.udp && r.bitrate == "" {
		cfg.Rate = engine.DefaultUDPRate
	}
	if r.reverseRate != "" {
		if cfg.ReverseRate, err = units.ParseRate(r.reverseRate); err != nil {
			return fmt.Errorf("invalid --reverse-bitrate %q: %w", r.reverseRate, err)
		}
	}
	if r.bitrate != "" {
		rate, burst, hasBurst := strings.Cut(r.bitrate, "/")
		if hasBurst {
			if cfg.Burst, err = strconv.Atoi(burst); err != nil || cfg.Burst < 1 || cfg.Burst > 1000 {
				return fmt.Errorf("invalid -b %q: the burst after / must be 1-1000 datagrams", r.bitrate)
			}
		}
		if cfg.Rate, err = units.ParseRate(rate); err != nil {
			return fmt.Errorf("invalid -b %q: %w", r.bitrate, err)
		}
	}
	return nil
}

// serverLimits reads the server's limits; the client decides the test, the
// server only needs these.
func serverLimits(fs *pflag.FlagSet, r *rawFlags, o *options) error {
	if r.maxTests < 1 || r.maxStreams < 0 {
		return errors.New("--max-tests must be at least 1 and --max-streams not negative")
	}
	o.server.MaxTests, o.server.MaxStreams, o.server.AuthKey = r.maxTests, r.maxStreams, o.cfg.AuthKey
	var err error
	if fs.Changed("max-duration") && fs.Changed("server-max-duration") {
		return errors.New("--max-duration and --server-max-duration exclude each other")
	}
	if !fs.Changed("server-max-duration") { // else set by compat
		if o.server.MaxDuration, err = parseSeconds("--max-duration", r.maxDuration, true); err != nil {
			return err
		}
	}
	if r.maxBitrate != "" {
		if o.server.MaxBitrate, err = units.ParseRate(r.maxBitrate); err != nil {
			return fmt.Errorf("invalid --max-bitrate %q: %w", r.maxBitrate, err)
		}
	}
	if r.maxTestMemory != "" {
		m, err := units.ParseSize(r.maxTestMemory)
		if err != nil || m < 0 {
			return fmt.Errorf("invalid --max-test-memory %q: a size in bytes (K/M/G), 0 for no limit", r.maxTestMemory)
		}
		o.server.MaxTestMemory = m
		if m == 0 {
			o.server.MaxTestMemory = -1 // engine: negative is no limit
		}
	}
	if o.cfg.Port < 1 || o.cfg.Port > 65535 {
		return fmt.Errorf("port %d out of range 1-65535", o.cfg.Port)
	}
	return nil
}

// applyFleetFlags reads -c HOST,HOST… and --targets FILE into o.targets
// (left nil for a plain one-server client) and checks --metrics. Several
// servers, or a targets file, make a multi-server run: r.client becomes the
// first host so the rest of the parsing sees a client.
func applyFleetFlags(fs *pflag.FlagSet, r *rawFlags, o *options) error {
	if r.metrics != "" {
		if !r.server {
			return errors.New("--metrics is a server option (-s)")
		}
		addr, err := metrics.ParseAddr(r.metrics)
		if err != nil {
			return err
		}
		o.metricsAddr = addr
	}
	if fs.Changed("targets") && r.targetsFile == "" {
		return errors.New("--targets needs a file name")
	}
	targets, err := fleet.Targets(r.client, r.targetsFile, r.port)
	if err != nil || targets == nil {
		return err
	}
	o.targets = targets
	r.client = targets[0].Host
	return nil
}

// parseSeconds parses flag's number of seconds (see units.ParseSeconds).
func parseSeconds(flag, s string, zeroOK bool) (time.Duration, error) {
	d, err := units.ParseSeconds(s, zeroOK)
	if err != nil {
		return 0, fmt.Errorf("invalid %s %q: %w", flag, s, err)
	}
	return d, nil
}

// checkLocal checks the options that name something of this host: -A's
// CPU, -B's address, -C's algorithm and --bind-dev's interface, so that a
// wrong one is a usage error like any other bad value.
func checkLocal(o *options) error {
	if o.affinity >= 0 {
		if err := sysctl.CPUAllowed(o.affinity); err != nil {
			return fmt.Errorf("invalid -A %d: %w", o.affinity, err)
		}
	}
	if b := o.cfg.BindAddr; b != "" && net.ParseIP(b) == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if _, err := net.DefaultResolver.LookupHost(ctx, b); err != nil {
			return fmt.Errorf("invalid -B %q: not an IP address or a name of this host", b)
		}
	}
	if dev := o.cfg.BindDev; dev != "" {
		if _, err := net.InterfaceByName(dev); err != nil {
			return fmt.Errorf("invalid --bind-dev %q: no such network interface", dev)
		}
	}
	if cc := o.cfg.Congestion; cc != "" {
		if err := sysctl.CongestionAvailable(cc); err != nil {
			return fmt.Errorf("invalid -C %q: %w", cc, err)
		}
	}
	return nil
}

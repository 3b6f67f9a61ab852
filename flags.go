package main

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/flowscope/flowscope/engine"
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
	prof       profileFlags
	mode       mode
	cfg        engine.Config
	json       bool
	jsonStream bool
	noTUI      bool // --no-tui: headless output on a terminal too
	server     engine.ServerConfig
	format     byte
	verbose    bool
	oneOff     bool
	version    bool
	affinity   int // -A n: this process's CPU, -1 none
	out        outputOptions
	notes      []string // one-line notes for stderr (options accepted without effect)

	// Multi-server runs and server metrics (fleet.go, metrics_main.go).
	targets     []target // several servers (-c A,B or --targets)
	metricsAddr string   // --metrics ADDR
}

var errHelp = errors.New("help requested")

// newFlagSet declares every flag; parseArgs and usage share it.
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
	fs.StringVarP(&r.window, "window", "w", "", "socket buffer `SIZE` (SO_SNDBUF/SO_RCVBUF)")
	fs.StringVarP(&r.bitrate, "bitrate", "b", "", "per-stream target `RATE` in bit/s (K/M/G), 0 = unlimited")
	fs.StringVarP(&r.congestion, "congestion", "C", "", "TCP congestion control `ALGO` (e.g. cubic)")
	fs.StringVarP(&r.omit, "omit", "O", "0", "omit the first `SECONDS` from the results")
	fs.BoolVarP(&r.json, "json", "J", false, "output one JSON document in iperf3's schema")
	fs.BoolVar(&r.jsonStream, "json-stream", false, "output one JSON event per line")
	fs.BoolVar(&r.noTUI, "no-tui", false, "print the text report even when stdout is a terminal (no live UI)")
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
	addCompatFlags(fs, &r.compat)
	addProfileFlags(fs, &r.prof)
	return fs, r
}

type rawFlags struct {
	prof                                               profileFlags
	server, loopback, reverse, bidir, json, jsonStream bool
	ipv4, ipv6, oneOff, verbose, version, help         bool
	noTUI, udp, counters64                             bool
	reverseRate, authKeyFile, maxDuration, maxBitrate  string
	maxTests, maxStreams                               int
	client, time, bytes, interval, length, window      string
	bitrate, congestion, omit, bind, format            string
	stallTimeout, targetsFile, metrics                 string
	port, parallel, connectConc                        int
	compat                                             compatFlags
}

func usage() string {
	fs, _ := newFlagSet()
	return "Usage: flowscope [-s | -c HOST | --loopback] [options]\n\n" + fs.FlagUsages()
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
	o := &options{prof: r.prof, version: r.version, json: r.json, jsonStream: r.jsonStream, verbose: r.verbose, oneOff: r.oneOff, noTUI: r.noTUI, affinity: -1}
	if r.version {
		return o, nil
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := applyFleetFlags(fs, r, o); err != nil {
		return nil, err
	}
	roles := 0
	for _, b := range []bool{r.server, r.client != "", r.loopback} {
		if b {
			roles++
		}
	}
	switch {
	case roles == 0:
		return nil, errors.New("choose a mode: -s (server), -c HOST (client) or --loopback (see --help)")
	case roles > 1:
		return nil, errors.New("-s, -c and --loopback exclude each other")
	case r.server:
		o.mode = modeServer
	case r.loopback:
		o.mode = modeLoopback
	default:
		o.mode = modeClient
	}
	if r.json && r.jsonStream {
		return nil, errors.New("-J and --json-stream exclude each other")
	}
	if r.ipv4 && r.ipv6 {
		return nil, errors.New("-4 and -6 exclude each other")
	}
	if len(r.format) != 1 || !units.ValidFormat(r.format[0]) {
		return nil, fmt.Errorf("invalid format %q for -f: use one of k m g t K M G T a", r.format)
	}
	o.format = r.format[0]

	cfg := engine.DefaultConfig()
	// iperf3 accepts HOST%DEV for -c and -B: the part after % is the
	// interface to bind to (--bind-dev).
	host, hostDev, _ := strings.Cut(r.client, "%")
	bind, bindDev, _ := strings.Cut(r.bind, "%")
	if hostDev != "" && r.compat.bindDev == "" {
		r.compat.bindDev = hostDev
	}
	if bindDev != "" && r.compat.bindDev == "" {
		r.compat.bindDev = bindDev
	}
	r.client, r.bind = host, bind
	cfg.Host = r.client
	cfg.Port = r.port
	cfg.Parallel = r.parallel
	cfg.Reverse = r.reverse
	cfg.Bidir = r.bidir
	cfg.Congestion = r.congestion
	cfg.BindAddr = r.bind
	if r.ipv4 {
		cfg.Network = "tcp4"
	}
	if r.ipv6 {
		cfg.Network = "tcp6"
	}
	var err error
	if cfg.Duration, err = parseSeconds("-t", r.time, false); err != nil {
		return nil, err
	}
	if cfg.Interval, err = parseSeconds("-i", r.interval, true); err != nil {
		return nil, err
	}
	if cfg.Omit, err = parseSeconds("-O", r.omit, true); err != nil {
		return nil, err
	}
	if cfg.StallTimeout, err = parseSeconds("--stall-timeout", r.stallTimeout, true); err != nil {
		return nil, err
	}
	cfg.ConnectConcurrency = r.connectConc
	if r.bytes != "" {
		if cfg.Bytes, err = units.ParseSize(r.bytes); err != nil {
			return nil, fmt.Errorf("invalid -n %q: %w", r.bytes, err)
		}
		if cfg.Bytes <= 0 {
			return nil, fmt.Errorf("invalid -n %q: must be positive", r.bytes)
		}
		cfg.Duration = 0
	}
	cfg.UDP, cfg.Counters64 = r.udp, r.counters64
	if r.counters64 && !r.udp {
		return nil, errors.New("--udp-counters-64bit needs -u")
	}
	cfg.BlockSize = 0 // engine default: 128K for TCP, the path's MSS for UDP
	if r.length != "" {
		bl, err := units.ParseSize(r.length)
		if err != nil {
			return nil, fmt.Errorf("invalid -l %q: %w", r.length, err)
		}
		if bl < 1 || bl > math.MaxInt32 {
			return nil, fmt.Errorf("invalid -l %q: out of range", r.length)
		}
		cfg.BlockSize = int(bl)
	}
	if r.window != "" {
		w, err := units.ParseSize(r.window)
		if err != nil {
			return nil, fmt.Errorf("invalid -w %q: %w", r.window, err)
		}
		if w > math.MaxInt32 {
			return nil, fmt.Errorf("invalid -w %q: too large", r.window)
		}
		cfg.Window = int(w)
	}
	if r.udp && r.bitrate == "" {
		cfg.Rate = engine.DefaultUDPRate
	}
	if r.reverseRate != "" {
		if cfg.ReverseRate, err = units.ParseRate(r.reverseRate); err != nil {
			return nil, fmt.Errorf("invalid --reverse-bitrate %q: %w", r.reverseRate, err)
		}
	}
	if r.bitrate != "" {
		rate, burst, hasBurst := strings.Cut(r.bitrate, "/")
		if hasBurst {
			if cfg.Burst, err = strconv.Atoi(burst); err != nil || cfg.Burst < 1 || cfg.Burst > 1000 {
				return nil, fmt.Errorf("invalid -b %q: the burst after / must be 1-1000 datagrams", r.bitrate)
			}
		}
		if cfg.Rate, err = units.ParseRate(rate); err != nil {
			return nil, fmt.Errorf("invalid -b %q: %w", r.bitrate, err)
		}
	}
	if r.authKeyFile != "" {
		if cfg.AuthKey, err = engine.ReadAuthKeyFile(r.authKeyFile); err != nil {
			return nil, err
		}
	}
	o.cfg = cfg
	if err := applyCompat(fs, &r.compat, o); err != nil {
		return nil, err
	}
	cfg = o.cfg
	if o.mode == modeServer {
		if r.maxTests < 1 || r.maxStreams < 0 {
			return nil, errors.New("--max-tests must be at least 1 and --max-streams not negative")
		}
		o.server.MaxTests, o.server.MaxStreams, o.server.AuthKey = r.maxTests, r.maxStreams, cfg.AuthKey
		if o.server.MaxDuration, err = parseSeconds("--max-duration", r.maxDuration, true); err != nil {
			return nil, err
		}
		if r.maxBitrate != "" {
			if o.server.MaxBitrate, err = units.ParseRate(r.maxBitrate); err != nil {
				return nil, fmt.Errorf("invalid --max-bitrate %q: %w", r.maxBitrate, err)
			}
		}
		// The client decides the test; the server only needs these.
		if cfg.Port < 1 || cfg.Port > 65535 {
			return nil, fmt.Errorf("port %d out of range 1-65535", cfg.Port)
		}
		o.cfg = cfg
		return o, nil
	}
	if r.oneOff {
		return nil, errors.New("-1 is a server option")
	}
	if o.mode == modeLoopback {
		cfg.Port = 1 // replaced by the loopback server's free port
		cfg.Loopback = true
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o.cfg = cfg
	return o, nil
}

// parseSeconds parses a non-negative number of seconds, fractions allowed.
func parseSeconds(flag, s string, zeroOK bool) (time.Duration, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("invalid %s %q: not a number of seconds", flag, s)
	}
	if v < 0 || (!zeroOK && v == 0) {
		return 0, fmt.Errorf("invalid %s %q: must be positive", flag, s)
	}
	if v > 86400*365 {
		return 0, fmt.Errorf("invalid %s %q: too long", flag, s)
	}
	return time.Duration(v * float64(time.Second)), nil
}

// Package compat holds iperf3's command-line options beyond flowscope's
// own core set (iperf3 3.12's, and those 3.17-3.21 added): it declares
// them on the command's flag set, checks their values, applies them to the
// test's and the server's configuration, and refuses those flowscope does
// not implement with one line that says why. None is silently ignored.
package compat

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/flowscope/flowscope/engine"
	"github.com/flowscope/flowscope/units"
)

// Flags are the options' raw values, as the flag set fills them in.
type Flags struct {
	blockcount, title, extraData, cport, tos, dscp, mss string
	logfile, timestamps, pidfile, affinity, connectTO   string
	rcvTO, sndTO, idleTO, serverRate, fqRate, pacing    string
	bindDev, file, flowlabel, debug                     string
	getServerOutput, zerocopy, noDelay, forceflush      bool
	skipRxCopy, noGSO                                   bool
	daemon, dontFragment, repeating                     bool

	// iperf3 3.17-3.21: the server's --server-max-duration; --gsro asks
	// for UDP GSO/GRO, which flowscope uses unless --no-gso; --cntl-ka
	// sets the control connection's keepalive; -m asks for MPTCP.
	serverMaxDuration, cntlKA string
	gsro, mptcp               bool

	// refused: iperf3 features flowscope does not implement
	sctp, xbind, nstreams, username, rsaPub, rsaPriv, users, skew, pkcs1 string
}

// Add declares the options on fs, their values going into c.
func (c *Flags) Add(fs *pflag.FlagSet) {
	fs.StringVarP(&c.blockcount, "blockcount", "k", "", "transmit this many blocks (datagrams for UDP) instead of running for a time")
	fs.StringVarP(&c.title, "title", "T", "", "prefix every output line with `STR`")
	fs.StringVar(&c.extraData, "extra-data", "", "`STR` to include in the client's and server's JSON")
	fs.BoolVar(&c.getServerOutput, "get-server-output", false, "get the server's own report with the results")
	fs.BoolVarP(&c.zerocopy, "zerocopy", "Z", false, "send with sendfile(2) from memory (no copy through user space)")
	fs.BoolVar(&c.skipRxCopy, "skip-rx-copy", false, "TCP receivers drop data with MSG_TRUNC instead of copying it (asked of the server too)")
	fs.BoolVar(&c.noGSO, "no-gso", false, "UDP: one datagram per system call, no GSO/GRO batching (asked of the server too)")
	fs.BoolVar(&c.gsro, "gsro", false, "UDP GSO/GRO batching, as iperf3 3.21's --gsro (flowscope's default; --no-gso turns it off)")
	fs.StringVar(&c.serverMaxDuration, "server-max-duration", "", "server: longest test in `SECONDS`, as iperf3 3.21 (same as --max-duration)")
	fs.StringVar(&c.cntlKA, "cntl-ka", "", "control connection TCP keepalive `IDLE/INTERVAL/COUNT` (seconds, seconds, probes; any left out: the system's)")
	fs.Lookup("cntl-ka").NoOptDefVal = "//"
	fs.BoolVarP(&c.mptcp, "mptcp", "m", false, "client: use MPTCP rather than plain TCP (a flowscope server always accepts it)")
	fs.StringVar(&c.cport, "cport", "", "bind data connections to client `PORT` (stream k uses PORT+k)")
	fs.StringVarP(&c.tos, "tos", "S", "", "IP type of service `N` (0-255; 52, 064 and 0x34 alike)")
	fs.StringVar(&c.dscp, "dscp", "", "DSCP `N` (0-63) or a name (EF, AF11…AF43, CS0…CS7)")
	fs.StringVarP(&c.flowlabel, "flowlabel", "L", "", "IPv6 flow label (refused: not supported)")
	fs.StringVarP(&c.mss, "set-mss", "M", "", "TCP maximum segment `SIZE` (MTU - 40)")
	fs.BoolVarP(&c.noDelay, "no-delay", "N", false, "TCP_NODELAY on data connections (Nagle off)")
	fs.StringVar(&c.logfile, "logfile", "", "write output (and errors) to `FILE` instead of the terminal")
	fs.BoolVar(&c.forceflush, "forceflush", false, "flush output at every line (flowscope never buffers output)")
	fs.StringVar(&c.timestamps, "timestamps", "", "prefix each output line with the time (optional strftime `FORMAT`)")
	fs.Lookup("timestamps").NoOptDefVal = "%c "
	fs.StringVarP(&c.pidfile, "pidfile", "I", "", "write the process id to `FILE`")
	fs.BoolVarP(&c.daemon, "daemon", "D", false, "server: run in the background")
	fs.StringVarP(&c.affinity, "affinity", "A", "", "pin to CPU `n` (client) and ask the server for CPU m with n,m")
	fs.StringVar(&c.connectTO, "connect-timeout", "", "control connection set-up timeout in `MS`")
	fs.StringVar(&c.rcvTO, "rcv-timeout", "", "end the test when no data arrives for `MS` (default 10000 client, 30000 server)")
	fs.StringVar(&c.sndTO, "snd-timeout", "", "TCP_USER_TIMEOUT for data connections in `MS`")
	fs.StringVar(&c.idleTO, "idle-timeout", "", "server with -1: give up when no client came within `SECONDS`")
	fs.StringVar(&c.serverRate, "server-bitrate-limit", "", "server: like --max-bitrate (`RATE`[/SECS])")
	fs.StringVar(&c.fqRate, "fq-rate", "", "pace each stream with SO_MAX_PACING_RATE at `RATE` bit/s")
	fs.StringVar(&c.pacing, "pacing-timer", "", "accepted for compatibility; see --help")
	fs.BoolVar(&c.dontFragment, "dont-fragment", false, "set IPv4 Don't Fragment (UDP)")
	fs.BoolVar(&c.repeating, "repeating-payload", false, "send a repeating 0123456789 pattern instead of random bytes")
	fs.StringVar(&c.bindDev, "bind-dev", "", "bind to network interface `DEV` (SO_BINDTODEVICE)")
	fs.StringVarP(&c.file, "file", "F", "", "send or receive a file (refused: not supported)")
	fs.StringVarP(&c.debug, "debug", "d", "", "debug output on stderr")
	fs.Lookup("debug").NoOptDefVal = "4"
	for _, r := range []struct {
		p          *string
		name, shrt string
	}{
		{&c.sctp, "sctp", ""}, {&c.xbind, "xbind", "X"}, {&c.nstreams, "nstreams", ""},
		{&c.username, "username", ""}, {&c.rsaPub, "rsa-public-key-path", ""},
		{&c.rsaPriv, "rsa-private-key-path", ""}, {&c.users, "authorized-users-path", ""},
		{&c.skew, "time-skew-threshold", ""}, {&c.pkcs1, "use-pkcs1-padding", ""},
	} {
		fs.StringVarP(r.p, r.name, r.shrt, "", "refused: not supported (see README)")
		fs.Lookup(r.name).Hidden = true
	}
	fs.Lookup("sctp").NoOptDefVal = "on"
	fs.Lookup("use-pkcs1-padding").NoOptDefVal = "on"
}

// EndCondition reports whether -k was given: with -t or -n, more than one
// end condition, which iperf3 refuses.
func (c *Flags) EndCondition() bool { return c.blockcount != "" }

// Applied is what the options decide beyond the test's and the server's
// configuration.
type Applied struct {
	Out      Output
	Affinity int      // -A n: this process's CPU, -1 none
	Notes    []string // one-line notes for stderr (options accepted without effect)
}

// Role is what the rest of the command line decided, which some options
// depend on.
type Role struct {
	Server bool // -s
	JSON   bool // -J or --json-stream
}

// Apply checks the options given on fs and applies them to cfg (the test)
// and srv (the server's limits). A --bind-dev given overrides the
// interface cfg already names (from HOST%DEV).
func (c *Flags) Apply(fs *pflag.FlagSet, role Role, cfg *engine.Config, srv *engine.ServerConfig) (Applied, error) {
	a := Applied{Affinity: -1}
	if err := refuse(fs); err != nil {
		return a, err
	}
	if err := c.applyTest(cfg); err != nil {
		return a, err
	}
	if err := c.applyServer(role, srv); err != nil {
		return a, err
	}
	if err := c.timeouts(cfg, srv); err != nil {
		return a, err
	}
	if c.cntlKA != "" {
		ka, err := parseCntlKA(c.cntlKA)
		if err != nil {
			return a, err
		}
		cfg.ControlKeepAlive, srv.ControlKeepAlive = ka, ka
	}
	if c.mptcp {
		if role.Server {
			a.Notes = append(a.Notes, "-m has no effect on a server: flowscope servers always accept MPTCP (and plain TCP)")
		}
		cfg.MPTCP = true
	}
	if err := c.parseAffinity(cfg, &a); err != nil {
		return a, err
	}
	if c.pacing != "" {
		a.Notes = append(a.Notes, "--pacing-timer has no effect: TCP streams are paced by the kernel (SO_MAX_PACING_RATE) and UDP datagrams each get their own send time")
	}
	a.Out = Output{Logfile: c.logfile, Timestamps: c.timestamps, Pidfile: c.pidfile, Daemon: c.daemon, Debug: c.debug != "", Title: c.title, JSON: role.JSON}
	if c.daemon && !role.Server {
		return a, errors.New("-D is a server option")
	}
	return a, nil
}

// refuse refuses iperf3's features flowscope does not implement: each
// refusal names the option and why.
func refuse(fs *pflag.FlagSet) error {
	switch {
	case fs.Changed("sctp") || fs.Changed("xbind") || fs.Changed("nstreams"):
		return errors.New("SCTP (--sctp, -X, --nstreams) is not supported: flowscope tests TCP and UDP")
	case fs.Changed("username") || fs.Changed("rsa-public-key-path") || fs.Changed("rsa-private-key-path") ||
		fs.Changed("authorized-users-path") || fs.Changed("time-skew-threshold") || fs.Changed("use-pkcs1-padding"):
		return errors.New("iperf3's RSA authentication is not supported: use --auth-key-file on both ends (see README)")
	case fs.Changed("flowlabel"):
		return errors.New("-L/--flowlabel is not supported: flowscope does not set IPv6 flow labels")
	case fs.Changed("file"):
		return errors.New("-F/--file is not supported: flowscope sends generated data only")
	}
	return nil
}

// applyTest applies the options that shape the test itself.
func (c *Flags) applyTest(cfg *engine.Config) error {
	var err error
	if c.blockcount != "" {
		if cfg.Blocks, err = units.ParseSize(c.blockcount); err != nil || cfg.Blocks <= 0 {
			return fmt.Errorf("invalid -k %q: want a positive number of blocks", c.blockcount)
		}
		cfg.Duration, cfg.Bytes = 0, 0
	}
	cfg.Title, cfg.ExtraData, cfg.GetServerOutput = c.title, c.extraData, c.getServerOutput
	cfg.ZeroCopy, cfg.NoDelay, cfg.DontFragment, cfg.RepeatingPayload = c.zerocopy, c.noDelay, c.dontFragment, c.repeating
	if c.gsro && c.noGSO {
		return errors.New("--gsro and --no-gso exclude each other")
	}
	cfg.SkipRxCopy, cfg.NoGSO = c.skipRxCopy, c.noGSO
	if c.bindDev != "" {
		cfg.BindDev = c.bindDev
	}
	if c.cport != "" {
		if cfg.CPort, err = strconv.Atoi(c.cport); err != nil || cfg.CPort < 1 || cfg.CPort > 65535 {
			return fmt.Errorf("invalid --cport %q: want a port 1-65535", c.cport)
		}
	}
	if err := c.tosAndDSCP(cfg); err != nil {
		return err
	}
	if c.mss != "" {
		if cfg.MSS, err = strconv.Atoi(c.mss); err != nil || cfg.MSS < 88 || cfg.MSS > 32767 {
			return fmt.Errorf("invalid -M %q: want an MSS of 88-32767 bytes", c.mss)
		}
	}
	if c.fqRate != "" {
		if cfg.FQRate, err = units.ParseRate(c.fqRate); err != nil {
			return fmt.Errorf("invalid --fq-rate %q: %w", c.fqRate, err)
		}
	}
	return nil
}

// tosAndDSCP reads -S and --dscp, two spellings of one byte.
func (c *Flags) tosAndDSCP(cfg *engine.Config) error {
	if c.tos != "" && c.dscp != "" {
		return errors.New("-S and --dscp exclude each other")
	}
	if c.tos != "" {
		v, err := strconv.ParseInt(c.tos, 0, 32)
		if err != nil || v < 0 || v > 255 {
			return fmt.Errorf("invalid -S %q: want 0-255 (decimal, 0octal or 0xhex)", c.tos)
		}
		cfg.TOS = int(v)
	}
	if c.dscp != "" {
		d, err := units.ParseDSCP(c.dscp)
		if err != nil {
			return fmt.Errorf("invalid --dscp %q: %w", c.dscp, err)
		}
		cfg.TOS = d << 2
	}
	return nil
}

// applyServer applies iperf3's spellings of the server's limits.
func (c *Flags) applyServer(role Role, srv *engine.ServerConfig) error {
	var err error
	if c.serverMaxDuration != "" {
		if !role.Server {
			return errors.New("--server-max-duration is a server option")
		}
		if srv.MaxDuration, err = units.ParseSeconds(c.serverMaxDuration, true); err != nil {
			return fmt.Errorf("invalid --server-max-duration %q: %w", c.serverMaxDuration, err)
		}
	}
	if c.serverRate != "" {
		rate, _, _ := strings.Cut(c.serverRate, "/") // the averaging window: flowscope checks every second
		if srv.MaxBitrate, err = units.ParseRate(rate); err != nil {
			return fmt.Errorf("invalid --server-bitrate-limit %q: %w", c.serverRate, err)
		}
	}
	return nil
}

// timeouts reads iperf3's timeout options.
func (c *Flags) timeouts(cfg *engine.Config, srv *engine.ServerConfig) error {
	var err error
	ms := func(flag, v string) (time.Duration, error) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || n > 86_400_000 {
			return 0, fmt.Errorf("invalid %s %q: want milliseconds", flag, v)
		}
		return time.Duration(n) * time.Millisecond, nil
	}
	if c.connectTO != "" {
		if cfg.ConnectTimeout, err = ms("--connect-timeout", c.connectTO); err != nil {
			return err
		}
	}
	if c.sndTO != "" {
		if cfg.SndTimeout, err = ms("--snd-timeout", c.sndTO); err != nil {
			return err
		}
	}
	if c.rcvTO != "" {
		d, err := ms("--rcv-timeout", c.rcvTO)
		if err != nil {
			return err
		}
		cfg.StallTimeout, srv.StallTimeout = d, d
		if d == 0 {
			srv.StallTimeout = -1
		}
	}
	if c.idleTO != "" {
		if srv.IdleTimeout, err = units.ParseSeconds(c.idleTO, true); err != nil {
			return fmt.Errorf("invalid --idle-timeout %q: %w", c.idleTO, err)
		}
	}
	return nil
}

// parseCntlKA reads --cntl-ka's IDLE/INTERVAL/COUNT, as iperf3 3.21 does:
// each part may be empty (the system's value), and the idle time must be
// longer than the probes' whole retry period (INTERVAL × COUNT).
func parseCntlKA(v string) (*net.KeepAliveConfig, error) {
	parts := strings.Split(v, "/")
	if len(parts) > 3 {
		return nil, fmt.Errorf("invalid --cntl-ka %q: want IDLE/INTERVAL/COUNT", v)
	}
	vals := [3]int{-1, -1, -1} // -1: left to the system
	for i, s := range parts {
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 32767 {
			return nil, fmt.Errorf("invalid --cntl-ka %q: each of IDLE/INTERVAL/COUNT is a whole number 1-32767, or empty for the system's value", v)
		}
		vals[i] = n
	}
	idle, interval, count := vals[0], vals[1], vals[2]
	if idle > 0 && idle <= max(interval, 0)*max(count, 0) {
		return nil, fmt.Errorf("invalid --cntl-ka %q: control connection Keepalive period should be larger than the full retry period (interval * count)", v)
	}
	ka := &net.KeepAliveConfig{Enable: true, Idle: -1, Interval: -1, Count: -1}
	if idle > 0 {
		ka.Idle = time.Duration(idle) * time.Second
	}
	if interval > 0 {
		ka.Interval = time.Duration(interval) * time.Second
	}
	if count > 0 {
		ka.Count = count
	}
	return ka, nil
}

// parseAffinity reads -A n, n,m (n here, m asked of the server) and
// iperf3's n/m.
func (c *Flags) parseAffinity(cfg *engine.Config, a *Applied) error {
	if c.affinity == "" {
		return nil
	}
	var err error
	local, remote, hasRemote := strings.Cut(c.affinity, ",")
	// iperf3's help writes "-A n/n,m" for "n or n,m", and its checklist
	// runs -A 2/2: iperf3 reads the leading n and ignores the rest, so
	// does flowscope (it says so).
	if n, _, slash := strings.Cut(local, "/"); slash && !hasRemote {
		local = n
		a.Notes = append(a.Notes, fmt.Sprintf("-A %s: pinned to CPU %s only, like iperf3 (which reads n of n/m); -A n,m also asks the server for CPU m", c.affinity, n))
	}
	if a.Affinity, err = strconv.Atoi(local); err != nil || a.Affinity < 0 {
		return fmt.Errorf("invalid -A %q: want n or n,m (CPU numbers)", c.affinity)
	}
	if hasRemote {
		if cfg.ServerAffinity, err = strconv.Atoi(remote); err != nil || cfg.ServerAffinity < 0 {
			return fmt.Errorf("invalid -A %q: want n or n,m (CPU numbers)", c.affinity)
		}
	}
	return nil
}

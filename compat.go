package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/flowscope/flowscope/units"
)

// compatFlags are iperf3 3.12's remaining options: each is implemented with
// iperf3's meaning, or refused with one line that says why. None is
// silently ignored.
type compatFlags struct {
	blockcount, title, extraData, cport, tos, dscp, mss string
	logfile, timestamps, pidfile, affinity, connectTO   string
	rcvTO, sndTO, idleTO, serverRate, fqRate, pacing    string
	bindDev, file, flowlabel, debug                     string
	getServerOutput, zerocopy, noDelay, forceflush      bool
	skipRxCopy, noGSO                                   bool
	daemon, dontFragment, repeating                     bool

	// refused: iperf3 features flowscope does not implement
	sctp, xbind, nstreams, username, rsaPub, rsaPriv, users, skew string
}

// outputOptions say where and how output is written.
type outputOptions struct {
	logfile    string
	timestamps string // strftime-style format; "" = none
	pidfile    string
	daemon     bool
	debug      bool
	title      string
}

func addCompatFlags(fs *pflag.FlagSet, c *compatFlags) {
	fs.StringVarP(&c.blockcount, "blockcount", "k", "", "transmit this many blocks (datagrams for UDP) instead of running for a time")
	fs.StringVarP(&c.title, "title", "T", "", "prefix every output line with `STR`")
	fs.StringVar(&c.extraData, "extra-data", "", "`STR` to include in the client's and server's JSON")
	fs.BoolVar(&c.getServerOutput, "get-server-output", false, "get the server's own report with the results")
	fs.BoolVarP(&c.zerocopy, "zerocopy", "Z", false, "send with sendfile(2) from memory (no copy through user space)")
	fs.BoolVar(&c.skipRxCopy, "skip-rx-copy", false, "TCP receivers drop data with MSG_TRUNC instead of copying it (asked of the server too)")
	fs.BoolVar(&c.noGSO, "no-gso", false, "UDP: one datagram per system call, no GSO/GRO batching (asked of the server too)")
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
		{&c.skew, "time-skew-threshold", ""},
	} {
		fs.StringVarP(r.p, r.name, r.shrt, "", "refused: not supported (see README)")
		fs.Lookup(r.name).Hidden = true
	}
	fs.Lookup("sctp").NoOptDefVal = "on"
}

// applyCompat checks and applies the iperf3 compatibility options.
func applyCompat(fs *pflag.FlagSet, c *compatFlags, o *options) error {
	// Refusals first: each names the option and why.
	switch {
	case fs.Changed("sctp") || fs.Changed("xbind") || fs.Changed("nstreams"):
		return errors.New("SCTP (--sctp, -X, --nstreams) is not supported: flowscope tests TCP and UDP")
	case fs.Changed("username") || fs.Changed("rsa-public-key-path") || fs.Changed("rsa-private-key-path") ||
		fs.Changed("authorized-users-path") || fs.Changed("time-skew-threshold"):
		return errors.New("iperf3's RSA authentication is not supported: use --auth-key-file on both ends (see README)")
	case fs.Changed("flowlabel"):
		return errors.New("-L/--flowlabel is not supported: flowscope does not set IPv6 flow labels")
	case fs.Changed("file"):
		return errors.New("-F/--file is not supported: flowscope sends generated data only")
	}
	cfg := &o.cfg
	var err error
	if c.blockcount != "" {
		if cfg.Blocks, err = units.ParseSize(c.blockcount); err != nil || cfg.Blocks <= 0 {
			return fmt.Errorf("invalid -k %q: want a positive number of blocks", c.blockcount)
		}
		cfg.Duration, cfg.Bytes = 0, 0
	}
	cfg.Title, cfg.ExtraData, cfg.GetServerOutput = c.title, c.extraData, c.getServerOutput
	cfg.ZeroCopy, cfg.NoDelay, cfg.DontFragment, cfg.RepeatingPayload = c.zerocopy, c.noDelay, c.dontFragment, c.repeating
	cfg.SkipRxCopy, cfg.NoGSO = c.skipRxCopy, c.noGSO
	cfg.BindDev = c.bindDev
	if c.cport != "" {
		if cfg.CPort, err = strconv.Atoi(c.cport); err != nil || cfg.CPort < 1 || cfg.CPort > 65535 {
			return fmt.Errorf("invalid --cport %q: want a port 1-65535", c.cport)
		}
	}
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
		d, err := parseDSCP(c.dscp)
		if err != nil {
			return err
		}
		cfg.TOS = d << 2
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
		cfg.StallTimeout, o.server.StallTimeout = d, d
		if d == 0 {
			o.server.StallTimeout = -1
		}
	}
	if c.idleTO != "" {
		s, err := parseSeconds("--idle-timeout", c.idleTO, true)
		if err != nil {
			return err
		}
		o.server.IdleTimeout = s
	}
	if c.serverRate != "" {
		rate, _, _ := strings.Cut(c.serverRate, "/") // the averaging window: flowscope checks every second
		if o.server.MaxBitrate, err = units.ParseRate(rate); err != nil {
			return fmt.Errorf("invalid --server-bitrate-limit %q: %w", c.serverRate, err)
		}
	}
	if c.affinity != "" {
		local, remote, hasRemote := strings.Cut(c.affinity, ",")
		if o.affinity, err = strconv.Atoi(local); err != nil || o.affinity < 0 {
			return fmt.Errorf("invalid -A %q: want n or n,m (CPU numbers)", c.affinity)
		}
		if hasRemote {
			if cfg.ServerAffinity, err = strconv.Atoi(remote); err != nil || cfg.ServerAffinity < 0 {
				return fmt.Errorf("invalid -A %q: want n or n,m (CPU numbers)", c.affinity)
			}
		}
	}
	if c.pacing != "" {
		o.notes = append(o.notes, "--pacing-timer has no effect: TCP streams are paced by the kernel (SO_MAX_PACING_RATE) and UDP datagrams each get their own send time")
	}
	o.out = outputOptions{logfile: c.logfile, timestamps: c.timestamps, pidfile: c.pidfile, daemon: c.daemon, debug: c.debug != "", title: c.title}
	if c.daemon && o.mode != modeServer {
		return errors.New("-D is a server option")
	}
	return nil
}

// parseDSCP reads a DSCP value as a number (0-63, any base) or a name.
func parseDSCP(s string) (int, error) {
	names := map[string]int{"EF": 46, "VA": 44, "LE": 1}
	for i := 0; i < 8; i++ {
		names["CS"+strconv.Itoa(i)] = i * 8
	}
	for c := 1; c <= 4; c++ {
		for d := 1; d <= 3; d++ {
			names[fmt.Sprintf("AF%d%d", c, d)] = c*8 + d*2
		}
	}
	if v, ok := names[strings.ToUpper(s)]; ok {
		return v, nil
	}
	v, err := strconv.ParseInt(s, 0, 32)
	if err != nil || v < 0 || v > 63 {
		return 0, fmt.Errorf("invalid --dscp %q: want 0-63 or a name such as EF or AF41", s)
	}
	return int(v), nil
}

package engine

import (
	"fmt"
	"runtime"
)

// What a client refuses before a test because this OS, or this build,
// cannot do it on its own side. A server asked for the same by its client
// leaves out what it cannot do, as iperf3 does where an option does not
// exist; the client decides, and it says so in one line.

// platformRefusal returns why a client on goos cannot run c, or nil;
// accel says the build has Linux's accelerations (see accel_portable.go).
func platformRefusal(c *Config, goos string, accel bool) error {
	linux := goos == "linux"
	windows := goos == "windows"
	tcp := !c.UDP()
	sends := !c.Reverse || c.Bidir
	receives := c.Reverse || c.Bidir
	var what, why string
	switch {
	case c.ZeroCopy && tcp && sends && !accel:
		what, why = "-Z", "page-cache payload file"
	case c.SkipRxCopy && tcp && receives && !accel:
		what, why = "--skip-rx-copy", "MSG_TRUNC"
	case c.Congestion != "" && tcp && !linux:
		what, why = "-C", "TCP_CONGESTION"
	case c.FQRate > 0 && !linux:
		what, why = "--fq-rate", "SO_MAX_PACING_RATE"
	case c.BindDev != "" && !linux:
		what, why = "--bind-dev", "SO_BINDTODEVICE"
	case c.SndTimeout > 0 && !linux:
		what, why = "--snd-timeout", "TCP_USER_TIMEOUT"
	case c.DontFragment && !linux:
		what, why = "--dont-fragment", "IP_MTU_DISCOVER"
	case c.MSS > 0 && tcp && windows:
		what, why = "-M", "TCP_MAXSEG as a socket option"
	case c.TOS > 0 && windows:
		what, why = "-S/--dscp", "IP_TOS as a socket option"
	default:
		return nil
	}
	where := "on " + goos
	if linux {
		where = "in this build (-tags flowscope_portable)"
	}
	return fmt.Errorf("%s is not supported %s: it needs Linux's %s", what, where, why)
}

// checkPlatform is platformRefusal for this program's OS and build.
func (c *Config) checkPlatform() error { return platformRefusal(c, runtime.GOOS, accelerated) }

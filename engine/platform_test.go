package engine

import (
	"strings"
	"testing"
	"time"
)

// Each OS refuses, in one line, what it cannot do on the client's own
// side, and nothing else.
func TestPlatformRefusal(t *testing.T) {
	base := DefaultConfig()
	base.Host = "127.0.0.1"
	with := func(f func(c *Config)) *Config { c := base; f(&c); return &c }
	cases := []struct {
		name  string
		c     *Config
		goos  string
		accel bool
		want  string // "" = accepted
	}{
		{"plain test on Windows", &base, "windows", false, ""},
		{"-Z on Linux", with(func(c *Config) { c.ZeroCopy = true }), "linux", true, ""},
		{"-Z on macOS", with(func(c *Config) { c.ZeroCopy = true }), "darwin", false, "-Z is not supported on darwin: it needs Linux's page-cache payload file"},
		{"-Z -R on macOS: the server sends", with(func(c *Config) { c.ZeroCopy, c.Reverse = true, true }), "darwin", false, ""},
		{"-Z on a portable Linux build", with(func(c *Config) { c.ZeroCopy = true }), "linux", false, "-Z is not supported in this build (-tags flowscope_portable)"},
		{"--skip-rx-copy -R on FreeBSD", with(func(c *Config) { c.SkipRxCopy, c.Reverse = true, true }), "freebsd", false, "--skip-rx-copy is not supported on freebsd: it needs Linux's MSG_TRUNC"},
		{"--skip-rx-copy forward on FreeBSD: the server receives", with(func(c *Config) { c.SkipRxCopy = true }), "freebsd", false, ""},
		{"-C on macOS", with(func(c *Config) { c.Congestion = "cubic" }), "darwin", false, "-C is not supported on darwin"},
		{"-C on a portable Linux build", with(func(c *Config) { c.Congestion = "cubic" }), "linux", false, ""},
		{"--fq-rate on Windows", with(func(c *Config) { c.FQRate = 1e9 }), "windows", false, "--fq-rate is not supported on windows"},
		{"--bind-dev on FreeBSD", with(func(c *Config) { c.BindDev = "em0" }), "freebsd", false, "--bind-dev"},
		{"--snd-timeout on macOS", with(func(c *Config) { c.SndTimeout = time.Second }), "darwin", false, "--snd-timeout"},
		{"--dont-fragment on macOS", with(func(c *Config) { c.DontFragment = true; c.Protocol = ProtoUDP }), "darwin", false, "--dont-fragment"},
		{"-M on macOS", with(func(c *Config) { c.MSS = 1200 }), "darwin", false, ""},
		{"-M on Windows", with(func(c *Config) { c.MSS = 1200 }), "windows", false, "-M is not supported on windows"},
		{"-S on FreeBSD", with(func(c *Config) { c.TOS = 0x10 }), "freebsd", false, ""},
		{"-S on Windows", with(func(c *Config) { c.TOS = 0x10 }), "windows", false, "-S/--dscp"},
	}
	for _, tc := range cases {
		err := platformRefusal(tc.c, tc.goos, tc.accel)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("%s: %v, want %q…", tc.name, err, tc.want)
		case err != nil && strings.Contains(err.Error(), "\n"):
			t.Errorf("%s: more than one line: %q", tc.name, err)
		}
	}
}

// Config.Validate applies this build's refusals.
func TestValidateRefusesWhatThisBuildCannotDo(t *testing.T) {
	c := DefaultConfig()
	c.Host = "127.0.0.1"
	c.ZeroCopy = true
	err := c.Validate()
	if accelerated && err != nil {
		t.Errorf("-Z refused with Linux's accelerations: %v", err)
	}
	if !accelerated && (err == nil || !strings.HasPrefix(err.Error(), "-Z is not supported")) {
		t.Errorf("-Z in a portable build: %v", err)
	}
}

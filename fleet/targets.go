package fleet

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// MaxTargets bounds the servers of one run.
const MaxTargets = 4096

// Target is one server of a multi-server run.
type Target struct {
	Host string
	Port int // 0: the run's default port (-p)
}

// Addr is the target as host:port, port filling in a missing one.
func (t Target) Addr(port int) string {
	if t.Port != 0 {
		port = t.Port
	}
	return net.JoinHostPort(t.Host, strconv.Itoa(port))
}

// Check refuses more than MaxTargets servers and a server listed twice
// (port is the default port).
func Check(targets []Target, port int) error {
	if len(targets) > MaxTargets {
		return fmt.Errorf("%d servers given, at most %d per run", len(targets), MaxTargets)
	}
	seen := map[string]bool{}
	for _, t := range targets {
		key := t.Addr(port)
		if seen[key] {
			return fmt.Errorf("server %s is listed twice", key)
		}
		seen[key] = true
	}
	return nil
}

// ReadFile reads one HOST[:PORT] per line (--targets); blank lines and
// text after # are skipped.
func ReadFile(path string) ([]Target, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read --targets: %w", err)
	}
	defer f.Close()
	var entries []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" {
			continue
		}
		if strings.ContainsAny(line, " \t,") {
			return nil, fmt.Errorf("--targets %s line %d: %q: one HOST[:PORT] per line", path, n, line)
		}
		if len(entries) >= MaxTargets {
			return nil, fmt.Errorf("--targets %s: more than %d servers", path, MaxTargets)
		}
		entries = append(entries, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read --targets %s: %w", path, err)
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("--targets %s lists no server", path)
	}
	return Parse(entries, "--targets")
}

// Parse parses HOST, HOST:PORT, [V6ADDR]:PORT or a bare IPv6 address for
// each entry; flag names the option they came from, for errors.
func Parse(entries []string, flag string) ([]Target, error) {
	out := make([]Target, 0, len(entries))
	for _, e := range entries {
		e = strings.TrimSpace(e)
		t, err := parseTarget(e)
		if err != nil {
			return nil, fmt.Errorf("invalid %s server %q: %w", flag, e, err)
		}
		out = append(out, t)
	}
	return out, nil
}

func parseTarget(s string) (Target, error) {
	switch {
	case s == "":
		return Target{}, errors.New("empty server name")
	case strings.Contains(s, "%"):
		return Target{}, errors.New("HOST%DEV is for one server: use --bind-dev DEV")
	case strings.Count(s, ":") > 1 && !strings.HasPrefix(s, "["):
		if net.ParseIP(s) == nil {
			return Target{}, errors.New("not an IPv6 address (write [ADDR]:PORT for a port)")
		}
		return Target{Host: s}, nil
	case strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]"):
		h := s[1 : len(s)-1]
		if net.ParseIP(h) == nil {
			return Target{}, errors.New("not an IPv6 address")
		}
		return Target{Host: h}, nil
	case strings.Contains(s, ":"):
		h, p, err := net.SplitHostPort(s)
		if err != nil {
			return Target{}, errors.New("want HOST or HOST:PORT")
		}
		port, err := strconv.Atoi(p)
		if err != nil || port < 1 || port > 65535 {
			return Target{}, fmt.Errorf("port %q out of range 1-65535", p)
		}
		if h == "" {
			return Target{}, errors.New("empty host")
		}
		return Target{Host: h, Port: port}, nil
	}
	return Target{Host: s}, nil
}

// Targets are the servers of the command line: -c HOST,HOST… (client) and
// the --targets file (file, "" for none), HOST of a plain -c counting as
// one more beside a file. It returns nil for one server named by -c alone:
// a plain client. port is the default port, for finding a server listed
// twice.
func Targets(client, file string, port int) ([]Target, error) {
	var targets []Target
	var err error
	if strings.Contains(client, ",") || (file != "" && client != "") {
		if targets, err = Parse(strings.Split(client, ","), "-c"); err != nil {
			return nil, err
		}
	}
	if file != "" {
		ts, err := ReadFile(file)
		if err != nil {
			return nil, err
		}
		targets = append(targets, ts...)
	}
	if targets == nil {
		return nil, nil
	}
	return targets, Check(targets, port)
}

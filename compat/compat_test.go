package compat

import (
	"strings"
	"testing"
	"time"
)

// TestParseCntlKA: --cntl-ka's IDLE/INTERVAL/COUNT as iperf3 3.21 reads
// it (each part optional: the system's value), with its refusal of an
// idle time no longer than the probes' retry period.
func TestParseCntlKA(t *testing.T) {
	const sys = -1
	for _, c := range []struct {
		in                    string
		idle, interval, count int // seconds, seconds, probes; sys: the system's
	}{
		{"//", sys, sys, sys},
		{"", sys, sys, sys},
		{"20", 20, sys, sys},
		{"20/5", 20, 5, sys},
		{"20/5/3", 20, 5, 3},
		{"/5/3", sys, 5, 3},
		{"//7", sys, sys, 7},
		{"16/5/3", 16, 5, 3},
		{"10/5", 10, 5, sys}, // no count given: nothing to compare with
	} {
		ka, err := parseCntlKA(c.in)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		secs := func(d time.Duration) int {
			if d < 0 {
				return sys
			}
			return int(d / time.Second)
		}
		count := ka.Count
		if count < 0 {
			count = sys
		}
		if !ka.Enable || secs(ka.Idle) != c.idle || secs(ka.Interval) != c.interval || count != c.count {
			t.Errorf("%q: got %+v, want idle %d interval %d count %d", c.in, *ka, c.idle, c.interval, c.count)
		}
	}
	for in, want := range map[string]string{
		"5/5/2":   "larger than the full retry period",
		"15/5/3":  "larger than the full retry period",
		"x":       "whole number",
		"0/1/1":   "whole number",
		"-3":      "whole number",
		"1/2/3/4": "IDLE/INTERVAL/COUNT",
		"40000":   "whole number",
	} {
		if _, err := parseCntlKA(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want it to say %q", in, err, want)
		}
	}
}

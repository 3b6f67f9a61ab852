// Package cputime reads the CPU time this process has used, on every OS
// flowscope runs on (getrusage on Unix, GetProcessTimes on Windows).
package cputime

import "time"

// Self returns the user and system CPU time of this process so far.
func Self() (user, system time.Duration, err error) { return self() }

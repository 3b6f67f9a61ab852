//go:build !unix && !windows

package cputime

import (
	"errors"
	"time"
)

func self() (user, system time.Duration, err error) {
	return 0, 0, errors.New("process CPU time: not supported on this OS")
}

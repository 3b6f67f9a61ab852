package cputime

import (
	"fmt"
	"time"

	"golang.org/x/sys/windows"
)

func self() (user, system time.Duration, err error) {
	var created, exited, kernel, usr windows.Filetime
	if err := windows.GetProcessTimes(windows.CurrentProcess(), &created, &exited, &kernel, &usr); err != nil {
		return 0, 0, fmt.Errorf("GetProcessTimes: %w", err)
	}
	return ticks(usr), ticks(kernel), nil
}

// ticks converts a FILETIME duration (100 ns units) to a time.Duration.
func ticks(ft windows.Filetime) time.Duration {
	return time.Duration(uint64(ft.HighDateTime)<<32|uint64(ft.LowDateTime)) * 100
}

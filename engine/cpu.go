package engine

import (
	"syscall"
	"time"
)

// cpuClock measures this process's CPU use between two points.
type cpuClock struct {
	wall       time.Time
	user, syst time.Duration
}

func readCPU() cpuClock {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return cpuClock{
		wall: time.Now(),
		user: time.Duration(ru.Utime.Nano()),
		syst: time.Duration(ru.Stime.Nano()),
	}
}

// since returns the CPU percentages from c to now.
func (c cpuClock) since() CPU {
	now := readCPU()
	wall := now.wall.Sub(c.wall).Seconds()
	if wall <= 0 {
		return CPU{}
	}
	u := (now.user - c.user).Seconds() / wall * 100
	s := (now.syst - c.syst).Seconds() / wall * 100
	return CPU{Total: u + s, User: u, System: s}
}

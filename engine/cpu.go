package engine

import (
	"time"

	"github.com/flowscope/flowscope/cputime"
)

// cpuClock measures this process's CPU use between two points.
type cpuClock struct {
	wall       time.Time
	user, syst time.Duration
}

func readCPU() cpuClock {
	user, syst, _ := cputime.Self()
	return cpuClock{wall: time.Now(), user: user, syst: syst}
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

package engine

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// pinProcess restricts every thread of this process to one CPU, which is
// how iperf3's -A maps onto goroutines: they run on the process's threads,
// so pinning the threads pins every flow. It returns a function that
// restores the previous CPU set.
func pinProcess(cpu int) (func(), error) {
	if cpu < 0 || cpu >= 1024 {
		return nil, fmt.Errorf("CPU %d out of range", cpu)
	}
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return nil, fmt.Errorf("sched_getaffinity: %w", err)
	}
	set.Set(cpu)
	apply := func(s *unix.CPUSet) error {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return fmt.Errorf("list threads: %w", err)
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if err := unix.SchedSetaffinity(tid, s); err != nil {
				return fmt.Errorf("sched_setaffinity(CPU %d): %w", cpu, err)
			}
		}
		return nil
	}
	if err := apply(&set); err != nil {
		_ = apply(&old)
		return nil, err
	}
	return func() { _ = apply(&old) }, nil
}

// PinProcess pins this process to one CPU (the client side of -A n).
func PinProcess(cpu int) error {
	_, err := pinProcess(cpu)
	return err
}

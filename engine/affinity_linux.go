package engine

import (
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// pinProcess restricts every thread of this process to one CPU, which is
// how iperf3's -A maps onto goroutines: they run on the process's threads,
// so pinning the threads pins every flow. It returns a function that
// restores the previous CPU set. A client uses it (PinProcess); a server
// pins only a test's own flows (pinThread).
func pinProcess(cpu int) (func(), error) {
	if err := checkCPU(cpu); err != nil {
		return nil, err
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

// checkCPU reports whether this process may run on cpu.
func checkCPU(cpu int) error {
	if cpu < 0 || cpu >= 1024 {
		return fmt.Errorf("CPU %d out of range", cpu)
	}
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return fmt.Errorf("sched_getaffinity: %w", err)
	}
	if !set.IsSet(cpu) {
		return fmt.Errorf("CPU %d is not among the CPUs this process may use", cpu)
	}
	return nil
}

// pinThread locks the calling goroutine to its OS thread and pins that
// thread to cpu; the returned func restores the thread's CPUs and unlocks
// it, so the pinning never reaches another goroutine. (New threads are
// never cloned from a locked one: the runtime starts them from its
// template thread.)
func pinThread(cpu int) (unpin func()) {
	runtime.LockOSThread()
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return runtime.UnlockOSThread
	}
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return runtime.UnlockOSThread
	}
	return func() {
		if unix.SchedSetaffinity(0, &old) != nil {
			return // stay locked: the thread ends with the goroutine
		}
		runtime.UnlockOSThread()
	}
}

// PinProcess pins this process to one CPU (the client side of -A n).
func PinProcess(cpu int) error {
	_, err := pinProcess(cpu)
	return err
}

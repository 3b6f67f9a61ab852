package engine

import (
	"strconv"
	"time"

	"github.com/flowscope/flowscope/diagnose"
)

// stallWatch notices when no stream of a test has moved a byte for a
// while. Progress is bytes read for receivers, and bytes written or
// delivered (TCP_INFO bytes_acked) for senders, so a slow paced sender
// still counts as moving.
type stallWatch struct {
	flows      flowSet
	bytes      []uint64
	acked      []uint64
	lastChange time.Time
}

func newStallWatch(flows flowSet, now time.Time) *stallWatch {
	return &stallWatch{flows: flows, bytes: make([]uint64, len(flows)), acked: make([]uint64, len(flows)), lastChange: now}
}

// check returns how long no stream has moved.
func (w *stallWatch) check(now time.Time) time.Duration {
	moved := false
	for i, f := range w.flows {
		b := f.bytes.Load()
		if b != w.bytes[i] {
			w.bytes[i] = b
			moved = true
			continue
		}
		if f.dir == Send {
			if ti, err := f.readTCPInfo(); err == nil && ti.BytesAcked != w.acked[i] {
				w.acked[i] = ti.BytesAcked
				moved = true
			}
		}
	}
	if moved {
		w.lastChange = now
	}
	return now.Sub(w.lastChange)
}

// reason diagnoses the first stream that can be read.
func (w *stallWatch) reason() string {
	for _, f := range w.flows {
		if ti, err := f.readTCPInfo(); err == nil {
			return "stream " + strconv.Itoa(f.id) + ": " + diagnose.StallReason(ti, f.dir == Send, false, 0)
		}
	}
	return "no stream could be read"
}

// watchPeriod is how often the stall watch looks, for a timeout: often
// enough that a test ends close to its timeout, not a whole period late.
func watchPeriod(timeout time.Duration) time.Duration {
	return min(max(timeout/10, 50*time.Millisecond), 500*time.Millisecond)
}

// stalledLongEnough reports whether d, measured at checks period apart,
// reaches timeout: the stall began somewhere in the period before it was
// first seen, so half a period is given back.
func stalledLongEnough(d, timeout, period time.Duration) bool {
	return d+period/2 >= timeout
}

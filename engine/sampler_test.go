package engine

import (
	"math"
	"runtime"
	"slices"
	"testing"
	"time"
)

// TestFinalSampleAfterLateTick: a tick that falls just before the end of
// a test (a late end, on a loaded machine), while a sender is still
// writing its last block, must not cost that block: the final sample is
// taken even when it comes less than a millisecond after the tick, so the
// stream's total is every byte its counter saw, and the intervals add up
// to it. (The "receiver counted one 128 KiB block more than the sender"
// of TestSkipRxCopyNegotiated.)
func TestFinalSampleAfterLateTick(t *testing.T) {
	_, conn := tcpPair(t)
	f := loopFlow(t, Send, conn, false)
	fs := flowSet{f}
	var samples []*Sample
	s := newSampler(SideClient, fs, TestParams{Interval: time.Hour, Duration: 300 * time.Millisecond}, math.MaxInt64, func(ev Event) {
		if smp, ok := ev.(*Sample); ok {
			samples = append(samples, smp)
		}
	})
	s.readTCP = false // no TCP_INFO: the counters are the test's own
	t0 := time.Now().Add(-time.Second)
	// Each tick ends at its time.
	s.clock = func() time.Time { return time.Time{} }
	s.begin(t0) // the loop waits an hour for its first tick: the test ticks by hand

	const block = 128 << 10
	f.bytes.Add(10 * block)
	tick := t0.Add(400 * time.Millisecond)
	s.mu.Lock()
	s.sampleLocked(tick, false, false)
	s.mu.Unlock()
	f.bytes.Add(block) // the sender's last write completes after the tick
	s.finish(tick.Add(500 * time.Microsecond))

	res := localResults(fs, s.measuredSeconds())
	if got, want := res[0].Bytes, f.bytes.Load(); got != want {
		t.Errorf("stream total %d bytes, the sender's counter %d (%d missing)", got, want, int64(want)-int64(got))
	}
	var sum uint64
	for _, smp := range samples {
		sum += smp.Sent.Bytes
	}
	if sum != f.bytes.Load() {
		t.Errorf("intervals add up to %d bytes, the sender's counter %d", sum, f.bytes.Load())
	}

	// Nothing moved after the tick: no sliver of an interval follows it.
	s2 := newSampler(SideClient, fs, TestParams{Interval: time.Hour}, math.MaxInt64, nil)
	s2.readTCP = false
	s2.clock = s.clock
	s2.begin(t0)
	s2.mu.Lock()
	s2.sampleLocked(tick, false, false)
	s2.mu.Unlock()
	if final := s2.finish(tick.Add(500 * time.Microsecond)); final != nil {
		t.Errorf("a final sample %v-%v with nothing moved after the tick", final.Start, final.End)
	}
}

// TestFinalSampleBeforeLastTick: on a starved machine the test's end can
// be taken, then a tick can run before the ticks are stopped. The final
// interval must not run backwards (an interval 8.9–4.4 s was seen at 1,000
// flows under load), and the intervals still add up to the totals.
func TestFinalSampleBeforeLastTick(t *testing.T) {
	_, conn := tcpPair(t)
	f := loopFlow(t, Send, conn, false)
	fs := flowSet{f}
	var samples []*Sample
	s := newSampler(SideClient, fs, TestParams{Interval: time.Hour, Duration: 3 * time.Second}, math.MaxInt64, func(ev Event) {
		if smp, ok := ev.(*Sample); ok {
			samples = append(samples, smp)
		}
	})
	s.readTCP = false
	t0 := time.Now().Add(-10 * time.Second)
	s.clock = func() time.Time { return time.Time{} }
	s.begin(t0)
	f.bytes.Add(1 << 20)
	ended := t0.Add(4 * time.Second) // the test's end, taken first
	s.mu.Lock()
	s.sampleLocked(t0.Add(8*time.Second), false, false) // a late tick after it
	s.mu.Unlock()
	f.bytes.Add(1 << 10)
	s.clock = func() time.Time { return t0.Add(8500 * time.Millisecond) } // the final sample's own time
	s.finish(ended)
	var sum uint64
	for _, smp := range samples {
		if smp.End < smp.Start {
			t.Errorf("interval %v–%v runs backwards", smp.Start, smp.End)
		}
		if smp.End == smp.Start && smp.Sent.Bytes > 0 {
			t.Errorf("interval %v–%v lasts 0 s with %d bytes", smp.Start, smp.End, smp.Sent.Bytes)
		}
		sum += smp.Sent.Bytes
	}
	if sum != f.bytes.Load() {
		t.Errorf("intervals add up to %d bytes, the sender's counter %d", sum, f.bytes.Load())
	}
	if got := s.measuredSeconds(); got < 8 {
		t.Errorf("measured %.2f s, before the last tick at 8 s", got)
	}
}

// slowInfo is a TCP stream whose per-flow readings (TCP_INFO) take cost of
// the sampler's time, while every flow keeps counting meanwhile: the
// second pass of a tick at thousands of flows on a starved CPU.
type slowInfo struct {
	tcpStream
	cost  time.Duration
	clock *countingClock
}

func (io slowInfo) counters(s *sampler, i int, f *flow, ss *StreamSample, moved bool) bool {
	io.clock.advance(io.cost)
	return io.tcpStream.counters(s, i, f, ss, moved)
}

// countingClock is a fake clock whose flows count one byte per nanosecond
// since t0: each flow's counter is always the bytes of the time it was
// read at.
type countingClock struct {
	t0    time.Time
	now   time.Time
	flows flowSet
}

func (c *countingClock) advance(d time.Duration) {
	c.now = c.now.Add(d)
	for _, f := range c.flows {
		f.bytes.Add(uint64(d))
	}
}

// TestIntervalBytesAtSnapshotTime: under CPU starvation a tick's per-flow
// work takes long while the flows keep counting. Each interval's bytes are
// those counted by the time the interval ends, so every stream's rate is
// its real rate (here 8 Gbit/s, one byte a nanosecond) in every interval,
// however long the tick's work takes and however late the tick fires.
// (The "3.398–4.007 s = 142.6 Gbit/s" of -P 1000 on a loaded machine.)
func TestIntervalBytesAtSnapshotTime(t *testing.T) {
	const flows = 4
	clock := &countingClock{t0: time.Now()}
	clock.now = clock.t0
	fs := make(flowSet, flows)
	for i := range fs {
		fs[i] = &flow{idx: i, id: StreamID(i), dir: Send, done: make(chan struct{}),
			io: slowInfo{cost: 300 * time.Millisecond, clock: clock}}
	}
	clock.flows = fs
	var samples []*Sample
	s := newSampler(SideClient, fs, TestParams{Interval: time.Second}, math.MaxInt64, func(ev Event) {
		if smp, ok := ev.(*Sample); ok {
			samples = append(samples, smp)
		}
	})
	s.clock = func() time.Time { return clock.now }
	s.t0, s.measured = clock.t0, clock.t0

	tick := func(due time.Duration) {
		s.mu.Lock()
		s.sampleLocked(clock.t0.Add(due), false, false)
		s.mu.Unlock()
	}
	clock.advance(time.Second)
	tick(time.Second) // on time; its work takes 1.2 s
	tick(2 * time.Second)
	clock.advance(500 * time.Millisecond) // the next tick fires late
	tick(3 * time.Second)

	wantEnds := []time.Duration{1 * time.Second, 2200 * time.Millisecond, 3900 * time.Millisecond}
	if len(samples) != len(wantEnds) {
		t.Fatalf("%d samples, want %d", len(samples), len(wantEnds))
	}
	for n, smp := range samples {
		if smp.End != wantEnds[n] {
			t.Errorf("interval %d ends at %v, want %v (when its counters were read)", n, smp.End, wantEnds[n])
		}
		length := smp.End - smp.Start
		for _, ss := range smp.Streams {
			if ss.Bytes != uint64(length) || ss.Total != uint64(smp.End) {
				t.Errorf("interval %d (%v-%v), stream %d: %d bytes (total %d), want %d (total %d): bytes counted after the interval's end are in it",
					n, smp.Start, smp.End, ss.ID, ss.Bytes, ss.Total, uint64(length), uint64(smp.End))
			}
		}
		if gbps := float64(smp.Sent.Bytes) * 8 / length.Seconds() / 1e9; gbps != 8*flows {
			t.Errorf("interval %d (%v-%v): %.1f Gbit/s, the flows move %d", n, smp.Start, smp.End, gbps, 8*flows)
		}
	}
}

// TestTickAfterExpectedEnd: the tick at the expected end is left to the
// final sample, but when the test overruns (a peer that stops reading, a
// starved end) a tick follows a quarter interval later, so no interval is
// twice as long as the others.
func TestTickAfterExpectedEnd(t *testing.T) {
	s := newSampler(SideClient, nil, TestParams{Interval: time.Second, Duration: 3 * time.Second}, math.MaxInt64, nil)
	s.t0 = time.Now()
	s.measured = s.t0
	var got []time.Duration
	for range 5 {
		at, _ := s.nextTick()
		got = append(got, at.Sub(s.t0))
		s.prevEnd = at.Sub(s.t0) // the tick was taken on time
	}
	want := []time.Duration{time.Second, 2 * time.Second, 3250 * time.Millisecond, 4 * time.Second, 5 * time.Second}
	if !slices.Equal(got, want) {
		t.Errorf("ticks at %v, want %v", got, want)
	}
}

// haltDuring is a TCP stream whose first flow's reading is followed by the
// test's end (halt), as when TEST_END time comes while a starved sampler
// is half-way through a tick.
type haltDuring struct {
	tcpStream
}

func (io haltDuring) counters(s *sampler, i int, f *flow, ss *StreamSample, moved bool) bool {
	moved = io.tcpStream.counters(s, i, f, ss, moved)
	if i == 0 {
		// halt waits for the ticking goroutine, which waits for the lock
		// this tick holds: it runs on, and the tick goes on once it cut.
		go s.halt()
		for !s.cut.Load() {
			runtime.Gosched()
		}
	}
	return moved
}

// TestHaltCutsTheTickShort: the test's end does not wait for the tick being
// taken to read every flow's TCP_INFO: the flows not read yet are skipped
// in that interval, and the final sample reads them all.
func TestHaltCutsTheTickShort(t *testing.T) {
	var fs flowSet
	for range 3 {
		_, conn := tcpPair(t)
		f := loopFlow(t, Send, conn, false)
		f.io = haltDuring{}
		fs = append(fs, f)
	}
	s := newSampler(SideClient, fs, TestParams{Interval: time.Hour}, math.MaxInt64, nil)
	t0 := time.Now()
	s.begin(t0)
	s.mu.Lock()
	smp := s.sampleLocked(t0.Add(time.Millisecond), false, false)
	s.mu.Unlock()
	if got := []bool{smp.Streams[0].TCP.Valid, smp.Streams[1].TCP.Valid, smp.Streams[2].TCP.Valid}; !slices.Equal(got, []bool{true, false, false}) {
		t.Errorf("TCP_INFO read in the cut tick: %v, want the first flow only (read before the end)", got)
	}
	final := s.finish(t0.Add(2 * time.Millisecond))
	for i, ss := range final.Streams {
		if !ss.TCP.Valid {
			t.Errorf("final sample: stream %d has no TCP_INFO", i)
		}
	}
}

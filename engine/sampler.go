package engine

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowscope/flowscope/diagnose"
)

// sampler reads every flow's counters on ticks aligned to the test start
// and emits one Sample per interval. It is the only reader of the flows'
// counters besides the final results.
type sampler struct {
	side     Side
	flows    flowSet
	interval time.Duration
	omit     time.Duration
	expected time.Duration // expected measured length, 0 if unknown
	stallWin time.Duration
	emit     func(Event)
	readTCP  bool
	clock    func() time.Time // the time a tick's counters were read at
	mu       sync.Mutex
	t0       time.Time     // test start (TEST_RUNNING)
	measured time.Time     // start of the measured part (after omit)
	prevEnd  time.Duration // end of the previous interval, from phase start
	inOmit   bool
	seq      int
	test     uint64                // the server's test number, copied into samples
	listener func() *ListenerStats // the server's listener reading, or nil
	tick     int64                 // index of the last scheduled tick in this phase
	final    *Sample
	stop     chan struct{}
	stopped  chan struct{}
	stopOnce sync.Once
	// cut is set by halt: the test ended, and the tick being taken, if
	// any, skips the TCP_INFO reads it has not made yet. Each read is a
	// system call after which a starved sampler waits behind every
	// runnable flow, so at 1,000 flows on a loaded machine one tick can
	// take tens of seconds, and the end of the test must not wait for it.
	cut        atomic.Bool
	finalized  bool
	finalizing bool // the final sample is being taken

	// diagnosis
	findings     *findingLog
	peers        *peerTable // the peer's view of each stream (client of a flowscope server), or nil
	window       int64
	stalledKey   [2]string // the stalled set last reported, by Dir
	rwndReported bool

	// diagnose's scratch space, kept from tick to tick so that a tick
	// allocates nothing per flow
	stalled [2][]diagnose.StalledStream // by Dir
	keyBuf  []byte
	shares  []diagnose.RwndShare
	// udpScratch holds the UDP counters of the sample being taken
	udpScratch []UDPStats
}

func newSampler(side Side, flows flowSet, p TestParams, stallWin time.Duration, emit func(Event)) *sampler {
	if stallWin <= 0 {
		stallWin = time.Second
	}
	return &sampler{
		side:     side,
		flows:    flows,
		interval: p.Interval,
		omit:     p.Omit,
		expected: p.Duration,
		stallWin: stallWin,
		emit:     emit,
		readTCP:  true,
		clock:    time.Now,
		stop:     make(chan struct{}),
		stopped:  make(chan struct{}),
		findings: newFindingLog(side.Origin()),
		window:   int64(p.Window),
	}
}

// begin marks the test start and starts the ticking goroutine.
func (s *sampler) begin(t0 time.Time) {
	s.t0 = t0
	s.measured = t0
	s.inOmit = s.omit > 0
	if s.inOmit {
		s.measured = t0.Add(s.omit)
	}
	go s.loop()
}

// phaseStart is the time intervals are currently measured from.
func (s *sampler) phaseStart() time.Time {
	if s.inOmit {
		return s.t0
	}
	return s.measured
}

// nextTick returns the next tick time and whether it ends the omit period.
func (s *sampler) nextTick() (time.Time, bool) {
	base := s.phaseStart()
	// After a late tick, skip the ticks already past rather than firing
	// them in a burst of tiny intervals.
	k := max(s.tick+1, int64(s.prevEnd/s.interval)+1)
	d := time.Duration(k) * s.interval
	if s.inOmit && d >= s.omit {
		return s.t0.Add(s.omit), true
	}
	s.tick = k
	// The tick nearest the expected end is left to the final sample, so
	// the last interval has its real length and no sliver follows. It is
	// taken a quarter interval late instead, which a test ending on time
	// never sees: a test that overruns gets no interval twice as long as
	// the others.
	if !s.inOmit && s.expected > 0 && d > s.expected-s.interval/4 && d < s.expected+s.interval/4 {
		d = s.expected + s.interval/4
	}
	return base.Add(d), false
}

func (s *sampler) loop() {
	defer close(s.stopped)
	if s.interval <= 0 && !s.inOmit {
		<-s.stop
		return
	}
	for {
		s.mu.Lock()
		var at time.Time
		var endsOmit bool
		if s.interval <= 0 {
			at, endsOmit = s.t0.Add(s.omit), true
		} else {
			at, endsOmit = s.nextTick()
		}
		s.mu.Unlock()
		t := time.NewTimer(time.Until(at))
		select {
		case <-s.stop:
			t.Stop()
			return
		case <-t.C:
			s.mu.Lock()
			if s.interval > 0 || endsOmit {
				s.sampleLocked(at, endsOmit, false)
			}
			s.mu.Unlock()
			if s.interval <= 0 {
				<-s.stop
				return
			}
		}
	}
}

// halt stops the interval ticks: the test ended at this moment, and the
// final sample (finish) will end there however long the senders and
// receivers take to stop.
func (s *sampler) halt() {
	s.cut.Store(true)
	s.stopOnce.Do(func() { close(s.stop) })
	<-s.stopped
}

// finish stops the ticks and takes the final sample at now; flows must be
// stopped (or their final counts otherwise settled) before.
func (s *sampler) finish(now time.Time) *Sample {
	s.stopOnce.Do(func() { close(s.stop) })
	<-s.stopped
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finalized {
		return s.final
	}
	s.finalized = true
	s.finalizing = true
	if s.inOmit {
		// Ended during the omit period: nothing was measured.
		s.sampleLocked(now, true, true)
		s.prevEnd = 0
		return nil
	}
	// The test's end was taken before the ticks stopped; on a machine
	// short of CPU a tick can fall between the two. The final interval
	// then ends now (what moved after the tick, a last block, is counted
	// over the time it took): intervals never run backwards, nor last 0 s.
	if last := s.phaseStart().Add(s.prevEnd); now.Before(last) {
		now = last
		if t := s.clock(); t.After(now) {
			now = t
		}
	}
	s.final = s.sampleLocked(now, false, true)
	return s.final
}

// cutShort reports whether the sample being taken is an interval's that
// the test's end overtook: it reads no more TCP_INFO.
func (s *sampler) cutShort() bool { return s.cut.Load() && !s.finalizing }

// measuredSeconds is the length of the measured part so far.
func (s *sampler) measuredSeconds() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.prevEnd.Seconds()
}

// sampleLocked reads every flow and emits one Sample. A tick's interval
// ends when its counters were read (s.clock, and no earlier than at, the
// time the tick was due); the final sample's ends at at, the flows being
// stopped.
//
// Bytes belong to the time they were counted in: every flow's counters are
// read in one cheap first pass and the interval ends when that pass does;
// the costly per-flow work (TCP_INFO, diagnosis), which at thousands of
// flows on a starved CPU takes long while the flows keep counting, comes
// after, and what the flows count meanwhile goes to the next interval.
func (s *sampler) sampleLocked(at time.Time, endsOmit, final bool) *Sample {
	s.snapshotLocked()
	now := at
	if !final {
		// The timer's own value may lie a little before at.
		if t := s.clock(); t.After(now) {
			now = t
		}
	}
	end := now.Sub(s.phaseStart())
	if final && !s.inOmit && end-s.prevEnd < time.Millisecond && s.seq > 0 && !s.movedSinceLast() {
		// Nothing left to report: the previous interval already ended here.
		// When something moved since (a tick that fell just before the end,
		// while a sender finished its last block), the bytes are reported
		// in a short last interval rather than lost from the totals.
		return nil
	}
	smp := &Sample{
		Side:    s.side,
		Test:    s.test,
		Seq:     s.seq,
		Start:   s.prevEnd,
		End:     end,
		Omitted: s.inOmit,
		Streams: make([]StreamSample, len(s.flows)),
	}
	s.seq++
	var moving [2]int // running streams by Dir
	s.udpScratch = nil
	peers := s.peers.snapshot()
	for i, f := range s.flows {
		ss := &smp.Streams[i]
		s.readFlow(i, f, ss, end)
		if peers != nil {
			ss.Peer = peers[f.id]
		}
		if ss.State == StateRunning {
			moving[f.dir]++
		}
		sum := &smp.Sent
		if f.dir == Recv {
			sum = &smp.Received
		}
		sum.Streams++
		sum.Bytes += ss.Bytes
		sum.Acked += ss.Acked
		if ss.TCP.Valid {
			sum.HasTCP = true
			sum.Retransmits += ss.TCP.Retransmits
		}
		if u := ss.UDP; u != nil {
			if sum.UDP == nil {
				sum.UDP = &UDPStats{}
			}
			sum.UDP.Packets += u.Packets
			sum.UDP.Lost += u.Lost
			sum.UDP.OutOfOrder += u.OutOfOrder
			sum.UDP.Duplicates += u.Duplicates
			sum.UDP.SendErrors += u.SendErrors
			sum.UDP.Malformed += u.Malformed
			sum.UDP.Jitter += u.Jitter // the mean is taken below
			sum.UDP.Behind = max(sum.UDP.Behind, u.Behind)
		}
	}
	for _, sum := range []*Sum{&smp.Sent, &smp.Received} {
		if sum.UDP != nil && sum.Streams > 0 {
			sum.UDP.Jitter /= float64(sum.Streams)
		}
	}
	s.findings.advance(end)
	s.diagnose(smp, moving, final)
	smp.Findings = s.findings.take()
	if s.listener != nil {
		smp.Listener = s.listener()
	}
	if s.emit != nil {
		s.emit(smp)
	}
	s.prevEnd = end
	if endsOmit && s.inOmit {
		s.inOmit = false
		s.prevEnd = 0
		s.tick = 0
		for _, f := range s.flows {
			f.s.base = f.s.last
			f.s.baseAcked = f.s.lastAcked
			f.s.baseRetr = f.s.lastRetr
			f.s.baseReord = f.s.lastReord
			f.s.maxCwnd, f.s.maxSndWnd, f.s.minRTT, f.s.maxRTT, f.s.rttSum, f.s.rttN = 0, 0, 0, 0, 0, 0
			f.s.lastMove = 0
			f.s.baseRwnd, f.s.baseBusy = f.s.ti.RwndLimited, f.s.ti.BusyTime
			f.s.udpBase = f.s.udpLast
		}
	}
	return smp
}

// snapshotLocked reads every flow's byte and datagram counters into its
// snap and udpSnap, the readings of the sample being taken.
func (s *sampler) snapshotLocked() {
	for _, f := range s.flows {
		f.s.snap = f.bytes.Load()
		if f.udp != nil {
			f.s.udpSnap = f.udp.snapshot()
		}
	}
}

// movedSinceLast reports whether any flow's byte or datagram counters
// changed between the last sample and this one's snapshot.
func (s *sampler) movedSinceLast() bool {
	for _, f := range s.flows {
		st := &f.s
		if st.snap != st.last {
			return true
		}
		if f.udp != nil && (st.udpSnap.Packets != st.udpLast.Packets || st.udpSnap.Lost != st.udpLast.Lost) {
			return true
		}
	}
	return false
}

// readFlow fills ss, the i-th stream of a sample, from f's snapshot and
// its transport's counters (TCP_INFO for TCP senders, datagram counts for
// UDP).
func (s *sampler) readFlow(i int, f *flow, ss *StreamSample, end time.Duration) {
	st := &f.s
	cur := st.snap
	ss.ID, ss.Dir = f.id, f.dir
	ss.Bytes = cur - st.last
	st.last = cur
	ss.Total = cur - st.base
	moved := ss.Bytes > 0
	moved = f.io.counters(s, i, f, ss, moved)
	if moved || st.lastMove == 0 && end < s.stallWin {
		st.lastMove = end
	}
	select {
	case <-f.done:
		if f.err != nil {
			ss.State = StateFailed
			ss.Err = f.err.Error()
		} else {
			ss.State = StateClosed
		}
	default:
		if s.finalizing {
			// The test is over: a receiver still draining is done too.
			ss.State = StateClosed
			break
		}
		ss.State = StateRunning
		if !moved && end-st.lastMove >= s.stallWin {
			ss.State = StateStalled
			ss.StalledFor = end - st.lastMove
		}
	}
}

// diagnose turns this sample's readings into findings: why stalled streams
// are stalled, streams limited by the receiver's window, and swapped bidir
// roles against a stock server. moving counts the running streams of each
// direction: a stall is put down to a shared bottleneck only when streams
// of its own direction still move.
func (s *sampler) diagnose(smp *Sample, moving [2]int, final bool) {
	stalled := [2][]diagnose.StalledStream{s.stalled[Send][:0], s.stalled[Recv][:0]}
	for i, f := range s.flows {
		ss := &smp.Streams[i]
		if ss.State != StateStalled {
			continue
		}
		ss.Reason = f.io.stallReason(f, moving[f.dir] > 0, ss.StalledFor)
		if p := ss.Peer; p != nil && p.Reason != "" && f.dir == Recv && strings.HasPrefix(ss.Reason, "no data") {
			// The sender's kernel knows why nothing arrives; this side
			// only knows that nothing does.
			ss.Reason = p.Reason
		}
		stalled[f.dir] = append(stalled[f.dir], diagnose.StalledStream{ID: f.id, For: ss.StalledFor, Reason: ss.Reason})
	}
	s.stalled = stalled
	if !final {
		// In the final sample every stream is closed: a stall still
		// holding then is left without an end, as it was.
		s.reportStalled(Send, smp.Sent.Streams)
		s.reportStalled(Recv, smp.Received.Streams)
	}

	if !s.rwndReported && (final || smp.Seq%4 == 3) && !smp.Omitted {
		shares := s.shares[:0]
		for _, f := range s.flows {
			st := &f.s
			if f.dir != Send || !st.hasTCP {
				continue
			}
			shares = append(shares, diagnose.RwndShare{
				ID:          f.id,
				RwndLimited: time.Duration(st.ti.RwndLimited-min(st.ti.RwndLimited, st.baseRwnd)) * time.Microsecond,
				Busy:        time.Duration(st.ti.BusyTime-min(st.ti.BusyTime, st.baseBusy)) * time.Microsecond,
			})
		}
		s.shares = shares
		if fd := diagnose.RwndLimited(shares, s.window); fd != nil {
			s.rwndReported = true
			s.findings.add(fd)
		}
	}
}

// reportStalled reports the stalled streams of direction d (s.stalled[d]),
// total streams in all, when that set changed since the last report.
func (s *sampler) reportStalled(d Dir, total int) {
	key := s.keyBuf[:0]
	for _, st := range s.stalled[d] {
		key = strconv.AppendInt(key, int64(st.ID), 10)
		key = append(key, ',')
	}
	s.keyBuf = key
	if string(key) == s.stalledKey[d] {
		return
	}
	s.stalledKey[d] = string(key)
	dir := s.direction(d)
	s.findings.hold(diagnose.KindStalled, dir, diagnose.Stalled(s.stalled[d], total, dir))
}

// direction maps a local direction to the client's point of view.
func (s *sampler) direction(d Dir) diagnose.Direction {
	if (d == Send) == (s.side == SideClient) {
		return diagnose.DirUp
	}
	return diagnose.DirDown
}

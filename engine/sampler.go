package engine

import (
	"strconv"
	"sync"
	"time"

	"github.com/flowscope/flowscope/diagnose"
)

// sampler reads every flow's counters on ticks aligned to the test start
// and emits one Sample per interval. It is the only reader of the flows'
// counters besides the final results.
type sampler struct {
	side       Side
	flows      flowSet
	interval   time.Duration
	omit       time.Duration
	expected   time.Duration // expected measured length, 0 if unknown
	stallWin   time.Duration
	emit       func(Event)
	readTCP    bool
	mu         sync.Mutex
	t0         time.Time     // test start (TEST_RUNNING)
	measured   time.Time     // start of the measured part (after omit)
	prevEnd    time.Duration // end of the previous interval, from phase start
	inOmit     bool
	seq        int
	test       uint64                // the server's test number, copied into samples
	listener   func() *ListenerStats // the server's listener reading, or nil
	tick       int64                 // index of the last scheduled tick in this phase
	final      *Sample
	stop       chan struct{}
	stopped    chan struct{}
	stopOnce   sync.Once
	finalized  bool
	finalizing bool // the final sample is being taken

	// diagnosis
	findings     *findingLog
	window       int64
	roleCheck    bool   // client vs a stock server in bidir: watch for swapped roles
	stalledKey   string // the stalled set last reported
	rwndReported bool
	roleReported int // swapped streams already reported

	// diagnose's scratch space, kept from tick to tick so that a tick
	// allocates nothing per flow
	stalled []diagnose.StalledStream
	keyBuf  []byte
	shares  []diagnose.RwndShare
	ids     []int
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
		stop:     make(chan struct{}),
		stopped:  make(chan struct{}),
		findings: newFindingLog(),
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
	for {
		d := time.Duration(k) * s.interval
		if s.inOmit {
			if d >= s.omit {
				return s.t0.Add(s.omit), true
			}
			s.tick = k
			return base.Add(d), false
		}
		// The tick nearest the expected end is left to the final sample,
		// so the last interval has its real length and no sliver follows.
		if s.expected > 0 && d > s.expected-s.interval/4 && d < s.expected+s.interval/4 {
			k++
			continue
		}
		s.tick = k
		return base.Add(d), false
	}
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
			// The timer's own value may lie a little before at; intervals
			// use the real time they were read at.
			now := time.Now()
			if now.Before(at) {
				now = at
			}
			s.mu.Lock()
			if s.interval > 0 || endsOmit {
				s.sampleLocked(now, endsOmit, false)
			}
			s.mu.Unlock()
			if s.interval <= 0 {
				<-s.stop
				return
			}
		}
	}
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
	s.final = s.sampleLocked(now, false, true)
	return s.final
}

// measuredSeconds is the length of the measured part so far.
func (s *sampler) measuredSeconds() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.prevEnd.Seconds()
}

// sampleLocked reads every flow and emits one Sample ending at now.
func (s *sampler) sampleLocked(now time.Time, endsOmit, final bool) *Sample {
	end := now.Sub(s.phaseStart())
	if final && !s.inOmit && end-s.prevEnd < time.Millisecond && s.seq > 0 {
		// Nothing left to report: the previous interval already ended here.
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
	moving := 0
	var udp []UDPStats // every UDP stream's counters: one allocation, not one each
	for i, f := range s.flows {
		ss := &smp.Streams[i]
		if f.udp != nil {
			if udp == nil {
				udp = make([]UDPStats, len(s.flows))
			}
			ss.UDP = &udp[i]
		}
		s.readFlow(f, ss, end)
		if ss.State == StateRunning {
			moving++
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
			f.s.maxCwnd, f.s.maxSndWnd, f.s.minRTT, f.s.maxRTT, f.s.rttSum, f.s.rttN = 0, 0, 0, 0, 0, 0
			f.s.lastMove = 0
			f.s.baseRwnd, f.s.baseBusy = f.s.ti.RwndLimited, f.s.ti.BusyTime
			f.s.udpBase = f.s.udpLast
		}
	}
	return smp
}

// readFlow fills ss from f's counters and, for senders, TCP_INFO; for a
// UDP flow, ss.UDP points where its counters go.
func (s *sampler) readFlow(f *flow, ss *StreamSample, end time.Duration) {
	st := &f.s
	cur := f.bytes.Load()
	ss.ID, ss.Dir = f.id, f.dir
	ss.Bytes = cur - st.last
	st.last = cur
	ss.Total = cur - st.base
	moved := ss.Bytes > 0
	if f.udp != nil {
		cur := f.udp.snapshot()
		d := cur
		d.Packets -= st.udpLast.Packets
		d.Lost -= st.udpLast.Lost
		d.OutOfOrder -= st.udpLast.OutOfOrder
		d.Duplicates -= st.udpLast.Duplicates
		d.SendErrors -= st.udpLast.SendErrors
		d.Malformed -= st.udpLast.Malformed
		st.udpLast = cur
		*ss.UDP = d
	}
	st.tiValid = false
	if f.dir == Send && s.readTCP {
		if ti, err := f.readTCPInfo(); err == nil {
			st.ti, st.tiValid = ti, true
			if !st.hasTCP {
				st.baseRwnd, st.baseBusy = ti.RwndLimited, ti.BusyTime
			}
			acked := ti.BytesAcked
			if acked > f.preamble+1 {
				acked -= f.preamble + 1 // SYN and our preamble
			} else {
				acked = 0
			}
			if st.hasTCP {
				ss.Acked = acked - min(acked, st.lastAcked)
			} else {
				ss.Acked = acked
				st.baseRetr = uint64(ti.TotalRetrans)
				st.lastRetr = uint64(ti.TotalRetrans)
			}
			st.lastAcked = acked
			st.hasTCP = true
			retr := uint64(ti.TotalRetrans)
			ss.TCP = TCPStats{
				Valid:       true,
				Retransmits: retr - min(retr, st.lastRetr),
				SndCwnd:     uint64(ti.SndCwnd) * uint64(ti.SndMSS),
				SndWnd:      uint64(ti.SndWnd),
				RTT:         ti.RTT,
				RTTVar:      ti.RTTVar,
				PMTU:        ti.PMTU,
				BytesAcked:  acked,
			}
			st.lastRetr = retr
			st.maxCwnd = max(st.maxCwnd, ss.TCP.SndCwnd)
			st.maxSndWnd = max(st.maxSndWnd, ss.TCP.SndWnd)
			if ti.RTT > 0 {
				if st.minRTT == 0 || ti.RTT < st.minRTT {
					st.minRTT = ti.RTT
				}
				st.maxRTT = max(st.maxRTT, ti.RTT)
				st.rttSum += uint64(ti.RTT)
				st.rttN++
			}
			moved = ss.Acked > 0
		}
	}
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
// roles against a stock server.
func (s *sampler) diagnose(smp *Sample, moving int, final bool) {
	stalled := s.stalled[:0]
	for i, f := range s.flows {
		ss := &smp.Streams[i]
		if ss.State != StateStalled {
			continue
		}
		st := &f.s
		if f.udp != nil {
			ss.Reason = "no datagrams arriving: the sender stopped or every datagram was lost"
			stalled = append(stalled, diagnose.StalledStream{ID: f.id, For: ss.StalledFor, Reason: ss.Reason})
			continue
		}
		if !st.tiValid {
			if ti, err := f.readTCPInfo(); err == nil {
				st.ti, st.tiValid = ti, true
			}
		}
		if st.tiValid {
			ss.Reason = diagnose.StallReason(st.ti, f.dir == Send, moving > 0)
		} else {
			ss.Reason = "no TCP_INFO"
		}
		stalled = append(stalled, diagnose.StalledStream{ID: f.id, For: ss.StalledFor, Reason: ss.Reason})
	}
	s.stalled = stalled
	key := s.keyBuf[:0]
	for _, st := range stalled {
		key = strconv.AppendInt(key, int64(st.ID), 10)
		key = append(key, ',')
	}
	s.keyBuf = key
	if string(key) != s.stalledKey {
		s.stalledKey = string(key)
		s.findings.add(diagnose.Stalled(stalled, len(s.flows)))
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

	if s.roleCheck {
		ids := s.ids[:0]
		for _, f := range s.flows {
			if f.dir == Send && f.s.tiValid && f.s.ti.BytesRecv > 0 {
				ids = append(ids, f.id)
			}
		}
		s.ids = ids
		if len(ids) > s.roleReported {
			s.roleReported = len(ids)
			s.findings.add(diagnose.RoleMismatch(ids))
		}
	}
}

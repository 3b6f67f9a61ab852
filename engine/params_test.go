package engine

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/flowscope/flowscope/wire"
)

// TestParamsCrossTheWire sets each field of Params in turn and sends it
// through the parameter document: the server must read back exactly what
// the client asked for. A new field without a case here fails the test, so
// every option is threaded both ways.
func TestParamsCrossTheWire(t *testing.T) {
	t.Parallel()
	cases := map[string]func(p *Params){
		"Protocol":         func(p *Params) { p.Protocol = ProtoUDP; p.BlockSize = 1400 },
		"Parallel":         func(p *Params) { p.Parallel = 7 },
		"Duration":         func(p *Params) { p.Duration = 42 * time.Second },
		"Bytes":            func(p *Params) { p.Duration, p.Bytes = 0, 5<<20 },
		"Blocks":           func(p *Params) { p.Duration, p.Blocks = 0, 99 },
		"Omit":             func(p *Params) { p.Omit = 3 * time.Second },
		"Reverse":          func(p *Params) { p.Reverse = true },
		"Bidir":            func(p *Params) { p.Bidir = true },
		"BlockSize":        func(p *Params) { p.BlockSize = 4096 },
		"Rate":             func(p *Params) { p.Rate = 123_456_789 },
		"ReverseRate":      func(p *Params) { p.Bidir, p.ReverseRate = true, 20_000_000 },
		"Burst":            func(p *Params) { p.Burst = 10 },
		"FQRate":           func(p *Params) { p.FQRate = 1_000_000 },
		"Window":           func(p *Params) { p.Window = 1 << 20 },
		"Congestion":       func(p *Params) { p.Congestion = "reno" },
		"Counters64":       func(p *Params) { p.Protocol, p.BlockSize, p.Counters64 = ProtoUDP, 1400, true },
		"MSS":              func(p *Params) { p.MSS = 1000 },
		"NoDelay":          func(p *Params) { p.NoDelay = true },
		"TOS":              func(p *Params) { p.TOS = 0x28 },
		"DontFragment":     func(p *Params) { p.DontFragment = true },
		"ZeroCopy":         func(p *Params) { p.ZeroCopy = true },
		"SkipRxCopy":       func(p *Params) { p.SkipRxCopy = true },
		"NoGSO":            func(p *Params) { p.Protocol, p.BlockSize, p.NoGSO = ProtoUDP, 1400, true },
		"RepeatingPayload": func(p *Params) { p.RepeatingPayload = true },
		"Title":            func(p *Params) { p.Title = "a \"title\"" },
		"ExtraData":        func(p *Params) { p.ExtraData = "x=1" },
		"GetServerOutput":  func(p *Params) { p.GetServerOutput = true },
		"ServerAffinity":   func(p *Params) { p.ServerAffinity = 1 },
		"MPTCP":            func(p *Params) { p.MPTCP = true },
		"Interval":         nil, // local: each side reports at its own interval
	}
	typ := reflect.TypeOf(Params{})
	for i := range typ.NumField() {
		name := typ.Field(i).Name
		set, ok := cases[name]
		if !ok {
			t.Errorf("Params.%s has no case here: does it cross the wire?", name)
			continue
		}
		if set == nil {
			continue
		}
		want := DefaultConfig().Params
		want.Interval = 0
		set(&want)
		if err := want.validate(Limits{}); err != nil {
			t.Fatalf("%s: the test's own parameters are invalid: %v", name, err)
		}
		w, err := wire.UnmarshalParams(want.toWire(nil).Marshal())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := paramsFromWire(w)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: sent %+v\nread %+v", name, want, got)
		}
	}
}

// TestParamsFromStockClients: what a stock client may send is read as
// iperf3 runs it, and what no test can be is refused with a cause.
func TestParamsFromStockClients(t *testing.T) {
	t.Parallel()
	p, err := paramsFromWire(&wire.Params{TCP: true, Parallel: 1, Len: 1000, Time: 1, Reverse: true, Bidirectional: true})
	if err != nil || p.Reverse || !p.Bidir {
		t.Errorf("-R --bidir from a stock client: %+v, %v; want bidir", p, err)
	}
	p, err = paramsFromWire(&wire.Params{UDP: true, Parallel: 1, Len: 1000, Time: 1, ZeroCopy: true})
	if err != nil || p.ZeroCopy || p.validate(Limits{}) != nil {
		t.Errorf("-u -Z from a stock client: %+v, %v; want -Z ignored", p, err)
	}
	if _, err := paramsFromWire(&wire.Params{Parallel: 1, Len: 1000, Time: 1}); CauseOf(err) != CauseInvalid || refusalCode(err, 0) != wire.ErrNoSCTP {
		t.Errorf("sctp: %v, want invalid with iperf3's \"no SCTP support\"", err)
	}
	for name, w := range map[string]*wire.Params{
		"no length":     {TCP: true, Parallel: 1, Time: 1},
		"negative rate": {TCP: true, Parallel: 1, Len: 1000, Time: 1, Bandwidth: -1},
		"huge time":     {TCP: true, Parallel: 1, Len: 1000, Time: 1 << 40},
		"huge window":   {TCP: true, Parallel: 1, Len: 1000, Time: 1, Window: 1 << 40},
	} {
		if _, err := paramsFromWire(w); CauseOf(err) != CauseInvalid || refusalCode(err, 0) != wire.ErrFlowscopeParam {
			t.Errorf("%s: %v (cause %v), want invalid", name, err, CauseOf(err))
		}
	}
}

func TestParamsValidate(t *testing.T) {
	t.Parallel()
	bad := map[string]func(p *Params){
		"parallel":       func(p *Params) { p.Parallel = 0 },
		"negative burst": func(p *Params) { p.Burst = -1 },
		"huge burst":     func(p *Params) { p.Protocol, p.BlockSize, p.Burst = ProtoUDP, 1400, MaxBurst+1 },
		"UDP -Z":         func(p *Params) { p.Protocol, p.BlockSize, p.ZeroCopy = ProtoUDP, 1400, true },
		"tiny datagram":  func(p *Params) { p.Protocol, p.BlockSize = ProtoUDP, 8 },
		"long omit":      func(p *Params) { p.Omit = time.Hour },
		"long test":      func(p *Params) { p.Duration = 48 * time.Hour },
		"TOS":            func(p *Params) { p.TOS = 256 },
		"protocol":       func(p *Params) { p.Protocol = "SCTP" },
	}
	for name, set := range bad {
		p := DefaultConfig().Params
		set(&p)
		if err := p.validate(Limits{}); CauseOf(err) != CauseInvalid {
			t.Errorf("%s: %v (cause %v), want invalid", name, err, CauseOf(err))
		}
	}
}

// TestLimitsCannotWrap: a rate so large that rate × streams wraps 64 bits
// is still above the server's limit (it was accepted as 4 bit/s once).
func TestLimitsCannotWrap(t *testing.T) {
	t.Parallel()
	p := DefaultConfig().Params
	p.Rate, p.Parallel, p.Reverse = 4611686018427387905, 4, true
	err := p.validate(Limits{MaxBitrate: 100_000_000})
	if CauseOf(err) != CauseRejected || refusalCode(err, 0) != wire.ErrTotalRate || !strings.Contains(err.Error(), "--max-bitrate") {
		t.Errorf("%v (cause %v), want refused by --max-bitrate", err, CauseOf(err))
	}
	p.Bidir, p.Reverse, p.ReverseRate = true, false, 1<<63
	p.Rate = 1
	if err := p.validate(Limits{MaxBitrate: 100_000_000}); CauseOf(err) != CauseRejected {
		t.Errorf("huge reverse rate: %v, want refused", err)
	}
}

func TestCauseOf(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err  error
		want Cause
	}{
		{&wire.PeerError{Code: wire.ErrAuth}, CauseAuth},
		{&wire.PeerError{Code: wire.ErrMaxDuration}, CauseRejected},
		{ErrServerBusy, CauseBusy},
		{describeCtlErr(errors.New("x: EOF")), CauseOther},
		{describeCtlErr(errShuttingDown), CauseShutdown},
		{streamErr(3, "read", errors.New("boom")), CauseOther},
		{withCause(CauseStream, streamErr(3, "read", errors.New("boom"))), CauseStream},
	}
	for _, c := range cases {
		if got := CauseOf(c.err); got != c.want {
			t.Errorf("CauseOf(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	var se *StreamError
	if err := withCause(CauseStream, streamErr(3, "read", errors.New("boom"))); !errors.As(err, &se) || se.Stream != 3 || err.Error() != "stream 3: read: boom" {
		t.Errorf("stream error: %v", err)
	}
}

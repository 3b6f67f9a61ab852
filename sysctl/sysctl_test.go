package sysctl

import "testing"

const netstatSample = `TcpExt: SyncookiesSent SyncookiesRecv ListenOverflows ListenDrops
TcpExt: 482 3843 4352 4352
IpExt: InNoRoutes InTruncatedPkts
IpExt: 0 0
`

const snmpSample = `Ip: Forwarding DefaultTTL
Ip: 1 64
Tcp: RtoAlgorithm RtoMin MaxConn AttemptFails OutRsts
Tcp: 1 200 -1 7 12
`

func TestParseCounters(t *testing.T) {
	c := Counters{}
	if err := ParseCounters([]byte(netstatSample), c); err != nil {
		t.Fatal(err)
	}
	if err := ParseCounters([]byte(snmpSample), c); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{
		"TcpExt.ListenOverflows": 4352, "TcpExt.SyncookiesRecv": 3843, "IpExt.InNoRoutes": 0,
		"Tcp.MaxConn": -1, "Tcp.AttemptFails": 7, "Tcp.OutRsts": 12, "Ip.DefaultTTL": 64,
	}
	for k, v := range want {
		if got, ok := c[k]; !ok || got != v {
			t.Errorf("%s = %d (%v), want %d", k, got, ok, v)
		}
	}
	bad := []string{
		"TcpExt: A B\nTcpExt: 1\n",   // fewer values than names
		"TcpExt: A B\nTcpExt: 1 x\n", // not a number
	}
	for _, b := range bad {
		if err := ParseCounters([]byte(b), Counters{}); err == nil {
			t.Errorf("%q: no error", b)
		}
	}
	// Lines that do not pair up are skipped, not errors.
	if err := ParseCounters([]byte("garbage\nTcpExt: A\nIpExt: 1\n"), Counters{}); err != nil {
		t.Errorf("unpaired lines: %v", err)
	}
}

func TestCountersSub(t *testing.T) {
	d := Counters{"a": 10, "b": 5, "c": 1}.Sub(Counters{"a": 4, "b": 5})
	if d["a"] != 6 || d["b"] != 0 {
		t.Errorf("%v", d)
	}
	if _, ok := d["c"]; ok {
		t.Error("a counter missing from the base must not appear in the delta")
	}
}

func TestParseInts(t *testing.T) {
	v, err := ParseInts("32768\t60999\n", 2)
	if err != nil || v[0] != 32768 || v[1] != 60999 {
		t.Errorf("%v %v", v, err)
	}
	for _, s := range []string{"1", "1 2 3", "a b", ""} {
		if _, err := ParseInts(s, 2); err == nil {
			t.Errorf("%q: no error", s)
		}
	}
}

func FuzzParseCounters(f *testing.F) {
	f.Add([]byte(netstatSample))
	f.Add([]byte(snmpSample))
	f.Add([]byte("X: a\nX: 99999999999999999999\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := Counters{}
		_ = ParseCounters(data, c)
		for k := range c {
			if k == "" {
				t.Fatal("empty counter name")
			}
		}
	})
}

package units

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr string // substring of the error; empty for success
	}{
		{"0", 0, ""},
		{"65536", 65536, ""},
		{"128K", 131072, ""},
		{"128k", 131072, ""},
		{"1M", 1 << 20, ""},
		{"1m", 1 << 20, ""},
		{"2G", 2 << 30, ""},
		{"2g", 2 << 30, ""},
		{"1T", 1 << 40, ""},
		{"1t", 1 << 40, ""},
		{"1.5M", 1572864, ""},
		{".5K", 512, ""},
		{"5.", 5, ""},
		{"1.1K", 1126, ""}, // 1126.4 truncated
		{" 64K ", 65536, ""},
		{"8388607T", 8388607 << 40, ""},
		{"9223372036854775807", math.MaxInt64, ""},
		{"", 0, "empty"},
		{"   ", 0, "empty"},
		{"-1", 0, "negative"},
		{"-1K", 0, "negative"},
		{"abc", 0, "unknown suffix"},
		{"10X", 0, "unknown suffix"},
		{"10KB", 0, "unknown suffix"},
		{"K", 0, "want a number"},
		{".", 0, "want a number"},
		{"1.2.3", 0, "want a number"},
		{"+5", 0, "want a number"},
		{"1e3", 0, "want a number"},
		{"0x10", 0, "want a number"},
		{"1 K", 0, "want a number"},
		{"10%", 0, "want a number"},
		{"NaN", 0, "unknown suffix"},
		{"1.5.K", 0, "want a number"},
		{"inf", 0, "unknown suffix"},
		{"8388608T", 0, "too large"},
		{"9223372036854775808", 0, "too large"},
		{"99999999999999999999999", 0, "too large"},
		{"8388607.99999999T", 9223372036854764812, ""},
		{"8388608.0T", 0, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseSize(%q) = %d, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
	if _, err := ParseSize(""); !errors.Is(err, ErrEmpty) {
		t.Errorf("ParseSize(\"\") error %v is not ErrEmpty", err)
	}
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		in      string
		want    uint64
		wantErr string
	}{
		{"0", 0, ""},
		{"1000", 1000, ""},
		{"1K", 1000, ""},
		{"1k", 1000, ""},
		{"1M", 1000000, ""}, // iperf3 sends "bandwidth":1000000 for -b 1M
		{"100m", 100000000, ""},
		{"2.5G", 2500000000, ""},
		{"1T", 1000000000000, ""},
		{"1.5", 1, ""},
		{"18446744073709551615", math.MaxUint64, ""},
		{"18446744073709T", 0, "too large"},
		{"18446744073709551616", 0, "too large"},
		{"18446744T", 18446744000000000000, ""},
		{"18446745T", 0, "too large"},
		{"10M/100", 0, "RATE/BURST"},
		{"/", 0, "RATE/BURST"},
		{"", 0, "empty"},
		{"-1M", 0, "negative"},
		{"fast", 0, "want a number"},
		{"slow", 0, "unknown suffix"},
		{"1Mbps", 0, "unknown suffix"},
		{"1..2", 0, "want a number"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRate(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseRate(%q) = %d, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseRate(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestFormatBytes(t *testing.T) {
	tests := []struct {
		n    float64
		unit byte
		want string
	}{
		// Values seen in real iperf3 3.12 reports.
		{0, 'a', "0.00 Bytes"},
		{0, 0, "0.00 Bytes"},
		{5 << 30, 'a', "5.00 GBytes"},
		{212 << 20, 'A', " 212 MBytes"},
		{1012 << 20, 'a', "1012 MBytes"},
		{1023 << 10, 'a', "1023 KBytes"},
		{1.12 * (1 << 20), 'a', "1.12 MBytes"},
		{640 << 10, 'a', " 640 KBytes"},
		{131072, 'a', " 128 KBytes"},
		{7.30 * (1 << 30), 'a', "7.30 GBytes"},
		{10 << 20, 'a', "10.0 MBytes"},
		{500, 'a', " 500 Bytes"},
		{3 << 40, 'a', "3.00 TBytes"},
		{5000 << 40, 'a', "5000 TBytes"},
		// Precision boundaries.
		{9.994, 'a', "9.99 Bytes"},
		{9.995, 'a', "10.0 Bytes"},
		{99.94, 'a', "99.9 Bytes"},
		{99.95, 'a', " 100 Bytes"},
		// Forced units, either case.
		{1 << 30, 'm', "1024 MBytes"},
		{1 << 30, 'M', "1024 MBytes"},
		{1 << 20, 'k', "1024 KBytes"},
		{1 << 20, 'G', "0.00 GBytes"},
		{1 << 40, 'T', "1.00 TBytes"},
		{1 << 40, 'g', "1024 GBytes"},
	}
	for _, tt := range tests {
		if got := FormatBytes(tt.n, tt.unit); got != tt.want {
			t.Errorf("FormatBytes(%v, %q) = %q, want %q", tt.n, tt.unit, got, tt.want)
		}
	}
}

func TestFormatRate(t *testing.T) {
	tests := []struct {
		bps  float64
		unit byte
		want string
	}{
		{0, 'a', "0.00 bits/sec"},
		{42.9e9, 'a', "42.9 Gbits/sec"},
		{42.9e9, 0, "42.9 Gbits/sec"},
		{9.37e9, 'a', "9.37 Gbits/sec"},
		{612e6, 'a', " 612 Mbits/sec"},
		{999e3, 'a', " 999 Kbits/sec"},
		{1000, 'a', "1.00 Kbits/sec"},
		{5, 'a', "5.00 bits/sec"},
		{2e12, 'a', "2.00 Tbits/sec"},
		// -f m and -f k as in iperf3 3.12's output.
		{17888e6, 'm', "17888 Mbits/sec"},
		{21560130e3, 'k', "21560130 Kbits/sec"},
		{1.5e9, 'g', "1.50 Gbits/sec"},
		{1.5e9, 't', "0.00 Tbits/sec"},
		// Bytes per second are binary: 128 KBytes in one second.
		{131072 * 8, 'M', "0.12 MBytes/sec"},
		{131072 * 8, 'K', " 128 KBytes/sec"},
		{8 << 30, 'G', "1.00 GBytes/sec"},
		{8 << 40, 'T', "1.00 TBytes/sec"},
		{8 << 30, 'A', "1.00 GBytes/sec"},
		{8000, 'A', "1000 Bytes/sec"},
	}
	for _, tt := range tests {
		if got := FormatRate(tt.bps, tt.unit); got != tt.want {
			t.Errorf("FormatRate(%v, %q) = %q, want %q", tt.bps, tt.unit, got, tt.want)
		}
	}
}

func TestFormatRateShort(t *testing.T) {
	tests := []struct {
		bps  float64
		want string
	}{
		{0, "0 bit/s"},
		{-5, "0 bit/s"},
		{math.NaN(), "0 bit/s"},
		{math.Inf(1), "∞ bit/s"},
		{7, "7 bit/s"},
		{999.4, "999 bit/s"},
		{999.6, "1.00 kbit/s"},
		{1500, "1.50 kbit/s"},
		{612e6, "612 Mbit/s"},
		{38.2e9, "38.2 Gbit/s"},
		{999.7e6, "1.00 Gbit/s"},
		{5.5e6, "5.50 Mbit/s"},
		{1.2e12, "1.20 Tbit/s"},
		{1.2e15, "1200 Tbit/s"},
	}
	for _, tt := range tests {
		if got := FormatRateShort(tt.bps); got != tt.want {
			t.Errorf("FormatRateShort(%v) = %q, want %q", tt.bps, got, tt.want)
		}
	}
}

func TestValidFormat(t *testing.T) {
	for _, c := range []byte("aAkmgtKMGT") {
		if !ValidFormat(c) {
			t.Errorf("ValidFormat(%q) = false, want true", c)
		}
	}
	for _, c := range []byte("bBxX0 /\x00") {
		if ValidFormat(c) {
			t.Errorf("ValidFormat(%q) = true, want false", c)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"128K", "1.5M", "", "-1", "9223372036854775807", "8388608T", "1e3", ".", "k"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseSize(s)
		if err != nil {
			if v != 0 || err.Error() == "" {
				t.Fatalf("ParseSize(%q) = %d, %v", s, v, err)
			}
			return
		}
		if v < 0 {
			t.Fatalf("ParseSize(%q) = %d: negative", s, v)
		}
		// A plain integer must round-trip exactly.
		if digits(s) && s != "" && v != mustAtoi(t, s) {
			t.Fatalf("ParseSize(%q) = %d", s, v)
		}
	})
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"1M", "2.5G", "10M/5", "", "-1", "18446744073709551615", "18446745T", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseRate(s)
		if err != nil {
			if v != 0 || err.Error() == "" {
				t.Fatalf("ParseRate(%q) = %d, %v", s, v, err)
			}
			return
		}
		if strings.Contains(s, "/") {
			t.Fatalf("ParseRate(%q) accepted a burst", s)
		}
		// K means 1000 for rates: "xK" is exactly 1000 times "x".
		if base, err := ParseRate(strings.TrimSpace(s) + "K"); err == nil && digits(strings.TrimSpace(s)) && base != v*1000 {
			t.Fatalf("ParseRate(%qK) = %d, want %d", s, base, v*1000)
		}
	})
}

func mustAtoi(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("ParseSize accepted %q, which does not fit in int64: %v", s, err)
	}
	return n
}

package ui

import (
	"github.com/flowscope/flowscope/axis"
	"math"
	"strconv"
	"time"

	"github.com/flowscope/flowscope/units"
)

// fmtRate formats a rate in bit/s compactly: "612 Mbit/s", "38.2 Gbit/s".
func fmtRate(bps float64) string { return units.FormatRateShort(bps) }

// sig3 formats v (>= 0) with three significant digits: "5.00", "42.9", "612".
func sig3(v float64) string {
	switch {
	case v < 9.995:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case v < 99.95:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
}

var byteUnits = [...]string{"B", "KB", "MB", "GB", "TB", "PB"}

// fmtBytes formats a byte count with binary units the way iperf3 counts
// them (1 KB = 1024 bytes): "0 B", "512 B", "1.50 KB", "4.96 GB".
func fmtBytes(n uint64) string {
	if n < 1024 {
		return strconv.FormatUint(n, 10) + " B"
	}
	v, p := float64(n), 0
	for v >= 1023.5 && p < len(byteUnits)-1 {
		v /= 1024
		p++
	}
	return sig3(v) + " " + byteUnits[p]
}

// fmtSize formats a buffer or window size tersely: "0", "900", "320K",
// "6.1M", "1.0G" (binary units).
func fmtSize(n uint64) string {
	if n < 1000 {
		return strconv.FormatUint(n, 10)
	}
	v, p := float64(n), 0
	for v >= 999.5 && p < 3 {
		v /= 1024
		p++
	}
	suffix := " KMG"[p : p+1]
	if v < 9.95 {
		return strconv.FormatFloat(v, 'f', 1, 64) + suffix
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + suffix
}

// fmtRTT formats a round-trip time given in microseconds: "42 µs",
// "1.25 ms", "120 ms", "1.50 s"; zero is shown as "—" (not measured).
func fmtRTT(us uint32) string {
	switch {
	case us == 0:
		return "—"
	case us < 1000:
		return strconv.FormatUint(uint64(us), 10) + " µs"
	case us < 1000_000:
		return sig3(float64(us)/1000) + " ms"
	default:
		return sig3(float64(us)/1e6) + " s"
	}
}

// fmtDur formats a duration for state tags and headers: "0.4s", "3s",
// "59s", "1m05s", "2h03m".
func fmtDur(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < 10*time.Second && d%time.Second != 0:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		m, s := int(d/time.Minute), int(d%time.Minute/time.Second)
		return strconv.Itoa(m) + "m" + pad2(s) + "s"
	default:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		return strconv.Itoa(h) + "h" + pad2(m) + "m"
	}
}

func pad2(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

// fmtSeconds formats an elapsed time in seconds with one decimal: "12.0".
func fmtSeconds(s float64) string {
	if s < 0 || math.IsNaN(s) {
		s = 0
	}
	return strconv.FormatFloat(s, 'f', 1, 64)
}

// The chart axes' units, ticks and labels (see package axis).
var (
	rateUnit       = axis.RateUnit
	fmtAxisRate    = axis.FormatRate
	fmtAxisSeconds = axis.FormatSeconds
	niceCeil       = axis.NiceCeil
	timeStep       = axis.TimeStep
	yTicks         = axis.Ticks
)

// fmtPercent formats a loss share: "0%", "0.012%", "1.5%", "100%".
func fmtPercent(p float64) string {
	switch {
	case !(p > 0):
		return "0%"
	case p < 0.01:
		return strconv.FormatFloat(p, 'f', 3, 64) + "%"
	case p < 10:
		return strconv.FormatFloat(p, 'f', 2, 64) + "%"
	}
	return strconv.FormatFloat(p, 'f', 1, 64) + "%"
}

// fmtJitter formats a jitter given in seconds: "—" for none, "0.031 ms",
// "4.20 ms", "1.20 s".
func fmtJitter(s float64) string {
	switch {
	case !(s > 0):
		return "0 ms"
	case s < 0.001:
		return strconv.FormatFloat(s*1000, 'f', 3, 64) + " ms"
	case s < 1:
		return sig3(s*1000) + " ms"
	}
	return sig3(s) + " s"
}

// fmtCount formats a count tersely: "950", "12.3k", "4.56M".
func fmtCount(n uint64) string {
	switch {
	case n < 10000:
		return strconv.FormatUint(n, 10)
	case n < 1e6:
		return sig3(float64(n)/1e3) + "k"
	}
	return sig3(float64(n)/1e6) + "M"
}

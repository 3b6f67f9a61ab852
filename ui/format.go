package ui

import (
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

// rateUnit picks the unit for an axis whose largest value is max (bit/s):
// the divisor and its name, so that every label on one axis shares a unit.
func rateUnit(max float64) (float64, string) {
	switch {
	case max >= 1e12:
		return 1e12, "Tbit/s"
	case max >= 1e9:
		return 1e9, "Gbit/s"
	case max >= 1e6:
		return 1e6, "Mbit/s"
	case max >= 1e3:
		return 1e3, "kbit/s"
	}
	return 1, "bit/s"
}

// fmtAxisRate formats one Y-axis label in the axis' unit: "0", "20 Gbit/s",
// "2.5 Gbit/s".
func fmtAxisRate(v, div float64, unit string) string {
	if v == 0 {
		return "0"
	}
	return strconv.FormatFloat(v/div, 'g', 3, 64) + " " + unit
}

// fmtAxisSeconds formats one X-axis label: "0s", "2.5s", "30s", "2m", "1m30s".
func fmtAxisSeconds(s float64) string {
	if s == 0 {
		s = 0 // not "-0s"
	}
	if s >= 60 && math.Mod(s, 60) == 0 {
		return strconv.Itoa(int(s/60)) + "m"
	}
	if s >= 60 {
		return strconv.Itoa(int(s)/60) + "m" + strconv.Itoa(int(s)%60) + "s"
	}
	return strconv.FormatFloat(s, 'f', -1, 64) + "s"
}

// niceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten, the top of a
// chart axis that reads well. Non-positive values give 1.
func niceCeil(v float64) float64 {
	if !(v > 0) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range [...]float64{1, 2, 2.5, 5, 10} {
		if c := m * p; c >= v*(1-1e-9) {
			return c
		}
	}
	return 10 * p
}

// timeStep picks the X tick step (seconds) for a time axis covering span
// seconds with room for about n labels.
func timeStep(span float64, n int) float64 {
	if !(span > 0) || n < 1 {
		return 1
	}
	raw := span / float64(n)
	for _, s := range [...]float64{0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600} {
		if s >= raw*(1-1e-9) {
			return s
		}
	}
	return math.Ceil(raw/3600) * 3600
}

// yTicks picks a rate axis for values up to v with at most n intervals:
// the smallest step of 1, 2, 2.5 or 5 times a power of ten that needs no
// more than n of them, and the axis top, a whole number of steps.
func yTicks(v float64, n int) (step, top float64) {
	if !(v > 0) || math.IsInf(v, 0) {
		v = 1
	}
	n = max(n, 1)
	p := math.Pow(10, math.Floor(math.Log10(v/float64(n))))
	for {
		for _, m := range [...]float64{1, 2, 2.5, 5} {
			step = m * p
			if k := math.Ceil(v/step - 1e-9); k <= float64(n) {
				return step, k * step
			}
		}
		p *= 10
	}
}

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

// Package axis picks chart axes that read well: a rate unit shared by every
// label, tick steps of 1, 2, 2.5 or 5 times a power of ten, time steps in
// seconds and minutes. The live view's charts and the HTML report share it.
package axis

import (
	"math"
	"strconv"
)

// RateUnit picks the unit for an axis whose largest value is max (bit/s):
// the divisor and its name, so that every label on one axis shares a unit.
func RateUnit(max float64) (float64, string) {
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

// FormatRate formats one Y-axis label in the axis' unit: "0", "20 Gbit/s",
// "2.5 Gbit/s".
func FormatRate(v, div float64, unit string) string {
	if v == 0 {
		return "0"
	}
	return strconv.FormatFloat(v/div, 'g', 3, 64) + " " + unit
}

// FormatSeconds formats one X-axis label: "0s", "2.5s", "30s", "2m", "1m30s".
func FormatSeconds(s float64) string {
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

// NiceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten, the top of a
// chart axis that reads well. Non-positive values give 1.
func NiceCeil(v float64) float64 {
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

// TimeStep picks the X tick step (seconds) for a time axis covering span
// seconds with room for about n labels.
func TimeStep(span float64, n int) float64 {
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

// Ticks picks a rate axis for values up to v with at most n intervals:
// the smallest step of 1, 2, 2.5 or 5 times a power of ten that needs no
// more than n of them, and the axis top, a whole number of steps.
func Ticks(v float64, n int) (step, top float64) {
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

// Package units parses and formats byte counts and bit rates the way iperf3
// does on its command line and in its reports.
//
// Sizes (-l, -w, -n) use binary multiples: K = 1024, M = 1024², G = 1024³,
// T = 1024⁴. Rates (-b) use decimal multiples: K = 1000, M = 10⁶, G = 10⁹,
// T = 10¹². In reports, byte counts are shown in binary units (KBytes =
// 1024 bytes) and bit rates in decimal units (Kbits/sec = 1000 bit/s).
package units

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// suffixes are the multiplier letters, in increasing power, accepted after a
// number (digits with at most one decimal point) by ParseSize and ParseRate.
const suffixes = "kmgt"

// ErrEmpty is returned (wrapped) for an empty size or rate.
var ErrEmpty = errors.New("empty value")

// parsed is a number split into its whole and fractional digits and the
// power of the suffix (0 none, 1 K, 2 M, 3 G, 4 T).
type parsed struct {
	whole, frac string
	power       int
}

func split(s, what string) (parsed, error) {
	var p parsed
	t := strings.TrimSpace(s)
	switch {
	case t == "":
		return p, fmt.Errorf("invalid %s %q: %w", what, s, ErrEmpty)
	case t[0] == '-':
		return p, fmt.Errorf("invalid %s %q: must not be negative", what, s)
	}
	if last := lower(t[len(t)-1]); 'a' <= last && last <= 'z' {
		i := strings.IndexByte(suffixes, last)
		if i < 0 {
			return p, fmt.Errorf("invalid %s %q: unknown suffix %q (use K, M, G or T)", what, s, t[len(t)-1:])
		}
		p.power = i + 1
		t = t[:len(t)-1]
	}
	whole, frac, _ := strings.Cut(t, ".")
	if whole == "" && frac == "" || !digits(whole) || !digits(frac) {
		return p, fmt.Errorf("invalid %s %q: want a number like 128, 1.5 or 10M", what, s)
	}
	p.whole, p.frac = whole, frac
	return p, nil
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// value computes p × base^power, truncating any fraction of a unit, and
// reports false on overflow of max.
func (p parsed) value(base uint64, max uint64) (uint64, bool) {
	mult := uint64(1)
	for i := 0; i < p.power; i++ {
		mult *= base
	}
	var whole uint64
	if p.whole != "" {
		w, err := strconv.ParseUint(p.whole, 10, 64)
		if err != nil {
			return 0, false
		}
		whole = w
	}
	hi, v := bits.Mul64(whole, mult)
	if hi != 0 || v > max {
		return 0, false
	}
	if strings.Trim(p.frac, "0") != "" {
		f, err := strconv.ParseFloat("0."+p.frac, 64)
		if err != nil {
			return 0, false
		}
		extra := math.Floor(f * float64(mult))
		if float64(max-v) < extra {
			return 0, false
		}
		v += uint64(extra)
	}
	return v, true
}

// ParseSize parses a byte count such as "128K", "1.5M", "2g" or "65536".
// Suffixes K, M, G and T (either case) are powers of 1024, as in iperf3's
// -l, -w and -n options; a fractional result is truncated to whole bytes.
// Negative, empty, malformed and out-of-range values are rejected.
func ParseSize(s string) (int64, error) {
	p, err := split(s, "size")
	if err != nil {
		return 0, err
	}
	v, ok := p.value(1024, math.MaxInt64)
	if !ok {
		return 0, fmt.Errorf("invalid size %q: too large (maximum %d bytes)", s, int64(math.MaxInt64))
	}
	return int64(v), nil
}

// ParseRate parses a bit rate in bit/s such as "100M", "2.5G" or "500000".
// Suffixes K, M, G and T (either case) are powers of 1000, as in iperf3's
// -b option. iperf3's "RATE/BURST" form is not supported and is rejected.
func ParseRate(s string) (uint64, error) {
	if strings.Contains(s, "/") {
		return 0, fmt.Errorf("invalid rate %q: the RATE/BURST form is not supported, give only a rate", s)
	}
	p, err := split(s, "rate")
	if err != nil {
		return 0, err
	}
	v, ok := p.value(1000, math.MaxUint64)
	if !ok {
		return 0, fmt.Errorf("invalid rate %q: too large (maximum %d bit/s)", s, uint64(math.MaxUint64))
	}
	return v, nil
}

// ValidFormat reports whether unit is a report format flowscope accepts for
// -f: 'a' (adaptive bits, the default), 'A' (adaptive bytes), k, m, g, t
// (Kbits … Tbits) or K, M, G, T (KBytes … TBytes).
func ValidFormat(unit byte) bool {
	return unit != 0 && strings.IndexByte("aAkmgtKMGT", unit) >= 0
}

var (
	byteUnits = [...]string{"Bytes", "KBytes", "MBytes", "GBytes", "TBytes"}
	bitUnits  = [...]string{"bits", "Kbits", "Mbits", "Gbits", "Tbits"}
)

// scale divides v by base until it is below base (adaptive) or exactly
// power times (forced), returning the scaled value and the power used.
func scale(v float64, base float64, power int) (float64, int) {
	if power >= 0 {
		return v / math.Pow(base, float64(power)), power
	}
	p := 0
	for math.Abs(v) >= base && p < len(byteUnits)-1 {
		v /= base
		p++
	}
	return v, p
}

// forcedPower maps k/K…t/T to 1…4 and anything else to -1 (adaptive).
func forcedPower(unit byte) int {
	i := strings.IndexByte(suffixes, lower(unit))
	if i < 0 {
		return -1
	}
	return i + 1
}

// number formats v with three significant digits the way iperf3 does, right
// aligned in four columns: "5.00", "42.9", " 612", "1023".
func number(v float64) string {
	a := math.Abs(v)
	switch {
	case a < 9.995:
		return fmt.Sprintf("%4.2f", v)
	case a < 99.95:
		return fmt.Sprintf("%4.1f", v)
	default:
		return fmt.Sprintf("%4.0f", v)
	}
}

// FormatBytes formats a byte count like iperf3's Transfer column, e.g.
// "5.00 GBytes", "1023 KBytes", " 212 MBytes", "0.00 Bytes". Units are
// binary (KBytes = 1024 bytes). unit 0, 'a' or 'A' picks the unit
// adaptively; k/K, m/M, g/G and t/T force KBytes … TBytes. The number is
// right-aligned in four columns as in iperf3's reports; trim it for other
// uses.
func FormatBytes(n float64, unit byte) string {
	v, p := scale(n, 1024, forcedPower(unit))
	return number(v) + " " + byteUnits[p]
}

// FormatRate formats a rate given in bit/s like iperf3's Bitrate column.
// unit follows iperf3's -f: 0 or 'a' is adaptive in decimal bits
// ("42.9 Gbits/sec"); 'A' is adaptive in binary bytes ("5.00 GBytes/sec");
// k, m, g, t force Kbits/sec … Tbits/sec (powers of 1000); K, M, G, T force
// KBytes/sec … TBytes/sec (powers of 1024). The number is right-aligned in
// four columns as in iperf3's reports.
func FormatRate(bitsPerSec float64, unit byte) string {
	power := forcedPower(unit)
	if unit == 'A' || ('A' <= unit && unit <= 'Z' && power > 0) {
		v, p := scale(bitsPerSec/8, 1024, power)
		return number(v) + " " + byteUnits[p] + "/sec"
	}
	v, p := scale(bitsPerSec, 1000, power)
	return number(v) + " " + bitUnits[p] + "/sec"
}

var shortUnits = [...]string{"bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"}

// FormatRateShort formats a rate in bit/s compactly for narrow displays,
// with three significant digits and decimal units: "0 bit/s", "612 Mbit/s",
// "38.2 Gbit/s", "1.00 Tbit/s". Values under 1 kbit/s are whole numbers.
// Negative, NaN and infinite rates are shown as "0 bit/s" or "∞ bit/s".
func FormatRateShort(bps float64) string {
	switch {
	case math.IsInf(bps, 1):
		return "∞ bit/s"
	case math.IsNaN(bps) || bps <= 0:
		return "0 bit/s"
	}
	p := 0
	for bps >= 1000 && p < len(shortUnits)-1 {
		bps /= 1000
		p++
	}
	var s string
	switch {
	case p == 0:
		s = strconv.FormatFloat(math.Round(bps), 'f', 0, 64)
		if s == "1000" { // 999.5 bit/s rounds up into the next unit
			return "1.00 kbit/s"
		}
	case bps < 9.995:
		s = strconv.FormatFloat(bps, 'f', 2, 64)
	case bps < 99.95:
		s = strconv.FormatFloat(bps, 'f', 1, 64)
	default:
		s = strconv.FormatFloat(bps, 'f', 0, 64)
		if s == "1000" && p < len(shortUnits)-1 {
			return "1.00 " + shortUnits[p+1]
		}
	}
	return s + " " + shortUnits[p]
}

// ParseSeconds parses a non-negative number of seconds, fractions allowed,
// at most a year; zero only when zeroOK.
func ParseSeconds(s string, zeroOK bool) (time.Duration, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	switch {
	case err != nil || math.IsNaN(v) || math.IsInf(v, 0):
		return 0, errors.New("not a number of seconds")
	case v < 0 || (!zeroOK && v == 0):
		return 0, errors.New("must be positive")
	case v > 86400*365:
		return 0, errors.New("too long")
	}
	return time.Duration(v * float64(time.Second)), nil
}

// ParseDSCP reads a DSCP value as a number (0-63, any base) or a name:
// EF, VA, LE, CS0…CS7, AF11…AF43.
func ParseDSCP(s string) (int, error) {
	names := map[string]int{"EF": 46, "VA": 44, "LE": 1}
	for i := 0; i < 8; i++ {
		names["CS"+strconv.Itoa(i)] = i * 8
	}
	for c := 1; c <= 4; c++ {
		for d := 1; d <= 3; d++ {
			names[fmt.Sprintf("AF%d%d", c, d)] = c*8 + d*2
		}
	}
	if v, ok := names[strings.ToUpper(s)]; ok {
		return v, nil
	}
	v, err := strconv.ParseInt(s, 0, 32)
	if err != nil || v < 0 || v > 63 {
		return 0, errors.New("want 0-63 or a name such as EF or AF41")
	}
	return int(v), nil
}

package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// cjsonPrint re-renders a JSON document the way iperf3's cJSON_Print (cJSON
// 1.7.15) formats it, as iperf3's client shows a server's JSON report in its
// text output: objects one key per line, indented with tabs, a tab after
// each colon; arrays on one line, elements separated by ", "; numbers in
// cJSON's style. Key order (and any repeated key) is kept.
func cjsonPrint(doc []byte) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var b strings.Builder
	if err := cjsonValue(&b, dec, 0); err != nil {
		return "", err
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", errors.New("cjson: trailing data after the document")
	}
	return b.String(), nil
}

// cjsonValue prints the next value of dec; depth is the nesting depth of
// the enclosing container (0 at the top).
func cjsonValue(b *strings.Builder, dec *json.Decoder, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '{':
			return cjsonObject(b, dec, depth+1)
		case '[':
			return cjsonArray(b, dec, depth+1)
		}
		return fmt.Errorf("cjson: unexpected %q", rune(v))
	case json.Number:
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return err
		}
		b.WriteString(cjsonNumber(f))
	case string:
		cjsonString(b, v)
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case nil:
		b.WriteString("null")
	}
	return nil
}

// cjsonObject prints an object whose '{' was read; depth is its own depth.
func cjsonObject(b *strings.Builder, dec *json.Decoder, depth int) error {
	b.WriteString("{\n")
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		k, _ := tok.(string)
		b.WriteString(strings.Repeat("\t", depth))
		cjsonString(b, k)
		b.WriteString(":\t")
		if err := cjsonValue(b, dec, depth); err != nil {
			return err
		}
		if dec.More() {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	if _, err := dec.Token(); err != nil { // '}'
		return err
	}
	b.WriteString(strings.Repeat("\t", depth-1))
	b.WriteByte('}')
	return nil
}

// cjsonArray prints an array whose '[' was read; depth is its own depth.
func cjsonArray(b *strings.Builder, dec *json.Decoder, depth int) error {
	b.WriteByte('[')
	for first := true; dec.More(); first = false {
		if !first {
			b.WriteString(", ")
		}
		if err := cjsonValue(b, dec, depth); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // ']'
		return err
	}
	b.WriteByte(']')
	return nil
}

// cjsonNumber is cJSON's print_number: null for NaN and infinities, an
// integer when the value is one that fits a C int, else the shortest of
// "%1.15g" and "%1.17g" that reads back as (nearly) the same double.
func cjsonNumber(d float64) string {
	switch {
	case math.IsNaN(d) || math.IsInf(d, 0):
		return "null"
	case d == math.Trunc(d) && d >= math.MinInt32 && d <= math.MaxInt32:
		return strconv.FormatInt(int64(d), 10)
	}
	s := strconv.FormatFloat(d, 'g', 15, 64)
	if t, err := strconv.ParseFloat(s, 64); err != nil || !cjsonNearlyEqual(t, d) {
		s = strconv.FormatFloat(d, 'g', 17, 64)
	}
	return s
}

// cjsonNearlyEqual is cJSON's compare_double.
func cjsonNearlyEqual(a, b float64) bool {
	return math.Abs(a-b) <= math.Max(math.Abs(a), math.Abs(b))*epsilon
}

// epsilon is C's DBL_EPSILON.
const epsilon = 2.220446049250313e-16

// cjsonString is cJSON's print_string_ptr: only the quote, the backslash
// and control characters are escaped.
func cjsonString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 {
				fmt.Fprintf(b, `\u%04x`, c)
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
}

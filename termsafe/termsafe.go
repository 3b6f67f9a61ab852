// Package termsafe makes text that came from the network safe to print:
// a peer's cookie, error message or report must not retitle a terminal,
// move its cursor or forge a line in a log.
package termsafe

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// String returns s with every control character (C0, DEL, C1, and the
// Unicode line and paragraph separators) and every invalid UTF-8 byte
// written as a Go escape (\x1b, \n, \u2028, …); other text is unchanged.
func String(s string) string {
	if clean(s, false) {
		return s
	}
	return escape(s, false)
}

// Lines is String for multi-line text: newlines and tabs are kept.
func Lines(s string) string {
	if clean(s, true) {
		return s
	}
	return escape(s, true)
}

func unsafeRune(r rune, lines bool) bool {
	if lines && (r == '\n' || r == '\t') {
		return false
	}
	return r == utf8.RuneError || unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
}

func clean(s string, lines bool) bool {
	for _, r := range s {
		if unsafeRune(r, lines) {
			return false
		}
	}
	return true
}

func escape(s string, lines bool) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			b.WriteString(`\x` + strconv.FormatUint(uint64(s[i])|0x100, 16)[1:])
		case unsafeRune(r, lines):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// Say writes one line "flowscope: …" on w: the command's way to tell the
// user something. Text from the network may be part of it, so control
// characters are escaped (String).
func Say(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "flowscope: %s\n", String(fmt.Sprintf(format, args...)))
}

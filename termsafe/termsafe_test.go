package termsafe

import "testing"

func TestString(t *testing.T) {
	for in, want := range map[string]string{
		"plain cookie 0123456789abcdef": "plain cookie 0123456789abcdef",
		"\x1b]0;owned\x07title":         `\x1b]0;owned\atitle`,
		"a\nflowscope: forged":          `a\nflowscope: forged`,
		"tab\there":                     `tab\there`,
		"del\x7f c1\u009b ls\u2028":     `del\x7f c1\u009b ls\u2028`,
		"bad \xff utf8 é":               `bad \xff utf8 é`,
	} {
		if got := String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
	if got, want := Lines("line 1\n\tline 2\x1b[2J\n"), "line 1\n\tline 2\\x1b[2J\n"; got != want {
		t.Errorf("Lines = %q, want %q", got, want)
	}
}

func FuzzString(f *testing.F) {
	f.Add("\x1b]0;x\x07\n")
	f.Fuzz(func(t *testing.T, s string) {
		for _, out := range []string{String(s), Lines(s)} {
			for _, r := range out {
				if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f || r >= 0x80 && r < 0xa0 {
					t.Fatalf("control character %U left in %q", r, out)
				}
			}
		}
		for _, r := range String(s) {
			if r == '\n' || r == '\t' {
				t.Fatalf("String left %U in %q", r, String(s))
			}
		}
	})
}

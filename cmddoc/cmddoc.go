// Package cmddoc writes flowscope's man page and its bash, zsh and fish
// completions from the command's flag set, so none of them can drift from
// the flags the binary accepts. Package main's tests compare the committed
// files with what this package writes (go generate rewrites them).
package cmddoc

import (
	"sort"
	"strings"

	"github.com/spf13/pflag"
)

// Files names each generated file (relative to the repository) and its
// content.
func Files(fs *pflag.FlagSet) map[string][]byte {
	flags := visible(fs)
	return map[string][]byte{
		"man/flowscope.1":            []byte(manPage(flags)),
		"completions/flowscope.bash": []byte(bash(flags)),
		"completions/_flowscope":     []byte(zsh(flags)),
		"completions/flowscope.fish": []byte(fish(flags)),
	}
}

// flag is one visible flag as the generators see it.
type flag struct {
	long, short string
	// arg is the value's name ("FILE", "SECONDS", "int"); empty for a
	// flag that takes none. optional: the value may be left out
	// (--timestamps[=FORMAT]).
	arg      string
	optional bool
	usage    string
	def      string // the default, as --help shows it; empty when none worth showing
}

// visible returns the flags --help shows, in their declared order.
func visible(fs *pflag.FlagSet) []flag {
	var out []flag
	sorted := fs.SortFlags
	fs.SortFlags = false
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden || f.Deprecated != "" {
			return
		}
		arg, usage := pflag.UnquoteUsage(f)
		fl := flag{long: f.Name, short: f.Shorthand, arg: arg, usage: usage, optional: f.NoOptDefVal != ""}
		if f.Value.Type() == "bool" {
			fl.arg, fl.optional = "", false
		}
		if fl.optional && fl.arg == "" {
			fl.arg = "VALUE"
		}
		if fl.arg != "" && f.DefValue != "" && f.DefValue != "0" && f.DefValue != "[]" {
			fl.def = f.DefValue
		}
		out = append(out, fl)
	})
	fs.SortFlags = sorted
	return out
}

// valueKind says how a shell completes a flag's value.
type valueKind int

const (
	valueNone valueKind = iota // no value
	valueAny                   // a value the shell cannot list
	valueFile
	valueHost
	valueInterface
	valueCongestion
	valueFormat
)

func (f flag) kind() valueKind {
	switch {
	case f.arg == "":
		return valueNone
	case f.arg == "FILE":
		return valueFile
	case f.arg == "HOST":
		return valueHost
	case f.arg == "DEV":
		return valueInterface
	case f.arg == "ALGO":
		return valueCongestion
	case f.long == "format":
		return valueFormat
	}
	return valueAny
}

// formats are -f's values.
var formats = []string{"a", "k", "m", "g", "t", "K", "M", "G", "T"}

// longNames returns every long option, sorted.
func longNames(flags []flag) []string {
	var out []string
	for _, f := range flags {
		out = append(out, "--"+f.long)
	}
	sort.Strings(out)
	return out
}

// oneLine flattens a usage text for a shell's description.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

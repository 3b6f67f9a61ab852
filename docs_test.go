package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/flowscope/flowscope/cmddoc"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite the man page and the shell completions from the flags")

// The committed man page and completions are what the flags make: a flag
// added, renamed or reworded without `go generate` fails here.
func TestGeneratedDocsAreCurrent(t *testing.T) {
	fs, _ := newFlagSet()
	for name, want := range cmddoc.Files(fs) {
		if *updateDocs {
			if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(name, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(name)
		if err != nil {
			t.Errorf("%v (go generate makes it)", err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: the flags changed; run go generate", name)
		}
	}
}

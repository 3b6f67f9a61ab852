package main

import (
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestProfiles: the hidden profiling flags each write a profile in pprof's
// format (a gzipped protocol buffer).
func TestProfiles(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{}
	args := []string{"--loopback", "-t", "0.5", "--no-tui"}
	for _, kind := range []string{"cpu", "block", "mutex"} {
		files[kind] = filepath.Join(dir, kind+".pprof")
		args = append(args, "--"+kind+"profile", files[kind])
	}
	if _, stderr, code := runBin(t, args...); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for kind, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Errorf("%s profile is not gzipped: %v", kind, err)
			f.Close()
			continue
		}
		b, err := io.ReadAll(zr)
		f.Close()
		if err != nil || len(b) == 0 {
			t.Errorf("%s profile: %d bytes, %v", kind, len(b), err)
		}
	}
	for _, kind := range []string{"cpu", "block", "mutex"} {
		if _, stderr, code := runBin(t, "--loopback", "-t", "0.1", "--no-tui", "--"+kind+"profile", filepath.Join(dir, "missing", kind)); code != exitFailed {
			t.Errorf("a %s profile that cannot be written should fail the run: exit %d, stderr %q", kind, code, stderr)
		}
	}
}

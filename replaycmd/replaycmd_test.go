package replaycmd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const iperf3Doc = "../record/testdata/iperf3_312_J_P2.json"

// TestRunTakesOnlyItsCommands: Run claims `replay` and `report` and
// nothing else, so the rest of the command line goes to the test.
func TestRunTakesOnlyItsCommands(t *testing.T) {
	for _, args := range [][]string{nil, {"-c", "host"}, {"--loopback"}, {"replayx"}} {
		if _, ok := Run(args, &bytes.Buffer{}, &bytes.Buffer{}); ok {
			t.Errorf("Run(%q) took a command line that is not its own", args)
		}
	}
}

// TestReportWritesAPage: `report FILE -o PAGE` writes one HTML page from
// an iperf3 -J document; `-o -` writes it to stdout.
func TestReportWritesAPage(t *testing.T) {
	page := filepath.Join(t.TempDir(), "r.html")
	var stdout, stderr bytes.Buffer
	code, ok := Run([]string{"report", iperf3Doc, "-o", page}, &stdout, &stderr)
	if !ok || code != exitOK {
		t.Fatalf("exit %d (ok %v): %s", code, ok, stderr.String())
	}
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(bytes.TrimSpace(html), []byte("<!DOCTYPE html>")) || !bytes.Contains(html, []byte("</html>")) {
		t.Errorf("not one HTML page: %.200s…", html)
	}
	stdout.Reset()
	if code, _ := Run([]string{"report", iperf3Doc, "-o", "-"}, &stdout, &stderr); code != exitOK || !bytes.Contains(stdout.Bytes(), []byte("</html>")) {
		t.Errorf("-o -: exit %d, %d bytes on stdout", code, stdout.Len())
	}
}

// TestBadInvocations: each mistake gets one line on stderr and its exit
// code, and writes nothing.
func TestBadInvocations(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.json")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"report", iperf3Doc}, exitUsage, "needs -o FILE"},
		{[]string{"report", "-o", filepath.Join(dir, "x.html")}, exitFailed, "needs one FILE"},
		{[]string{"report", iperf3Doc, iperf3Doc, "-o", "-"}, exitFailed, "needs one FILE"},
		{[]string{"report", filepath.Join(dir, "missing.json"), "-o", "-"}, exitFailed, "missing.json"},
		{[]string{"report", empty, "-o", "-"}, exitFailed, "empty.json"},
		{[]string{"report", iperf3Doc, "-o", filepath.Join(dir, "no", "such", "dir.html")}, exitFailed, "report:"},
		{[]string{"report", "--nope"}, exitUsage, "unknown flag"},
		{[]string{"replay", iperf3Doc}, exitUsage, "needs a terminal"},
	} {
		var stdout, stderr bytes.Buffer
		code, _ := Run(c.args, &stdout, &stderr)
		msg := strings.TrimSpace(stderr.String())
		if code != c.code || !strings.Contains(msg, c.says) || strings.Count(msg, "\n") != 0 {
			t.Errorf("%q: exit %d, stderr %q; want exit %d and one line saying %q", c.args, code, msg, c.code, c.says)
		}
		if stdout.Len() != 0 {
			t.Errorf("%q: wrote %d bytes to stdout", c.args, stdout.Len())
		}
	}
}

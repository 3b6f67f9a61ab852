package buildinfo

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	vcs := []debug.BuildSetting{{Key: "vcs.revision", Value: "a2db109c8a1e0123456789abcdef0123456789ab"}, {Key: "vcs.modified", Value: "true"}}
	cases := []struct {
		name       string
		bi         *debug.BuildInfo
		ldV, ldRev string
		want       Info
		str        string
	}{
		{"go test", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, "", "",
			Info{Version: "devel", GoVersion: "go1.26.8"}, "devel"},
		{"checkout", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs}, "", "",
			Info{Version: "devel", Revision: "a2db109c8a1e0123456789abcdef0123456789ab-dirty", GoVersion: "go1.26.8"}, "devel (a2db109c8a1e-dirty)"},
		{"go install @v1.2.3", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}}, "", "",
			Info{Version: "1.2.3", GoVersion: "go1.26.8"}, "1.2.3"},
		{"pseudo-version", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261207134900-a2db109c8a1e"}, Settings: vcs[:1]}, "", "",
			Info{Version: "0.0.0-20261207134900-a2db109c8a1e", Revision: vcs[0].Value, GoVersion: "go1.26.8"}, "0.0.0-20261207134900-a2db109c8a1e"},
		{"ldflags win", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}, Settings: vcs}, "v2.0.0", "0123abcd",
			Info{Version: "2.0.0", Revision: "0123abcd", GoVersion: "go1.26.8"}, "2.0.0 (0123abcd)"},
		{"no build info", nil, "", "", Info{Version: "devel", GoVersion: runtime.Version()}, "devel"},
	}
	for _, c := range cases {
		got := resolve(c.bi, c.ldV, c.ldRev)
		if got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
		if got.String() != c.str {
			t.Errorf("%s: String %q, want %q", c.name, got.String(), c.str)
		}
	}
}

// TestLinkerFlagsReachTheBinary builds a program that prints Read() with
// the release's -ldflags and checks they win over the build information.
func TestLinkerFlagsReachTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	dir := t.TempDir()
	main := filepath.Join(dir, "main.go")
	if err := os.WriteFile(main, []byte("package main\n\nimport (\n\t\"fmt\"\n\n\t\"github.com/flowscope/flowscope/buildinfo\"\n)\n\nfunc main() { fmt.Print(buildinfo.Read()) }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const pkg = "github.com/flowscope/flowscope/buildinfo"
	out, err := exec.Command(goBin, "run", "-ldflags", "-X "+pkg+".version=v9.8.7 -X "+pkg+".revision=feedface", main).CombinedOutput()
	if err != nil {
		t.Fatalf("go run: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "9.8.7 (feedface)" {
		t.Errorf("built with -X: %q", got)
	}
}

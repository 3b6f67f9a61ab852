package metrics

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// needTool skips the test when name is not on PATH (CI installs both:
// promtool with Debian's prometheus package, systemd-analyze with systemd).
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed (apt-get install prometheus systemd)", name)
	}
	return p
}

// The alerting rules' unit tests, a server never tested among them.
func TestDeployRulesFixtures(t *testing.T) {
	promtool := needTool(t, "promtool")
	cmd := exec.Command(promtool, "test", "rules", "flowscope-rules.test.yml")
	cmd.Dir = filepath.Join("..", "deploy")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

// The units stay sandboxed: systemd-analyze rates each "OK" (≤ 3.0).
func TestDeployUnitsHardened(t *testing.T) {
	analyze := needTool(t, "systemd-analyze")
	for _, unit := range []string{"flowscope-server.service", "flowscope-mesh.service"} {
		cmd := exec.Command(analyze, "security", "--offline=true", "--threshold=30", filepath.Join("..", "deploy", "systemd", unit))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%s: exposure above 3.0 (or no rating): %v\n%s", unit, err, out)
			continue
		}
		m := regexp.MustCompile(`exposure level for \S+: ([0-9.]+) (\w+)`).FindSubmatch(out)
		if m == nil || string(m[2]) != "OK" {
			t.Errorf("%s: %q", unit, m)
		}
		t.Logf("%s: %s %s", unit, m[1], m[2])
	}
}

// deploy/README.md names every file of deploy/, and every file it names
// in its table exists; the units and the README agree on the metrics port.
func TestDeployReadmeMatchesFiles(t *testing.T) {
	dir := filepath.Join("..", "deploy")
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if rel != "README.md" && !strings.Contains(string(readme), filepath.Base(rel)) {
			t.Errorf("deploy/README.md does not mention %s", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile("\\| `([a-z/.-]+\\.(?:service|timer|sh|yml|json|env))`").FindAllStringSubmatch(string(readme), -1) {
		if _, err := os.Stat(filepath.Join(dir, m[1])); err != nil {
			t.Errorf("deploy/README.md lists %s: %v", m[1], err)
		}
	}
	for _, f := range []string{"systemd/flowscope-server.service", "flowscope.env", "prometheus.yml", "README.md"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), ":9709") || strings.Contains(string(b), ":9090") {
			t.Errorf("deploy/%s: the metrics port is 9709 (not Prometheus's own 9090)", f)
		}
	}
}

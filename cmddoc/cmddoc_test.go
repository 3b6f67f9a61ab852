package cmddoc

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// testFlags has one flag of each kind the generators treat differently,
// with text that needs escaping in every output.
func testFlags() *pflag.FlagSet {
	fs := pflag.NewFlagSet("flowscope", pflag.ContinueOnError)
	fs.SortFlags = false
	fs.BoolP("server", "s", false, "run as a server")
	fs.StringP("client", "c", "", "connect to `HOST` (HOST,HOST,… tests [several]: it's \"fast\")")
	fs.String("auth-key-file", "", "pre-shared key `FILE`")
	fs.StringP("congestion", "C", "", "TCP congestion control `ALGO`")
	fs.StringP("format", "f", "a", "units")
	fs.String("timestamps", "", "prefix lines with the time (optional `FORMAT`)")
	fs.Lookup("timestamps").NoOptDefVal = "%c "
	fs.String("secret", "", "not shown")
	_ = fs.MarkHidden("secret")
	fs.IntP("port", "p", 5201, "server port")
	return fs
}

func TestVisibleFlags(t *testing.T) {
	got := visible(testFlags())
	if len(got) != 7 {
		t.Fatalf("%d flags, want 7 (the hidden one left out): %+v", len(got), got)
	}
	want := []flag{
		{long: "server", short: "s", usage: "run as a server"},
		{long: "client", short: "c", arg: "HOST", usage: "connect to HOST (HOST,HOST,… tests [several]: it's \"fast\")"},
		{long: "auth-key-file", arg: "FILE", usage: "pre-shared key FILE"},
		{long: "congestion", short: "C", arg: "ALGO", usage: "TCP congestion control ALGO"},
		{long: "format", short: "f", arg: "string", usage: "units", def: "a"},
		{long: "timestamps", arg: "FORMAT", optional: true, usage: "prefix lines with the time (optional FORMAT)"},
		{long: "port", short: "p", arg: "int", usage: "server port", def: "5201"},
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("flag %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestManPage(t *testing.T) {
	page := manPage(visible(testFlags()))
	for _, want := range []string{
		".TP\n\\fB\\-s\\fR, \\fB\\-\\-server\\fR\nrun as a server\n",
		"\\fB\\-\\-auth\\-key\\-file\\fR \\fIFILE\\fR\npre\\-shared key FILE\n",
		"\\fB\\-\\-timestamps\\fR[=\\fIFORMAT\\fR]",
		"server port (default 5201)",
		`HOST,HOST,\[u2026] tests`, // non-ASCII as groff escapes
	} {
		if !strings.Contains(page, want) {
			t.Errorf("man page lacks %q", want)
		}
	}
	if strings.Contains(page, "secret") {
		t.Error("the man page shows a hidden flag")
	}
	for i, line := range strings.Split(page, "\n") {
		for _, r := range line {
			if r > 0x7e {
				t.Errorf("line %d has non-ASCII %q: %s", i+1, r, line)
			}
		}
	}
	// groff, when installed, reads it without a warning.
	if groff, err := exec.LookPath("groff"); err == nil {
		cmd := exec.Command(groff, "-man", "-ww", "-z")
		cmd.Stdin = strings.NewReader(page)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil || stderr.Len() > 0 {
			t.Errorf("groff: %v %s", err, stderr.String())
		}
	}
}

// The completions are valid scripts for their shells (each checked where
// the shell is installed) and offer what the flags take.
func TestCompletions(t *testing.T) {
	flags := visible(testFlags())
	scripts := map[string]string{"bash": bash(flags), "zsh": zsh(flags), "fish": fish(flags)}
	for _, want := range []struct{ shell, text string }{
		{"bash", `--auth-key-file) COMPREPLY=($(compgen -f -- "$cur")); return ;;`},
		{"bash", "--client|-c) COMPREPLY=($(compgen -A hostname"},
		{"bash", `--format|-f) COMPREPLY=($(compgen -W "a k m g t K M G T"`},
		{"bash", `"-s -c -C -f -p --auth-key-file --client --congestion --format --port --server --timestamps"`},
		{"zsh", `'(-s --server)'{'-s','--server'}'[run as a server]'`},
		{"zsh", `'[connect to HOST (HOST,HOST,… tests \[several\]\: it'\''s "fast")]:HOST:_hosts'`},
		{"zsh", `'--timestamps=-[prefix lines with the time (optional FORMAT)]:FORMAT: '`},
		{"fish", "complete -c flowscope -l auth-key-file -r -F -d 'pre-shared key FILE'"},
		{"fish", `complete -c flowscope -s c -l client -x -a '(__fish_print_hostnames)' -d 'connect to HOST (HOST,HOST,… tests [several]: it'\''s "fast")'`},
		{"fish", "complete -c flowscope -l timestamps -d"},
	} {
		if !strings.Contains(scripts[want.shell], want.text) {
			t.Errorf("%s completion lacks %s\n%s", want.shell, want.text, scripts[want.shell])
		}
	}
	for shell, script := range scripts {
		if strings.Contains(script, "secret") {
			t.Errorf("%s completion offers a hidden flag", shell)
		}
		path, err := exec.LookPath(shell)
		if err != nil {
			t.Logf("%s not installed: its script is not syntax-checked", shell)
			continue
		}
		file := filepath.Join(t.TempDir(), "completion")
		if err := os.WriteFile(file, []byte(script), 0o644); err != nil {
			t.Fatal(err)
		}
		check := []string{"-n", file}
		if shell == "fish" {
			check = []string{"--no-execute", file}
		}
		if out, err := exec.Command(path, check...).CombinedOutput(); err != nil {
			t.Errorf("%s rejects its completion: %v\n%s", shell, err, out)
		}
	}
}

// Sourced by fish, the completions answer fish's own queries.
func TestFishCompletionRuns(t *testing.T) {
	fishPath, err := exec.LookPath("fish")
	if err != nil {
		t.Skip("no fish")
	}
	file := filepath.Join(t.TempDir(), "flowscope.fish")
	if err := os.WriteFile(file, []byte(fish(visible(testFlags()))), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(fishPath, "-c", "source "+shQuote(file)+"; complete -C'flowscope --serv'; complete -C'flowscope -f '").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := "--server\trun as a server\n"
	for _, f := range []string{"a", "G", "g", "K", "k", "M", "m", "T", "t"} { // fish's order
		want += f + "\tunits\n"
	}
	if got := string(out); got != want {
		t.Errorf("fish completes %q, want %q", got, want)
	}
}

// Sourced by bash, the completion answers like bash-completion would ask.
func TestBashCompletionRuns(t *testing.T) {
	bashPath, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	script := bash(visible(testFlags())) + `
COMP_WORDS=(flowscope --f); COMP_CWORD=1; _flowscope; echo "${COMPREPLY[*]}"
COMP_WORDS=(flowscope -f ""); COMP_CWORD=2; _flowscope; echo "${COMPREPLY[*]}"
`
	out, err := exec.Command(bashPath, "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got := string(out); got != "--format\na k m g t K M G T\n" {
		t.Errorf("completions: %q", got)
	}
}

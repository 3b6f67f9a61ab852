package main

import (
	"strings"
	"testing"
)

// TestAuthKeyFileFlagRefusals: --auth-key-file with an empty value (an
// unset variable in a unit file) or a special file is refused with one
// line, instead of running the server without authentication or reading
// without end.
func TestAuthKeyFileFlagRefusals(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-s", "--auth-key-file", ""}, "path is empty"},
		{[]string{"-s", "--auth-key-file="}, "path is empty"},
		{[]string{"-c", "127.0.0.1", "--auth-key-file", ""}, "path is empty"},
		{[]string{"-s", "--auth-key-file", "/dev/zero"}, "not a regular file"},
	} {
		_, err := parseArgs(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: %v; want one line saying %q", tc.args, err, tc.want)
		}
	}
}

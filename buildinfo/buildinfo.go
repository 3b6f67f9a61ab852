// Package buildinfo says which build of flowscope this is: its version, the
// source revision it was built from and the Go release that built it.
//
// A release build sets the version and revision with
//
//	go build -ldflags "-X github.com/flowscope/flowscope/buildinfo.version=1.2.3 -X github.com/flowscope/flowscope/buildinfo.revision=$(git rev-parse HEAD)"
//
// Without them, they come from the build information the go command embeds:
// the module version (as `go install …@v1.2.3` records it, or a
// pseudo-version) and the VCS revision of a checkout.
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
)

// Set by -ldflags -X; empty otherwise.
var (
	version  string
	revision string
)

// devel is the version of a build that records none: `go build` outside a
// module version control knows of, or `go test`.
const devel = "devel"

// Info is one build's identity.
type Info struct {
	// Version without a leading "v" ("1.2.3", "0.0.0-20261207…-a2db109c8a1e"),
	// or "devel" when the build recorded none.
	Version string
	// Revision is the VCS commit ("" when unknown), with "-dirty" when the
	// tree had uncommitted changes.
	Revision string
	// GoVersion is the Go release that built the binary ("go1.26.8").
	GoVersion string
}

var read = sync.OnceValue(func() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(bi, version, revision)
})

// Read returns this binary's build identity.
func Read() Info { return read() }

// resolve picks each field from the linker flags first, then the embedded
// build information.
func resolve(bi *debug.BuildInfo, ldVersion, ldRevision string) Info {
	in := Info{Version: ldVersion, Revision: ldRevision, GoVersion: runtime.Version()}
	if bi != nil {
		in.GoVersion = bi.GoVersion
		if in.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			in.Version = bi.Main.Version
		}
		if in.Revision == "" {
			var dirty bool
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					in.Revision = s.Value
				case "vcs.modified":
					dirty = s.Value == "true"
				}
			}
			if in.Revision != "" && dirty {
				in.Revision += "-dirty"
			}
		}
	}
	in.Version = strings.TrimPrefix(in.Version, "v")
	if in.Version == "" {
		in.Version = devel
	}
	return in
}

// ShortRevision is the revision cut to 12 hex digits (and "-dirty").
func (in Info) ShortRevision() string {
	rev, dirty := strings.CutSuffix(in.Revision, "-dirty")
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}

// String is the version with the short revision, as `flowscope -v` and the
// JSON's start.version show it: "1.2.3", "devel (a2db109c8a1e)".
func (in Info) String() string {
	if in.Revision == "" || strings.Contains(in.Version, in.ShortRevision()) {
		return in.Version
	}
	return in.Version + " (" + in.ShortRevision() + ")"
}

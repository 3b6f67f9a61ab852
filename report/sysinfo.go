package report

import (
	"os"
	"runtime"
	"sync"
)

// systemInfo is the host description reported as iperf3's system_info and
// in verbose text output, computed once.
var systemInfo = sync.OnceValue(unameString)

func fallbackSystemInfo() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return runtime.GOOS + " " + host + " " + runtime.GOARCH
}

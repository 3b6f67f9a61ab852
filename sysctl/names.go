package sysctl

import "runtime"

// Names are an OS's own names for the host settings in Limits, for
// findings and fixes to quote; empty where the OS has no such setting or
// flowscope cannot read it.
type Names struct {
	OS string // GOOS
	// Sysctl says the settings are sysctls ("sysctl -w NAME=VALUE").
	Sysctl bool
	// Somaxconn caps every listen backlog.
	Somaxconn string
	// PortFirst and PortLast are the ephemeral port range; on Linux one
	// setting holds both (PortLast is empty).
	PortFirst, PortLast string
	// RmemMax and WmemMax cap SO_RCVBUF and SO_SNDBUF; the BSDs have one
	// cap for both socket buffers (the same name twice).
	RmemMax, WmemMax string
	// MaxFiles caps the open files of the whole host.
	MaxFiles string
}

// NamesFor returns the setting names of the OS goos (a GOOS value).
func NamesFor(goos string) Names {
	switch goos {
	case "linux":
		return Names{OS: goos, Sysctl: true, Somaxconn: "net.core.somaxconn", PortFirst: "net.ipv4.ip_local_port_range",
			RmemMax: "net.core.rmem_max", WmemMax: "net.core.wmem_max", MaxFiles: "fs.file-max"}
	case "darwin", "freebsd":
		return Names{OS: goos, Sysctl: true, Somaxconn: "kern.ipc.somaxconn",
			PortFirst: "net.inet.ip.portrange.first", PortLast: "net.inet.ip.portrange.last",
			RmemMax: "kern.ipc.maxsockbuf", WmemMax: "kern.ipc.maxsockbuf", MaxFiles: "kern.maxfiles"}
	}
	return Names{OS: goos}
}

// HostNames are the setting names of the OS this program runs on.
var HostNames = NamesFor(runtime.GOOS)

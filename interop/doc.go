// Package interop holds the tests that run flowscope against Debian's stock
// iperf3 binary in both directions. It has no code of its own.
package interop

//go:build linux && !flowscope_portable

package engine

// accelerated: this build has Linux's accelerations (see accel_portable.go
// for the build without them).
const accelerated = true

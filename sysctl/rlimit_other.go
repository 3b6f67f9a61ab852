//go:build !unix

package sysctl

func nofile() (soft, hard int64) { return Unknown, Unknown }

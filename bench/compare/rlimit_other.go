//go:build !linux

package main

func raiseNofile(need uint64) error { return nil }

package cputime

import (
	"testing"
	"time"
)

// Work done shows as user time; the readings never go backwards.
func TestSelfCountsWork(t *testing.T) {
	u0, s0, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	for start := time.Now(); time.Since(start) < 50*time.Millisecond; {
		for i := 0; i < 1e5; i++ {
			x += i
		}
	}
	u1, s1, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	if u1 <= u0 || s1 < s0 {
		t.Errorf("after 50 ms of work: user %v -> %v, system %v -> %v (x=%d)", u0, u1, s0, s1, x)
	}
}

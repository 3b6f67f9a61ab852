package axis

import "testing"

func TestTicks(t *testing.T) {
	for _, c := range []struct {
		v         float64
		n         int
		step, top float64
	}{
		{9.3e9, 5, 2e9, 10e9}, {38.2e9, 4, 10e9, 40e9}, {1, 5, 0.2, 1}, {0, 5, 0.2, 1}, {7, 1, 10, 10}, {120e6, 5, 25e6, 125e6},
	} {
		step, top := Ticks(c.v, c.n)
		if step != c.step || top != c.top {
			t.Errorf("Ticks(%v, %d) = %v, %v; want %v, %v", c.v, c.n, step, top, c.step, c.top)
		}
		if top < c.v || top/step > float64(c.n)+1e-9 {
			t.Errorf("Ticks(%v, %d): top %v below the value or more than %d steps", c.v, c.n, top, c.n)
		}
	}
}

func TestLabels(t *testing.T) {
	div, unit := RateUnit(40e9)
	if got := FormatRate(25e9, div, unit); got != "25 Gbit/s" {
		t.Errorf("FormatRate = %q", got)
	}
	if got := FormatSeconds(150); got != "2m30s" {
		t.Errorf("FormatSeconds(150) = %q", got)
	}
	if got := NiceCeil(4.2e6); got != 5e6 {
		t.Errorf("NiceCeil(4.2e6) = %v", got)
	}
	if got := TimeStep(60, 6); got != 10 {
		t.Errorf("TimeStep(60, 6) = %v", got)
	}
}

package ui

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/flowscope/flowscope/engine"
)

var benchFlows = []int{16, 1000, 10000}

// benchSetup returns a 120x40 model in the middle of a test with n
// streams, and samples to feed it (rates vary per stream and interval,
// a few streams are stalled).
func benchSetup(b *testing.B, n int, frame time.Duration) (*Model, []*engine.Sample) {
	b.Helper()
	m := New(Options{Mode: ModeClient, FrameInterval: frame})
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	st := testStart(engine.SideClient, n, engine.TestParams{Duration: 60 * time.Second})
	m.Update(st)
	rng := rand.New(rand.NewPCG(1, 2))
	samples := make([]*engine.Sample, 8)
	for k := range samples {
		samples[k] = testSample(st, k, func(i int) streamSpec {
			if i%97 == 5 {
				return streamSpec{state: engine.StateStalled, stalled: 2 * time.Second, reason: "peer window 0: the receiver is not reading"}
			}
			return streamSpec{mbps: 50 + 100*rng.Float64(), retr: uint64(rng.IntN(3))}
		})
	}
	// Warm up: a history for the sparklines and the chart.
	for k := 0; k < 60; k++ {
		s := *samples[k%len(samples)]
		s.Start, s.End = time.Duration(k)*time.Second, time.Duration(k+1)*time.Second
		m.Update(&s)
	}
	m.render()
	return m, samples
}

// BenchmarkUpdate is folding one sample into the model, without drawing
// (the frame comes later, at most every FrameInterval).
func BenchmarkUpdate(b *testing.B) {
	for _, n := range benchFlows {
		b.Run("flows="+strconv.Itoa(n), func(b *testing.B) {
			m, samples := benchSetup(b, n, time.Hour)
			benchLoop(b, samples, func(s *engine.Sample) { m.Update(s) })
		})
	}
}

// BenchmarkView is drawing one frame of fresh data and returning it:
// the cost the frame rate bounds.
func BenchmarkView(b *testing.B) {
	for _, n := range benchFlows {
		b.Run("flows="+strconv.Itoa(n), func(b *testing.B) {
			m, samples := benchSetup(b, n, time.Hour)
			benchLoop(b, samples, func(s *engine.Sample) {
				// New data invalidates the chart and the visible rows; the
				// apply itself is BenchmarkUpdate's and is small.
				screenOf(m).run.apply(s)
				m.render()
				_ = m.View()
			})
		})
	}
}

// benchLoop is the measured loop: step with each sample in turn.
func benchLoop(b *testing.B, samples []*engine.Sample, step func(*engine.Sample)) {
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		step(samples[i%len(samples)])
		i++
	}
}

// benchFrames is one sample, then one frame, in a loop.
func benchFrames(b *testing.B, m *Model, samples []*engine.Sample) {
	benchLoop(b, samples, func(s *engine.Sample) {
		m.Update(s)
		_ = m.View()
	})
}

// BenchmarkSampleAndFrame is the budget case: one sample arrives and one
// frame is drawn (target at 10,000 flows: < 5 ms, < 1 MiB).
func BenchmarkSampleAndFrame(b *testing.B) {
	for _, sorted := range []bool{false, true} {
		for _, n := range benchFlows {
			name := "flows=" + strconv.Itoa(n)
			if sorted {
				name += "/sort=rate"
			}
			b.Run(name, func(b *testing.B) {
				m, samples := benchSetup(b, n, 0)
				if sorted {
					m.Update(keyMsg("s"))
				}
				benchFrames(b, m, samples)
			})
		}
	}
}

// BenchmarkMapFrame is one sample and one frame of the map view.
func BenchmarkMapFrame(b *testing.B) {
	for _, n := range benchFlows {
		b.Run("flows="+strconv.Itoa(n), func(b *testing.B) {
			m, samples := benchSetup(b, n, 0)
			m.Update(keyMsg("m"))
			benchFrames(b, m, samples)
		})
	}
}

// BenchmarkFleetSampleAndFrame is the overview of a multi-server run: one
// server's sample arrives and one frame is drawn. Each frame still walks
// every server (their sections' sizes and the scales), so it grows with
// the servers, not with their streams.
func BenchmarkFleetSampleAndFrame(b *testing.B) {
	for _, c := range []struct{ servers, flows int }{{3, 1000}, {100, 100}, {1000, 10}} {
		b.Run("servers="+strconv.Itoa(c.servers)+"/flows="+strconv.Itoa(c.flows), func(b *testing.B) {
			labels := make([]string, c.servers)
			for i := range labels {
				labels[i] = "10.0." + strconv.Itoa(i/250) + "." + strconv.Itoa(i%250+1) + ":5201"
			}
			m := New(Options{Mode: ModeFleet, Targets: labels})
			m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
			rng := rand.New(rand.NewPCG(1, 2))
			samples := make([][]TargetMsg, c.servers)
			for t, l := range labels {
				st := testStart(engine.SideClient, c.flows, engine.TestParams{Duration: 60 * time.Second})
				m.Update(TargetMsg{l, st})
				for k := 0; k < 8; k++ {
					samples[t] = append(samples[t], TargetMsg{l, testSample(st, k, func(i int) streamSpec {
						return streamSpec{mbps: 50 + 100*rng.Float64(), retr: uint64(rng.IntN(3))}
					})})
				}
				for k := 0; k < 30; k++ {
					m.Update(samples[t][k%8])
				}
			}
			m.render()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				m.Update(samples[i%c.servers][i%8])
				i++
				_ = m.View()
			}
		})
	}
}

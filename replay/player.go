// Package replay plays a recorded test (see package record) back into the
// live view: a Player steps through the recording interval by interval,
// and Model drives the test screen with it — play and pause, faster and
// slower, stepping and seeking by interval.
package replay

import (
	"time"

	"github.com/flowscope/flowscope/engine"
	"github.com/flowscope/flowscope/record"
)

// Speeds are the playback speeds, slowest first.
var Speeds = []float64{0.25, 0.5, 1, 2, 4, 8, 16, 32, 64}

const normalSpeed = 2 // Speeds[normalSpeed] == 1

// endPause is how long, at normal speed, playback rests between the last
// interval and the test's end.
const endPause = 500 * time.Millisecond

// Player is a position in a recording: position k shows the events up to
// and including the k-th interval; position 0 the setup before the first
// interval, the last one everything (the test's End). A Player is not safe
// for concurrent use.
type Player struct {
	events []engine.Event
	// cuts[k] is how many events position k shows.
	cuts    []int
	pos     int
	playing bool
	speed   int // index into Speeds
}

// NewPlayer returns a Player at position 0, paused, at normal speed.
// Samples of the same interval number that follow each other (the servers
// of a multi-server run, a server's tests at once) are one position.
func NewPlayer(rec *record.Recording) *Player {
	p := &Player{events: rec.Events, speed: normalSpeed}
	var samples []int
	for i, ev := range rec.Events {
		if _, ok := ev.(*engine.Sample); ok {
			samples = append(samples, i)
		}
	}
	for k, i := range samples {
		if k == 0 {
			p.cuts = append(p.cuts, i)
		}
		if k+1 < len(samples) && rec.Events[samples[k+1]].(*engine.Sample).Seq == rec.Events[i].(*engine.Sample).Seq {
			continue
		}
		p.cuts = append(p.cuts, i+1)
	}
	if n := len(rec.Events); len(p.cuts) == 0 || p.cuts[len(p.cuts)-1] < n {
		p.cuts = append(p.cuts, n)
	}
	return p
}

// Positions is how many positions there are: 0 … Positions()-1.
func (p *Player) Positions() int { return len(p.cuts) }

// Pos is the current position.
func (p *Player) Pos() int { return p.pos }

// AtEnd reports whether every event is shown.
func (p *Player) AtEnd() bool { return p.pos == len(p.cuts)-1 }

// Shown is how many events the current position shows.
func (p *Player) Shown() int { return p.cuts[p.pos] }

// Seek moves to position k (clamped) and says which events to apply: from
// and to index the recording's events; reset is true when the screen must
// start over (moving back), and then from is 0.
func (p *Player) Seek(k int) (from, to int, reset bool) {
	k = min(max(k, 0), len(p.cuts)-1)
	from = p.cuts[p.pos]
	if k < p.pos {
		from, reset = 0, true
	}
	p.pos = k
	return from, p.cuts[k], reset
}

// Step moves n positions (back when negative); see Seek.
func (p *Player) Step(n int) (from, to int, reset bool) { return p.Seek(p.pos + n) }

// Playing reports whether playback runs.
func (p *Player) Playing() bool { return p.playing }

// SetPlaying starts or pauses playback; starting at the end starts over.
func (p *Player) SetPlaying(on bool) { p.playing = on }

// Speed is the playback speed, 1 being as fast as the test ran.
func (p *Player) Speed() float64 { return Speeds[p.speed] }

// Faster and Slower change the speed by one step.
func (p *Player) Faster() { p.speed = min(p.speed+1, len(Speeds)-1) }

// Slower: see Faster.
func (p *Player) Slower() { p.speed = max(p.speed-1, 0) }

// Wait is how long playback rests before moving to the next position at
// the current speed: the next interval's length as recorded (the rest
// before the End for the last step), at least a millisecond.
func (p *Player) Wait() time.Duration {
	d := endPause
	if p.pos+1 < len(p.cuts) {
		if s, ok := p.events[p.cuts[p.pos+1]-1].(*engine.Sample); ok {
			d = s.End - s.Start
		}
	}
	return max(time.Duration(float64(d)/Speeds[p.speed]), time.Millisecond)
}

// Time is the recorded time the current position shows (the end of its
// last interval), and Length that of the whole recording.
func (p *Player) Time() time.Duration { return p.timeAt(p.cuts[p.pos]) }

// Length is the end of the recording's last interval.
func (p *Player) Length() time.Duration { return p.timeAt(len(p.events)) }

func (p *Player) timeAt(n int) time.Duration {
	for i := n - 1; i >= 0; i-- {
		if s, ok := p.events[i].(*engine.Sample); ok {
			return s.End
		}
	}
	return 0
}

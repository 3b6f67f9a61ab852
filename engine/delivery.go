package engine

import (
	"fmt"
	"sync"
)

// maxPendingEvents bounds the events waiting for a slow front end. Beyond
// it the engine's goroutine that emits waits: a front end that stays that
// far behind slows the sampler down rather than growing memory without
// bound.
const maxPendingEvents = 64

// delivery hands a front end's events to it in order, one at a time, on a
// goroutine of its own, so that a slow front end (a JSON encoder of 1,000
// streams on a starved CPU, a terminal that does not keep up) never holds
// the engine up: the sampler's ticks, the end of the test and the results
// exchange go on while the front end catches up. A panic in the front end
// does not crash the process: fail hears of it (once) and later events are
// still offered.
type delivery struct {
	emit func(Event)
	fail func(error)

	mu     sync.RWMutex // push holds it shared, close exclusively
	closed bool
	queue  chan any // Event, or a flushMark
	done   chan struct{}
	failed bool // only the delivering goroutine touches it
}

// flushMark is queued by flush; the delivering goroutine closes it when
// every event queued before it was handed over.
type flushMark chan struct{}

func newDelivery(emit func(Event), fail func(error)) *delivery {
	d := &delivery{emit: emit, fail: fail, queue: make(chan any, maxPendingEvents), done: make(chan struct{})}
	go d.loop()
	return d
}

func (d *delivery) loop() {
	defer close(d.done)
	for item := range d.queue {
		switch v := item.(type) {
		case flushMark:
			close(v)
		case Event:
			d.hand(v)
		}
	}
}

// hand gives one event to the front end, recovering from its panic.
func (d *delivery) hand(ev Event) {
	defer func() {
		if r := recover(); r != nil && !d.failed {
			d.failed = true
			d.fail(&Error{Cause: CauseFrontEnd, Err: fmt.Errorf("the front end failed handling a %T event: %v", ev, r)})
		}
	}()
	d.emit(ev)
}

// push queues ev for the front end; after close it is dropped.
func (d *delivery) push(ev Event) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if !d.closed {
		d.queue <- ev
	}
}

// flush returns when every event pushed before it was handed to the front
// end.
func (d *delivery) flush() {
	mark := make(flushMark)
	d.mu.RLock()
	if d.closed {
		d.mu.RUnlock()
		<-d.done
		return
	}
	d.queue <- mark
	d.mu.RUnlock()
	<-mark
}

// close hands over what is queued, ends the delivering goroutine and
// returns when it has ended. Later pushes are dropped.
func (d *delivery) close() {
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		close(d.queue)
	}
	d.mu.Unlock()
	<-d.done
}

//go:build linux

package nstest

import (
	"encoding/json"
	"sync"
)

// dataFor returns a channel closed once a --json-stream interval event
// ending at or after sec seconds carries bytes, and the stdout line
// handler that watches for it: tests wait for data instead of sleeping.
func dataFor(sec float64) (<-chan struct{}, func(string)) {
	ch := make(chan struct{})
	var once sync.Once
	return ch, func(line string) {
		var ev struct {
			Event string `json:"event"`
			Data  struct {
				Sum struct {
					End   float64 `json:"end"`
					Bytes uint64  `json:"bytes"`
				} `json:"sum"`
			} `json:"data"`
		}
		if json.Unmarshal([]byte(line), &ev) == nil && ev.Event == "interval" && ev.Data.Sum.End >= sec && ev.Data.Sum.Bytes > 0 {
			once.Do(func() { close(ch) })
		}
	}
}

package caddymodule

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestPaceLetsOneEventThroughAnInterval: the first event goes through at
// once, then none until the interval has passed since the last one that
// did; of many at the same moment, exactly one goes through.
func TestPaceLetsOneEventThroughAnInterval(t *testing.T) {
	const every = 20 * time.Second
	start := time.Now()
	var p pace
	for _, step := range []struct {
		at   time.Duration
		want bool
	}{
		{0, true},
		{time.Second, false},
		{every - time.Millisecond, false},
		{every, true},
		{every + time.Second, false},
		{3 * every, true},
	} {
		assert.Equal(t, step.want, p.allow(start.Add(step.at), every), "an event %v after the first", step.at)
	}

	var fresh pace
	var through atomic.Int32
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			if fresh.allow(start, every) {
				through.Add(1)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int32(1), through.Load(), "events at the same moment let through")
}

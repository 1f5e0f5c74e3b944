package caddymodule

import (
	"net/http"
	"sync/atomic"
	"time"
)

// A container that does not exist is a mistake in the configuration, not
// a missing blob: Azure answers every read in it 404 with x-ms-error-code
// ContainerNotFound (HEAD included, though its answer has no body). Served
// as a 404, it would be kept by caches, fall through to the next origin
// and be logged nowhere; it is answered 502 instead, kept by no cache, and
// logged at error level a few times a minute, not per request.
const (
	logContainerNotFound = "container not found in the storage account: check the container name, and the account or endpoint; " +
		"every read answers 502 until the container exists"
	containerNotFoundLogEvery = 20 * time.Second
)

// isContainerNotFound reports whether resp is Azure's answer to a read in
// a container that does not exist.
func isContainerNotFound(resp *http.Response) bool {
	return resp.StatusCode == http.StatusNotFound && resp.Header.Get("x-ms-error-code") == "ContainerNotFound"
}

// pace lets an event through at most once an interval, the first at once;
// its zero value is ready to use. Times are read on the monotonic clock,
// so a step of the wall clock neither silences nor repeats the event.
type pace struct {
	last atomic.Int64 // when an event last went through, in ns since paceEpoch; 0 for never
}

var paceEpoch = time.Now()

// allow reports whether an event at now goes through: none went through
// in the interval every before it.
func (p *pace) allow(now time.Time, every time.Duration) bool {
	at := max(int64(now.Sub(paceEpoch)), 1)
	last := p.last.Load()
	if last != 0 && at-last < int64(every) {
		return false
	}
	// Of events at the same moment, one wins.
	return p.last.CompareAndSwap(last, at)
}

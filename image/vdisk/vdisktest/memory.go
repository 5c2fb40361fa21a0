package vdisktest

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// PeakHeap runs fn and returns the most heap memory that objects (live, or
// dead and not yet swept) held while it ran, above what they held before:
// the runtime's /memory/classes/heap/objects:bytes, sampled every 200 µs.
// The collector runs with GOGC=20 meanwhile, so that garbage counts little
// and what fn keeps shows. A sample can miss a short peak, so PeakHeap can
// only understate; memory held for the whole write (a table per GiB of
// disk, a digest per block) shows. Unlike a count of allocations it does
// not depend on how often sync.Pool drops its items (the race detector
// makes it drop them at random). Run nothing else in parallel with it.
func PeakHeap(fn func()) uint64 {
	defer debug.SetGCPercent(debug.SetGCPercent(20))
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	runtime.GC()
	base := read()
	peak := base
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(200 * time.Microsecond)
		defer tick.Stop()
		for {
			peak = max(peak, read())
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	fn()
	close(stop)
	<-done
	return max(peak, read()) - base
}

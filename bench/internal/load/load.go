// Package load holds what the load drivers of the benchmarks share: a
// bounded worker pool and latency quantiles.
package load

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Parallel runs f(0..n-1) on at most width goroutines; the first error
// wins, and a worker stops at its first error.
func Parallel(n, width int, f func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  atomic.Int64
	)
	for range min(width, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// Quantile is the p-quantile (0..1) of the latencies, which it does not
// reorder; 0 for none.
func Quantile(lat []time.Duration, p float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

// Ms prints d in milliseconds, to a tenth.
func Ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

package load

import (
	"errors"
	"sync"
	"testing"
	"time"
)

func TestParallel(t *testing.T) {
	var (
		mu                  sync.Mutex
		ran, inFlight, most int
	)
	err := Parallel(100, 4, func(int) error {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		mu.Unlock()
		time.Sleep(time.Millisecond)
		mu.Lock()
		inFlight--
		ran++
		mu.Unlock()
		return nil
	})
	if err != nil || ran != 100 || most > 4 {
		t.Errorf("Parallel: err %v, ran %d, at most %d at once; want nil, 100, ≤ 4", err, ran, most)
	}
	boom := errors.New("boom")
	if err := Parallel(10, 2, func(i int) error {
		if i == 3 {
			return boom
		}
		return nil
	}); !errors.Is(err, boom) {
		t.Errorf("Parallel with a failing call = %v, want %v", err, boom)
	}
}

func TestQuantile(t *testing.T) {
	lat := []time.Duration{5, 1, 4, 2, 3}
	if got := Quantile(lat, .5); got != 3 {
		t.Errorf("median = %d, want 3", got)
	}
	if got := Quantile(lat, 1); got != 5 {
		t.Errorf("max = %d, want 5", got)
	}
	if lat[0] != 5 {
		t.Error("Quantile reordered its input")
	}
	if got := Quantile(nil, .5); got != 0 {
		t.Errorf("Quantile(nil) = %d, want 0", got)
	}
}

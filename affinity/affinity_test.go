package affinity

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

// onLockedThread runs f on a goroutine locked to its own OS thread and never
// unlocks it: when a locked goroutine exits, the Go runtime ends its thread,
// so whatever mask f leaves behind, even after a failed check, cannot leak
// into the threads that run the other tests.
func onLockedThread(f func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		done <- f()
	}()
	return <-done
}

func allowedOrSkip(t *testing.T) []int {
	t.Helper()
	allowed, err := CurrentCPUs()
	if errors.Is(err, ErrUnsupported) {
		if perr := PinThread([]int{0}); !errors.Is(perr, ErrUnsupported) || !errors.Is(perr, errors.ErrUnsupported) {
			t.Errorf("PinThread on %s = %v, want ErrUnsupported", runtime.GOOS, perr)
		}
		t.Skipf("CPU affinity unsupported on %s", runtime.GOOS)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(allowed) == 0 {
		t.Fatal("CurrentCPUs returned no CPUs")
	}
	return allowed
}

func TestPinThread(t *testing.T) {
	allowed := allowedOrSkip(t)
	// Pinning to the whole allowed set must work and read back as is.
	err := onLockedThread(func() error {
		if err := PinThread(allowed); err != nil {
			return err
		}
		if got, err := CurrentCPUs(); err != nil || !slices.Equal(got, allowed) {
			return fmt.Errorf("after PinThread(%v): CurrentCPUs = %v, %v", allowed, got, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(allowed) < 2 {
		t.Skipf("only CPU %v allowed: nothing narrower to pin to", allowed)
	}

	// Two threads, locked at the same time and so distinct, pin to
	// different CPUs; once both have pinned, each must see its own CPU only.
	// A PinThread that did nothing, or pinned the process or the main
	// thread rather than the calling thread, fails this on at least one of
	// them (one of them may be the main thread, but not both).
	targets := []int{allowed[0], allowed[len(allowed)-1]}
	var pinned sync.WaitGroup
	pinned.Add(len(targets))
	errs := make(chan error, len(targets))
	for _, cpu := range targets {
		go func() {
			runtime.LockOSThread() // never unlocked; see onLockedThread
			errs <- func() error {
				err := PinThread([]int{cpu})
				pinned.Done()
				if err != nil {
					return err
				}
				pinned.Wait()
				if got, err := CurrentCPUs(); err != nil || !slices.Equal(got, []int{cpu}) {
					return fmt.Errorf("after PinThread([%d]): CurrentCPUs = %v, %v", cpu, got, err)
				}
				// Widening back works too.
				if err := PinThread(allowed); err != nil {
					return err
				}
				if got, err := CurrentCPUs(); err != nil || !slices.Equal(got, allowed) {
					return fmt.Errorf("after re-widening from CPU %d: CurrentCPUs = %v, %v", cpu, got, err)
				}
				return nil
			}()
		}()
	}
	for range targets {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestPinThreadErrors(t *testing.T) {
	allowed := allowedOrSkip(t)
	// A CPU we may not use: the first number missing from the allowed set.
	forbidden := 0
	for slices.Contains(allowed, forbidden) {
		forbidden++
	}
	tests := []struct {
		cpus    []int
		wantErr string
	}{
		{nil, "empty CPU list"},
		{[]int{-1}, "CPU -1 is outside the affinity mask"},
		{[]int{1 << 20}, "CPU 1048576 is outside the affinity mask"},
		// The kernel refuses a mask with no allowed CPU (EINVAL).
		{[]int{forbidden}, fmt.Sprintf("pin thread to CPUs %d:", forbidden)},
	}
	for _, tt := range tests {
		err := onLockedThread(func() error {
			err := PinThread(tt.cpus)
			if got, gerr := CurrentCPUs(); gerr != nil || !slices.Equal(got, allowed) {
				return fmt.Errorf("failed PinThread(%v) changed the mask to %v (%v)", tt.cpus, got, gerr)
			}
			return err
		})
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("PinThread(%v) = %v, want error containing %q", tt.cpus, err, tt.wantErr)
		}
	}
}

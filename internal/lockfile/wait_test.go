package lockfile

import (
	"path/filepath"
	"testing"
	"time"
)

// TestWait checks that Wait takes a held lock only once its holder
// releases it.
func TestWait(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".lock")
	l, err := Acquire(path)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *Lock)
	go func() {
		w, err := Wait(path)
		if err != nil {
			t.Error(err)
		}
		got <- w
	}()
	select {
	case <-got:
		t.Fatal("Wait took a lock that another holder had")
	case <-time.After(200 * time.Millisecond):
	}
	l.Release()
	select {
	case w := <-got:
		if w == nil {
			return
		}
		if _, err := Acquire(path); err == nil {
			t.Error("the lock Wait took is not held")
		}
		w.Release()
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not take the lock after its release")
	}
}

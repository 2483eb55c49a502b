package testenv

import "testing"

func TestNeedFailsUnderCI(t *testing.T) {
	t.Setenv("CI", "true")
	ft := &fakeTB{TB: t}
	func() {
		defer func() { recover() }() // Fatalf ends the fake test's goroutine work by panicking here
		Need(ft, "no such module")
	}()
	if !ft.failed || ft.skipped {
		t.Fatalf("under CI a missing reference must fail the test (failed %v, skipped %v)", ft.failed, ft.skipped)
	}
	t.Setenv("CI", "")
	ft = &fakeTB{TB: t}
	func() {
		defer func() { recover() }()
		Need(ft, "no such module")
	}()
	if ft.failed || !ft.skipped {
		t.Fatalf("outside CI a missing reference must skip the test (failed %v, skipped %v)", ft.failed, ft.skipped)
	}
}

// fakeTB records Fatalf and Skipf instead of ending the real test.
type fakeTB struct {
	testing.TB
	failed, skipped bool
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(string, ...any) {
	f.failed = true
	panic("fatal")
}
func (f *fakeTB) Skipf(string, ...any) {
	f.skipped = true
	panic("skip")
}

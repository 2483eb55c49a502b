package pyref

import (
	"strings"
	"testing"
)

func TestMissingNamesTheModule(t *testing.T) {
	if Missing() != "" {
		t.Skipf("no %s here", Python)
	}
	why := Missing("no_such_module_gotrain")
	if !strings.Contains(why, "no_such_module_gotrain") {
		t.Fatalf("Missing = %q, want it to name the module", why)
	}
	if again := Missing("no_such_module_gotrain"); again != why {
		t.Fatalf("cached answer differs: %q vs %q", again, why)
	}
}

func TestRequireFailsUnderCI(t *testing.T) {
	t.Setenv("CI", "true")
	ft := &fakeTB{TB: t}
	func() {
		defer func() { recover() }() // Fatalf ends the fake test's goroutine work by panicking here
		Require(ft, "no_such_module_gotrain")
	}()
	if !ft.failed || ft.skipped {
		t.Fatalf("under CI a missing module must fail the test (failed %v, skipped %v)", ft.failed, ft.skipped)
	}
	t.Setenv("CI", "")
	ft = &fakeTB{TB: t}
	func() {
		defer func() { recover() }()
		Require(ft, "no_such_module_gotrain")
	}()
	if ft.failed || !ft.skipped {
		t.Fatalf("outside CI a missing module must skip the test (failed %v, skipped %v)", ft.failed, ft.skipped)
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

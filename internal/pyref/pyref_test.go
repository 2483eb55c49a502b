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

package batched

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"
)

// TestNoHostReads guards the design that a batch never waits for the
// device: the package's code calls none of the torch functions that read
// values back to the host or wait for the device. (On CUDA these would
// synchronize the stream each step; on the CPU device nothing can observe
// it, so the check is on the source.)
func TestNoHostReads(t *testing.T) {
	forbidden := map[string]bool{"Item": true, "ItemInt64": true, "ToSlice": true, "Synchronize": true}
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		ast.Inspect(f, func(n ast.Node) bool {
			if s, ok := n.(*ast.SelectorExpr); ok && forbidden[s.Sel.Name] {
				t.Errorf("%s: %s reads from the device", fset.Position(s.Pos()), s.Sel.Name)
			}
			return true
		})
	}
	if checked == 0 {
		t.Fatal("no source files checked")
	}
}

package auth

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/treasured/treasured"

// leafImports are the packages of this module that auth may import: each
// must itself import nothing of the module (checked below), so importing it
// pulls in neither the server nor the engine.
var leafImports = map[string]string{
	module + "/engine/seqwin": "../../engine/seqwin",
}

// TestLeafPackage: the package imports nothing of this module but leaf
// packages, so the client library and the tools can use it without pulling
// in the server or the engine.
func TestLeafPackage(t *testing.T) {
	for _, path := range moduleImports(t, ".") {
		dir, ok := leafImports[path]
		if !ok {
			t.Errorf("auth imports %s", path)
			continue
		}
		for _, p := range moduleImports(t, dir) {
			t.Errorf("%s, which auth imports, imports %s", path, p)
		}
	}
}

// moduleImports lists the imports of this module in dir's non-test files.
func moduleImports(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no Go files in %s", dir)
	}
	fset := token.NewFileSet()
	var out []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, module) {
				out = append(out, path)
			}
		}
	}
	return out
}

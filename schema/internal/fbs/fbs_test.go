package fbs

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// synthetic uses every construct the generator supports, including those
// treasure.fbs does not use yet (strings, sub-tables, sparse and signed
// enums, vectors of enums and bools, nested checked structs, defaults).
const synthetic = `
// comment
/* block
   comment */
namespace t.v1;
file_identifier "TEST";
enum Sparse : short { A = -2, B = 0, C = 7 }
enum Signed : byte { M = -1, Z, P, }
enum One : uint { Only = 5 }
struct Inner { s: Sparse; f: bool; }
struct Outer { a: ulong; in: Inner; k: Signed; }
struct Plain { x: int; y: float; }
table Leaf { name: string; flags: [bool]; kinds: [Sparse]; outer: Outer; plain: Plain; one: One = Only; }
table Root { leaf: Leaf; outers: [Outer]; u: U; more: double = 1.5; plains: [Plain]; bytes: [ubyte]; }
union U { Leaf, Root = 3 }
table Unused { x: int; }
root_type Root;
`

func TestParseSynthetic(t *testing.T) {
	s, err := Parse("synthetic.fbs", synthetic)
	if err != nil {
		t.Fatal(err)
	}
	if s.Namespace != "t.v1" || s.FileIdentifier != "TEST" || s.RootType.Name != "Root" {
		t.Fatalf("header: %+v", s)
	}
	byName := map[string]*Struct{}
	for _, st := range s.Structs {
		byName[st.Name] = st
	}
	// C-like layout: Inner = short@0 bool@2, size 4 align 2; Outer =
	// ulong@0 Inner@8 byte@12, padded to 16, align 8.
	in, out := byName["Inner"], byName["Outer"]
	if in.Size != 4 || in.Align != 2 || in.Fields[1].Offset != 2 {
		t.Errorf("Inner layout %+v", in)
	}
	if out.Size != 16 || out.Align != 8 || out.Fields[1].Offset != 8 || out.Fields[2].Offset != 12 {
		t.Errorf("Outer layout %+v", out)
	}
	root := s.RootType
	// leaf 4, outers 6, u_type 8, u 10, more 12, plains 14, bytes 16
	want := []int{4, 6, 10, 12, 14, 16}
	for i, f := range root.Fields {
		if f.VOffset != want[i] {
			t.Errorf("Root.%s voffset %d want %d", f.Name, f.VOffset, want[i])
		}
	}
	if root.Fields[2].TypeVOffset != 8 {
		t.Errorf("union type slot %d", root.Fields[2].TypeVOffset)
	}
	for _, e := range s.Enums {
		if e.Name == "Signed" && (e.Values[0].Value != -1 || e.Values[2].Value != 1) {
			t.Errorf("Signed values %+v", e.Values)
		}
	}
}

// TestGenerateSyntheticCompiles type-checks the generated verifier for the
// synthetic schema together with the real runtime (verify.go, errors.go),
// so the code paths treasure.fbs does not exercise still build.
func TestGenerateSyntheticCompiles(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	s, err := Parse("synthetic.fbs", synthetic)
	if err != nil {
		t.Fatal(err)
	}
	code, err := GenerateVerifier(s, "schema", "synthetic.fbs")
	if err != nil {
		t.Fatal(err)
	}
	src := string(code)
	for _, want := range []string{
		"v.str(&t, 4)",                   // string
		"v.tableField(&t, 4)",            // sub-table
		"func validSparse(x int16) bool", // sparse signed enum: a switch
		"case -2, 0, 7:",
		"return x >= -1 && x <= 1", // contiguous signed
		"return x == 5",            // single value
		"checkInnerStruct(v, p+8)", // nested checked struct
		"v.buf[data+i*1] > 1",      // vector of bool
		"!validSparse(int16(v.u16(data + i*2)))",
		"case 3:\n\t\treturn verifyRootTable(v, pos, depth)", // a table named Root does not clash
	} {
		if !strings.Contains(src, want) {
			t.Errorf("generated code lacks %q", want)
		}
	}
	if strings.Contains(src, "Unused") || strings.Contains(src, "checkPlainStruct") {
		t.Error("generated code for an unreachable table or an unchecked struct")
	}
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":        "module example.com/synthetic\n\ngo 1.26\n",
		"verify_gen.go": src,
		"consts.go":     "package schema\n\nconst MaxDatagram = 1200\n",
	}
	for _, name := range []string{"verify.go", "errors.go"} {
		b, err := os.ReadFile(filepath.Join("..", "..", name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = string(b)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "vet", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generated verifier does not build: %v\n%s\n%s", err, out, src)
	}
}

func TestParseRejects(t *testing.T) {
	const ok = `file_identifier "ABCD"; table T { a: int; } root_type T;`
	if _, err := Parse("ok.fbs", ok); err != nil {
		t.Fatalf("baseline: %v", err)
	}
	for _, c := range []struct{ src, want string }{
		{`table T { a: int (id: 1); } root_type T;`, "attributes"},
		{`table T (x) { a: int; } root_type T;`, "attributes"},
		{`include "x.fbs"; table T { a: int; } root_type T;`, `"include" is not supported`},
		{`attribute "x"; table T { a: int; } root_type T;`, "not supported"},
		{`rpc_service S {} table T { a: int; } root_type T;`, "not supported"},
		{`table A { x: int; } table T { a: [A]; } root_type T;`, "vectors of A are not supported"},
		{`table T { a: [string]; } root_type T;`, "vectors of string are not supported"},
		{`struct S { a: [int:2]; } table T { s: S; } root_type T;`, "fixed-length arrays"},
		{`struct S { a: string; } table T { s: S; } root_type T;`, "a struct holds only"},
		{`struct S { a: int = 3; } table T { s: S; } root_type T;`, "cannot have defaults"},
		{`struct S { s: S; } table T { s: S; } root_type T;`, "contains itself"},
		{`table T { a: Missing; } root_type T;`, "unknown type Missing"},
		{`enum E { A } table T { a: E; } root_type T;`, "expected :"},
		{`enum E : float { A } table T { a: E; } root_type T;`, "integer type"},
		{`enum E : ubyte { A = 300 } table T { a: E; } root_type T;`, "does not fit"},
		{`enum E : ubyte { A = 2, B = 1 } table T { a: E; } root_type T;`, "ascending"},
		{`union U { A: T } table T { a: int; } root_type T;`, "aliased"},
		{`union U { X } table T { a: int; } root_type T;`, "X is not a table"},
		{`table T { a: int; }`, "no root_type"},
		{`table T { a: int; a: int; } root_type T;`, "declared twice"},
		{`table T { a: int; } table T { b: int; } root_type T;`, "declared twice"},
		{`table T { a: int } root_type T;`, "expected ;"},
		{`file_identifier "ABC"; table T { a: int; } root_type T;`, "exactly 4 bytes"},
		{`table T { a: [[int]]; } root_type T;`, "nested vectors"},
		{`/* open`, "unterminated comment"},
		{`table T { a: int; } root_type U;`, "not a table"},
	} {
		_, err := Parse("bad.fbs", c.src)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s\n\tgot %v, want an error containing %q", c.src, err, c.want)
		}
	}
	s, err := Parse("noid.fbs", `table T { a: int; } root_type T;`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := GenerateVerifier(s, "schema", "noid.fbs"); err == nil || !strings.Contains(err.Error(), "file_identifier") {
		t.Errorf("no file_identifier: %v", err)
	}
}

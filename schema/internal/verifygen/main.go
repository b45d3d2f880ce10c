// Command verifygen writes schema/verify_gen.go, the FlatBuffers verifier of
// package schema, from schema/treasure.fbs. flatc generates no verifier for
// Go, so the verifier is derived from the same .fbs file: a schema change
// that forgot the verifier would make TestVerifierUpToDate fail.
//
// Run it from the schema directory (go generate does):
//
//	go run ./internal/verifygen -in treasure.fbs -out verify_gen.go
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/treasured/treasured/schema/internal/fbs"
)

func main() {
	in := flag.String("in", "treasure.fbs", "schema file")
	out := flag.String("out", "verify_gen.go", "Go file to write")
	pkg := flag.String("pkg", "schema", "package of the generated file")
	flag.Parse()
	if err := run(*in, *out, *pkg); err != nil {
		fmt.Fprintln(os.Stderr, "verifygen:", err)
		os.Exit(1)
	}
}

func run(in, out, pkg string) error {
	src, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	name := filepath.Base(in)
	s, err := fbs.Parse(name, string(src))
	if err != nil {
		return err
	}
	code, err := fbs.GenerateVerifier(s, pkg, name)
	if err != nil {
		return err
	}
	// Write then rename so an interrupted run never leaves a truncated
	// file behind for the build to trip over.
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, code, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

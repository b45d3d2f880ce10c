package schema

// `go generate ./schema` (what `make generate` runs) rebuilds everything
// derived from treasure.fbs, flatc first: the wire package, then our verifier,
// so the two always come from the same schema.
//
// wire/ is emptied first because flatc never deletes the file of a type that
// left the schema; flatc's presence is checked before, so a machine without it
// keeps its committed wire/ instead of losing it. Debian's flatbuffers-compiler
// 2.0.8 is the reference: other versions write different Go.
//
//go:generate sh -c "command -v flatc >/dev/null || { echo 'go generate: flatc not found (apt-get install flatbuffers-compiler)' >&2; exit 1; }; rm -rf wire && flatc --go -o . treasure.fbs"
//go:generate go run ./internal/verifygen -in treasure.fbs -out verify_gen.go

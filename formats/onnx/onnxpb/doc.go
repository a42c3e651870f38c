// Package onnxpb holds the Go types generated from ONNX's onnx.proto (onnx 1.12, IR version 8)
// by protoc-gen-go. Regenerate with `go generate` (needs protoc and protoc-gen-go).
package onnxpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go_opt=Monnx.proto=github.com/qscript-dev/qscript/formats/onnx/onnxpb onnx.proto

package graph

//go:generate go run ./internal/copynodetests ../../shared/onnx-node-tests testdata/onnx-node-tests

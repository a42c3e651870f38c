package onnx_test

import (
	"github.com/qscript-dev/qscript/formats"
	"github.com/qscript-dev/qscript/formats/onnx"
)

// The format registry opens .onnx files through this interface; it lives in an external
// test package because formats imports formats/onnx.
var _ formats.Model = (*onnx.File)(nil)

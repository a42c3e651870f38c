'use strict';
// Runs an ONNX model in onnxruntime-node on one .npy input and saves the first output.
//
//   node interop/onnx/run_ort.js MODEL.onnx INPUT.npy OUT.npy [all|disabled]
//
// The last argument is ORT's graph optimization level (default all), so the QDQ model is
// checked both as ORT rewrites it and node by node.

const path = require('path');
const ort = require(path.join(__dirname, '../node_modules/onnxruntime-node'));
const { readNpy, writeNpyF32 } = require('../../scripts/fixtures/npy');

async function main() {
  const [modelPath, inputPath, outPath, level = 'all'] = process.argv.slice(2);
  if (!outPath) {
    console.error('usage: node run_ort.js MODEL.onnx INPUT.npy OUT.npy [all|disabled]');
    process.exit(2);
  }
  const x = readNpy(inputPath);
  const session = await ort.InferenceSession.create(modelPath, { graphOptimizationLevel: level });
  const result = await session.run({ [session.inputNames[0]]: new ort.Tensor(x.ort, x.data, x.shape) });
  const y = result[session.outputNames[0]];
  if (y.type !== 'float32') throw new Error(`output ${session.outputNames[0]} is ${y.type}, expected float32`);
  writeNpyF32(outPath, y.dims, y.data);
}

main().catch((e) => {
  console.error(`${process.argv[2]}: ${e.message || e}`);
  process.exit(1);
});

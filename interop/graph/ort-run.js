'use strict';
// Run the cases written by scripts/fixtures/graph_models.py in onnxruntime-node.
//
//   node interop/graph/ort-run.js CASE_DIR              # writes ort_output_K.f32 and ort.json
//   node interop/graph/ort-run.js CASE_DIR BATCH ITERS  # prints {"samples_per_s": ...}
//
// CASE_DIR holds model.onnx, input_0.f32 (raw float32; input_0.i64 when meta.dtype is "int64")
// and meta.json ({input, shape, dtype, outputs}).
// The timing mode feeds a BATCH x shape[1:] input, one session, one intra-op thread per core.

const fs = require('fs');
const os = require('os');
const path = require('path');
const ort = require(path.join(__dirname, '../node_modules/onnxruntime-node'));

async function main() {
  const [dir, batchArg, itersArg] = process.argv.slice(2);
  if (!dir) {
    console.error('usage: node interop/graph/ort-run.js CASE_DIR [BATCH ITERS]');
    process.exit(2);
  }
  const meta = JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8'));
  const session = await ort.InferenceSession.create(path.join(dir, 'model.onnx'), {
    intraOpNumThreads: os.cpus().length,
    graphOptimizationLevel: 'all',
  });
  if (batchArg) {
    const batch = Number(batchArg);
    const iters = Number(itersArg || 20);
    const shape = [batch, ...meta.shape.slice(1)];
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = Math.sin(i * 0.37);
    const feeds = { [meta.input]: new ort.Tensor('float32', data, shape) };
    await session.run(feeds); // warm-up
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iters; i++) await session.run(feeds);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    console.log(JSON.stringify({ samples_per_s: (batch * iters) / s }));
    return;
  }
  // meta.dtype "int64" (token ids) reads input_0.i64; float32 (the default) reads input_0.f32.
  const int64 = meta.dtype === 'int64';
  const buf = fs.readFileSync(path.join(dir, int64 ? 'input_0.i64' : 'input_0.f32'));
  const copy = new Uint8Array(buf.length);
  copy.set(buf);
  const x = int64 ? new BigInt64Array(copy.buffer) : new Float32Array(copy.buffer);
  const result = await session.run({ [meta.input]: new ort.Tensor(int64 ? 'int64' : 'float32', x, meta.shape) });
  const outputs = [];
  meta.outputs.forEach((name, k) => {
    const y = result[name];
    if (y.type !== 'float32') throw new Error(`output ${name} is ${y.type}, expected float32`);
    fs.writeFileSync(path.join(dir, `ort_output_${k}.f32`), Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength));
    outputs.push({ name, shape: y.dims });
  });
  fs.writeFileSync(path.join(dir, 'ort.json'), JSON.stringify({ outputs }));
}

main().catch((e) => {
  console.error(e.message || e);
  process.exit(1);
});

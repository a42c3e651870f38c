'use strict';
// Run an ONNX model once in onnxruntime-node and save its first output as float32 .npy,
// feeding float16 when the model's input is float16 (keep_io_types=false outputs).
//
//   node interop/onnxout/run.js MODEL.onnx INPUT.npy OUT.npy [float16]
//
// ORT_OPT_LEVEL sets graphOptimizationLevel (default "all"); ORT_OUTPUT names the output to
// save (default the first).
// Prints {"output": ..., "shape": [...], "type": ...}.

const path = require('path');
const ort = require(path.join(__dirname, '../node_modules/onnxruntime-node'));
const { readNpy, writeNpyF32 } = require('../../scripts/fixtures/npy');

// f32ToF16 rounds to nearest even (IEEE 754 binary16), subnormals and infinities included.
function f32ToF16(values) {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    f[0] = values[i];
    const x = u[0];
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    if (exp === 0xff) { out[i] = sign | 0x7c00 | (mant ? 0x200 : 0); continue; }
    let e = exp - 127 + 15;
    if (e >= 0x1f) { out[i] = sign | 0x7c00; continue; }
    if (e <= 0) {
      if (e < -10) { out[i] = sign; continue; }
      mant |= 0x800000;
      const shift = 14 - e;
      let h = mant >>> shift;
      const rem = mant & ((1 << shift) - 1);
      const half = 1 << (shift - 1);
      if (rem > half || (rem === half && (h & 1))) h++;
      out[i] = sign | h;
      continue;
    }
    let h = (e << 10) | (mant >>> 13);
    const rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
    out[i] = sign | h;
  }
  return out;
}

function f16ToF32(bits) {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i];
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const m = h & 0x3ff;
    if (e === 0) out[i] = s * m * 2 ** -24;
    else if (e === 0x1f) out[i] = m ? NaN : s * Infinity;
    else out[i] = s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return out;
}

async function main() {
  const [modelPath, inputPath, outPath, inType] = process.argv.slice(2);
  if (!outPath) {
    console.error('usage: node interop/onnxout/run.js MODEL.onnx INPUT.npy OUT.npy [float16]');
    process.exit(2);
  }
  const x = readNpy(inputPath);
  const session = await ort.InferenceSession.create(modelPath, { graphOptimizationLevel: process.env.ORT_OPT_LEVEL || 'all' });
  const feed = inType === 'float16'
    ? new ort.Tensor('float16', f32ToF16(x.data), x.shape)
    : new ort.Tensor(x.ort, x.data, x.shape);
  const result = await session.run({ [session.inputNames[0]]: feed });
  const name = process.env.ORT_OUTPUT || session.outputNames[0];
  const y = result[name];
  if (!y) throw new Error(`the model has no output ${name} (has ${session.outputNames.join(', ')})`);
  let data = y.data;
  if (y.type === 'float16') {
    data = data instanceof Uint16Array ? f16ToF32(data) : Float32Array.from(data);
  } else if (y.type !== 'float32') {
    throw new Error(`output ${name} is ${y.type}`);
  }
  writeNpyF32(outPath, y.dims, data);
  console.log(JSON.stringify({ output: outPath, shape: y.dims, type: y.type }));
}

main().catch((e) => {
  console.error(e.message || e);
  process.exit(1);
});

'use strict';
// Output SQNR of a quantized model against its float model, both run by onnxruntime-node on
// the same calibration data, one sample per run (all float outputs compared).
//
//   node interop/static/ort-sqnr.js FLOAT.onnx QUANT.onnx DATA [OUT:IN:d0,d1,...]
//
// DATA is calib.npy (first axis = samples, fed to the first input), calib.npz (arrays by input
// name, first axis = samples) or a folder of one .npz per sample (arrays fed as they are). A
// model whose first input has a fixed batch size is fed that many samples per run. The
// optional state OUT:IN:shape runs the samples in order, each model feeding its output OUT
// into its input IN of the next run (zeros of the shape first), as a streaming model runs.
// Prints {"samples": n, "sqnr_db": x}.

const fs = require('fs');
const path = require('path');
const ort = require(path.join(__dirname, '../node_modules/onnxruntime-node'));
const { readNpy, readNpz } = require('../../scripts/fixtures/npy');

// rows returns samples [i, i+n) of an array whose first axis counts the samples.
function rows(a, i, n) {
  const per = a.shape.slice(1).reduce((x, y) => x * y, 1);
  return { ort: a.ort, shape: [n, ...a.shape.slice(1)], data: a.data.slice(i * per, (i + n) * per) };
}

// samples splits the data into runs: one sample each, or the model's fixed batch (a number
// as the first dimension of its first input); a last partial batch is left out.
function samples(spec, firstInput, batch) {
  if (fs.statSync(spec).isDirectory()) {
    return fs.readdirSync(spec).filter((f) => f.endsWith('.npz')).sort().map((f) => readNpz(path.join(spec, f)));
  }
  const arrays = spec.endsWith('.npz') ? readNpz(spec) : { [firstInput]: readNpy(spec) };
  const n = Object.values(arrays)[0].shape[0];
  const out = [];
  for (let i = 0; i + batch <= n; i += batch) {
    const s = {};
    for (const [k, a] of Object.entries(arrays)) s[k] = rows(a, i, batch);
    out.push(s);
  }
  return out;
}

async function runAll(modelPath, data, state) {
  const session = await ort.InferenceSession.create(modelPath);
  const outs = [];
  let carry = state ? new ort.Tensor('float32', new Float32Array(state.shape.reduce((a, b) => a * b, 1)), state.shape) : null;
  for (const s of data) {
    const feed = {};
    for (const name of session.inputNames) {
      if (state && name === state.into) {
        feed[name] = carry;
        continue;
      }
      const a = s[name];
      if (!a) throw new Error(`${modelPath}: the data has no array for input ${name}`);
      feed[name] = new ort.Tensor(a.ort, a.data, a.shape);
    }
    const res = await session.run(feed);
    if (state) carry = res[state.out];
    const flat = [];
    for (const name of session.outputNames) {
      if (res[name].type === 'float32') flat.push(...res[name].data);
    }
    outs.push(flat);
  }
  return outs;
}

async function main() {
  const [floatPath, quantPath, dataSpec, stateSpec] = process.argv.slice(2);
  if (!dataSpec) {
    console.error('usage: node interop/static/ort-sqnr.js FLOAT.onnx QUANT.onnx DATA [OUT:IN:d0,d1,...]');
    process.exit(2);
  }
  let state = null;
  if (stateSpec) {
    const [out, into, dims] = stateSpec.split(':');
    state = { out, into, shape: dims.split(',').map(Number) };
  }
  const meta = (await ort.InferenceSession.create(floatPath)).inputMetadata[0];
  const batch = meta.shape && typeof meta.shape[0] === 'number' && meta.shape[0] > 0 ? meta.shape[0] : 1;
  const data = samples(dataSpec, meta.name, batch);
  const f = await runAll(floatPath, data, state);
  const q = await runAll(quantPath, data, state);
  let sig = 0;
  let noise = 0;
  for (let i = 0; i < f.length; i++) {
    if (f[i].length !== q[i].length) throw new Error(`sample ${i}: ${f[i].length} float outputs, ${q[i].length} quantized`);
    for (let j = 0; j < f[i].length; j++) {
      const d = f[i][j] - q[i][j];
      sig += f[i][j] * f[i][j];
      noise += Number.isFinite(d) ? d * d : Infinity;
    }
  }
  const sqnr = noise === 0 ? Infinity : 10 * Math.log10(sig / noise);
  console.log(JSON.stringify({ runs: f.length, batch, sqnr_db: Number.isFinite(sqnr) ? sqnr : String(sqnr) }));
}

main().catch((e) => {
  console.error(e.message || e);
  process.exit(1);
});

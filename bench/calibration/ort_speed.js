'use strict';
// fp32 inference speed of onnxruntime-node on the same data calibration runs on:
//
//   node bench/calibration/ort_speed.js MODEL.onnx DATA.npy BATCH
//
// Runs every sample once, BATCH at a time (session creation excluded), with ORT's default
// threading, and prints {"samples", "seconds", "samples_per_s"}.

const path = require('path');
const ort = require(path.join(__dirname, '../../interop/node_modules/onnxruntime-node'));
const { readNpy } = require(path.join(__dirname, '../../scripts/fixtures/npy'));

async function main() {
  const [modelPath, dataPath, batchArg] = process.argv.slice(2);
  const batch = parseInt(batchArg || '32', 10);
  const x = readNpy(dataPath);
  const session = await ort.InferenceSession.create(modelPath);
  const n = x.shape[0];
  const per = x.data.length / n;
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i += batch) {
    const k = Math.min(batch, n - i);
    const t = new ort.Tensor('float32', x.data.subarray(i * per, (i + k) * per), [k, ...x.shape.slice(1)]);
    await session.run({ [session.inputNames[0]]: t });
  }
  const sec = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(JSON.stringify({ samples: n, seconds: sec, samples_per_s: n / sec }));
}

main().catch((e) => {
  console.error(e.message || e);
  process.exit(1);
});

'use strict';
// Latency of onnxruntime-node (graph optimization "all", default threading) on one model:
//
//   node bench/qdq/ort_latency.js MODEL.onnx DATA.npy BATCH [OPTIMIZED.onnx]
//
// Runs batches of BATCH consecutive samples of DATA (wrapping around) for about a second
// after a warm-up, and prints {"batch", "runs", "ms_per_run", "samples_per_s", "ops"}:
// the median latency of one run and the op types of the graph ORT actually executes (read
// back from the optimized model it writes to OPTIMIZED.onnx, or a temporary file), which
// shows whether the QDQ pairs were fused into QLinearConv, QGemm, QLinearMatMul, ...

const fs = require('fs');
const os = require('os');
const path = require('path');
const ort = require(path.join(__dirname, '../../interop/node_modules/onnxruntime-node'));
const { readNpy } = require(path.join(__dirname, '../../scripts/fixtures/npy'));

// opTypes lists the op types of the nodes of a serialized ModelProto's graph, counted. It
// walks the protobuf wire format: ModelProto.graph is field 7, GraphProto.node field 1,
// NodeProto.op_type field 4, NodeProto.domain field 7.
function opTypes(buf) {
  function* fields(b) {
    let i = 0;
    const varint = () => {
      let v = 0, s = 1;
      for (;;) {
        const c = b[i++];
        v += (c & 0x7f) * s;
        if (c < 0x80) return v;
        s *= 128;
      }
    };
    while (i < b.length) {
      const key = varint(), field = Math.floor(key / 8), wire = key & 7;
      if (wire === 0) { yield [field, varint()]; }
      else if (wire === 1) { i += 8; }
      else if (wire === 5) { i += 4; }
      else if (wire === 2) { const n = varint(); yield [field, b.subarray(i, i + n)]; i += n; }
      else throw new Error(`wire type ${wire}`);
    }
  }
  const counts = {};
  for (const [f, graph] of fields(buf)) {
    if (f !== 7) continue;
    for (const [g, node] of fields(graph)) {
      if (g !== 1) continue;
      let op = '', domain = '';
      for (const [n, v] of fields(node)) {
        if (n === 4) op = Buffer.from(v).toString();
        if (n === 7) domain = Buffer.from(v).toString();
      }
      const key = domain && domain !== 'ai.onnx' ? `${domain}.${op}` : op;
      counts[key] = (counts[key] || 0) + 1;
    }
  }
  return counts;
}

async function main() {
  const [modelPath, dataPath, batchArg, optArg] = process.argv.slice(2);
  const batch = parseInt(batchArg || '1', 10);
  const x = readNpy(dataPath);
  const n = x.shape[0];
  const per = x.data.length / n;
  const optimized = optArg || path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ortlat-')), 'optimized.onnx');
  const session = await ort.InferenceSession.create(modelPath, {
    graphOptimizationLevel: 'all',
    optimizedModelFilePath: optimized,
  });
  const feeds = [];
  for (let i = 0; i < 8; i++) {
    const buf = new Float32Array(batch * per);
    for (let k = 0; k < batch; k++) {
      const s = (i * batch + k) % n;
      buf.set(x.data.subarray(s * per, (s + 1) * per), k * per);
    }
    feeds.push({ [session.inputNames[0]]: new ort.Tensor('float32', buf, [batch, ...x.shape.slice(1)]) });
  }
  for (let i = 0; i < 20; i++) await session.run(feeds[i % feeds.length]);
  const times = [];
  const until = process.hrtime.bigint() + 1000000000n;
  while (times.length < 30 || (process.hrtime.bigint() < until && times.length < 100000)) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds[times.length % feeds.length]);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  const ms = times[Math.floor(times.length / 2)];
  const ops = opTypes(fs.readFileSync(optimized));
  if (!optArg) fs.rmSync(path.dirname(optimized), { recursive: true, force: true });
  console.log(JSON.stringify({ batch, runs: times.length, ms_per_run: ms, samples_per_s: (batch * 1000) / ms, ops }));
}

main().catch((e) => {
  console.error(e.message || e);
  process.exit(1);
});

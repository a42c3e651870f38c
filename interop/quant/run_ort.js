'use strict';
// Run every model listed in DIR/cases.json through onnxruntime-node and write
// DIR/ort.json: {id: hex of the float32 codes} (or {id: "error: ..."}).
//
//   node interop/quant/run_ort.js DIR

const fs = require('fs');
const path = require('path');
const ort = require(path.join(__dirname, '../node_modules/onnxruntime-node'));

async function main() {
  const dir = process.argv[2];
  const { cases } = JSON.parse(fs.readFileSync(path.join(dir, 'cases.json'), 'utf8'));
  const out = { ort: require(path.join(__dirname, '../node_modules/onnxruntime-node/package.json')).version, codes: {} };
  for (const c of cases) {
    try {
      const buf = Buffer.from(c.x, 'hex');
      const x = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
      const s = await ort.InferenceSession.create(c.model);
      const r = await s.run({ x: new ort.Tensor('float32', Float32Array.from(x), c.shape) });
      out.codes[c.id] = Buffer.from(r.codes.data.buffer, r.codes.data.byteOffset, r.codes.data.byteLength).toString('hex');
    } catch (e) {
      out.codes[c.id] = 'error: ' + (e.message || e);
    }
  }
  fs.writeFileSync(path.join(dir, 'ort.json'), JSON.stringify(out));
}

main().catch((e) => {
  console.error(e.message || e);
  process.exit(1);
});

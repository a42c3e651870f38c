// Runs a GGUF file in llama.cpp (node-llama-cpp's prebuilt CPU binaries, never built or
// downloaded here) and compares its next-token distributions with a PyTorch reference
// (scripts/fixtures/llama_folder.py's reference.json): top-1 agreement over every position,
// the largest probability difference, the mean KL divergence, and the tokenization of the
// reference's test sentence.
//
//   node gguf/llama-logits.mjs MODEL.gguf reference.json MIN_TOP1 MAX_DP
//
// Prints one JSON line; exits 1 when top-1 agreement is under MIN_TOP1 (a fraction) or
// the largest probability difference over MAX_DP, 2 when llama.cpp cannot be loaded.
import fs from "node:fs";
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

const [modelPath, refPath, minTop1, maxDP] = process.argv.slice(2);
const ref = JSON.parse(fs.readFileSync(refPath, "utf8"));

let llama;
try {
    llama = await getLlama({build: "never", gpu: false, logLevel: LlamaLogLevel.error, progressLogs: false});
} catch (err) {
    console.error(`llama-logits: cannot load llama.cpp's prebuilt binaries: ${err.message}`);
    process.exit(2);
}
const model = await llama.loadModel({modelPath, gpuLayers: 0});
const context = await model.createContext({contextSize: 256, batchSize: 256, threads: 2});
const sequence = context.getSequence();
const options = {temperature: 1, topK: 0, topP: 1, minP: 0};
const input = ref.ids.map((t) => [t, {generateNext: {probabilities: true, options}}]);
const out = await sequence.controlledEvaluate(input);

const nVocab = ref.logits[0].length;
let agree = 0, maxDiff = 0, klSum = 0;
for (let i = 0; i < ref.ids.length; i++) {
    const row = ref.logits[i];
    const m = Math.max(...row);
    const e = row.map((x) => Math.exp(x - m));
    const z = e.reduce((a, b) => a + b, 0);
    const p = e.map((x) => x / z);
    const q = new Array(nVocab).fill(0);
    for (const [tok, prob] of out[i].next.probabilities) q[tok] = prob;
    let best = 0;
    for (let t = 1; t < nVocab; t++) if (q[t] > q[best]) best = t;
    if (best === ref.top1[i]) agree++;
    for (let t = 0; t < nVocab; t++) {
        maxDiff = Math.max(maxDiff, Math.abs(p[t] - q[t]));
        if (p[t] > 0) klSum += p[t] * Math.log(p[t] / Math.max(q[t], 1e-30));
    }
}
const tokens = Array.from(model.tokenize(ref.text, false));
const result = {
    model: modelPath, positions: ref.ids.length, top1_agreement: agree / ref.ids.length,
    max_prob_diff: maxDiff, mean_kl: klSum / ref.ids.length,
    tokenization_matches: JSON.stringify(tokens) === JSON.stringify(ref.text_ids),
};
console.log(JSON.stringify(result));
await context.dispose();
await model.dispose();
if (!result.tokenization_matches) {
    console.error(`llama-logits: llama.cpp tokenizes the test sentence as ${JSON.stringify(tokens)}, the reference as ${JSON.stringify(ref.text_ids)}`);
}
process.exit(result.top1_agreement >= Number(minTop1) && maxDiff <= Number(maxDP) && result.tokenization_matches ? 0 : 1);

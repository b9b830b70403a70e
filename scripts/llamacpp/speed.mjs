// llama.cpp decode speed on a GGUF file (node-llama-cpp 3.21.1, CPU, prebuilt binaries), for the
// side-by-side tables of docs/BENCHMARKS.md. usage: node speed.mjs FILE.gguf N [threads]
//   -> {"decode_tokens": N, "decode_ms": ..., "tokens_per_s": ...} (greedy tokens after 4 prompt ids;
//   the clock starts at the first generated token, so prompt processing is not counted)
import {getLlama, LlamaLogLevel} from "node-llama-cpp";
const [file, n, threads] = process.argv.slice(2);
const llama = await getLlama({gpu: false, logLevel: LlamaLogLevel.error, build: "never"});
const model = await llama.loadModel({modelPath: file});
const ctx = await model.createContext({contextSize: 512, batchSize: 64, threads: Number(threads ?? 2)});
const seq = ctx.getSequence();
let count = 0, t0 = 0;
for await (const t of seq.evaluate([1, 2, 3, 4], {temperature: 0})) {
  if (count === 0) t0 = performance.now();
  count++;
  if (count > Number(n)) break;
}
const ms = performance.now() - t0;
console.log(JSON.stringify({decode_tokens: Number(n), decode_ms: ms, tokens_per_s: Number(n) / ms * 1000}));
process.exit(0);

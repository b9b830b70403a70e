// llama.cpp greedy tokens for a GGUF file (node-llama-cpp 3.21.1, CPU, prebuilt binaries).
// usage: TEXT="..." node greedy.mjs FILE.gguf N id,id,...  -> {"tokenize": ids of TEXT, "greedy": N ids after the given prompt ids}
import {getLlama, LlamaLogLevel} from "node-llama-cpp";
const [file, n, ids] = process.argv.slice(2);
const llama = await getLlama({gpu: false, logLevel: LlamaLogLevel.error, build: "never"});
const model = await llama.loadModel({modelPath: file});
const ctx = await model.createContext({contextSize: Math.min(64, model.trainContextSize), batchSize: 64, threads: 2});
const seq = ctx.getSequence();
const prompt = ids.split(",").map(Number);
const out = [];
for await (const t of seq.evaluate(prompt, {temperature: 0})) {
  out.push(t);
  if (out.length >= Number(n)) break;
}
const text = process.env.TEXT;
console.log(JSON.stringify({tokenize: text ? Array.from(model.tokenize(text, false)) : null, greedy: out}));
process.exit(0);

/**
 * One onnxruntime peer in its own process (onnxruntime-web fixes its thread
 * count when it first loads): `node onnx-child.js web|node THREADS MODEL X RUNS`
 * prints {"median_ms": ..., "cpu_ms": ..., "y": base64 f32} (median wall and CPU time).
 */
import { readFileSync } from "node:fs";
import { median, timeWallCpu } from "../tune/timing.js";

const [runtime, threadsText, modelPath, xPath, runsText] = process.argv.slice(2);
const threads = Number(threadsText);
const x = new Float32Array(new Uint8Array(readFileSync(xPath)).buffer);
const modelBytes = new Uint8Array(readFileSync(modelPath));

type Session = {
  run(feeds: Record<string, unknown>): Promise<Record<string, { data: Float32Array }>>;
};
let session: Session;
let feed: Record<string, unknown>;
if (runtime === "web") {
  const ort = await import("onnxruntime-web");
  ort.env.wasm.numThreads = threads;
  session = (await ort.InferenceSession.create(modelBytes, {
    executionProviders: ["wasm"],
  })) as unknown as Session;
  feed = { x: new ort.Tensor("float32", x, [1, x.length]) };
} else {
  const ort = await import("onnxruntime-node");
  session = (await ort.InferenceSession.create(modelBytes, {
    executionProviders: ["cpu"],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
  })) as unknown as Session;
  feed = { x: new ort.Tensor("float32", x, [1, x.length]) };
}
const y = (await session.run(feed)).y.data;
const times = await timeWallCpu(() => session.run(feed), Number(runsText));
process.stdout.write(
  JSON.stringify({
    median_ms: median(times.wall),
    cpu_ms: median(times.cpu),
    y: Buffer.from(y.buffer, y.byteOffset, y.byteLength).toString("base64"),
  }),
);

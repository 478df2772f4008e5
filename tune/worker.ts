/** A tuner worker thread: measures the jobs it is sent on the tensors it is sent (tune/sweep.ts). */
import { parentPort, workerData } from "node:worker_threads";
import { measureVariant, type MeasureOptions } from "./measure.js";
import type { ToWorker, FromWorker } from "./sweep.js";
import type { Variant } from "./variants.js";

const { variants, options } = workerData as { variants: Variant[]; options: MeasureOptions };
const tensors = new Map<number, { name: string; shape: number[]; data: Float32Array }>();
const port = parentPort!;

port.on("message", (msg: ToWorker) => {
  if (msg.kind === "tensor") {
    tensors.set(msg.id, { name: msg.name, shape: msg.shape, data: new Float32Array(msg.buffer) });
    return;
  }
  if (msg.kind === "drop") {
    tensors.delete(msg.id);
    return;
  }
  const t = tensors.get(msg.tensor)!;
  const v = variants[msg.variant];
  measureVariant(v, t.name, { dtype: "f32", shape: t.shape, data: t.data }, options, msg.shipped).then(
    (m) => port.postMessage({ kind: "done", job: msg.job, measurement: m } satisfies FromWorker),
    (e: unknown) =>
      port.postMessage({ kind: "failed", job: msg.job, reason: e instanceof Error ? e.message : String(e) } satisfies FromWorker),
  );
});

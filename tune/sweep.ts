/**
 * Runs every (tensor, variant) pair: in worker threads when more than one job
 * runs at a time, else in this thread. Tensors are loaded when first needed and
 * shared with the workers through a SharedArrayBuffer (one copy however many
 * workers), and dropped once their last job is done. Aborting keeps every
 * finished measurement.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { measureVariant, timingSpec, type Measurement, type MeasureOptions, type ShippedTiming } from "./measure.js";
import { emitKernels } from "./shipped.js";
import type { Variant } from "./variants.js";

export interface TensorSource {
  readonly name: string;
  readonly shape: readonly number[];
  /** the values as float32 (widened from f16/bf16 by the reader) */
  load(): Promise<Float32Array>;
}

export interface Failure {
  readonly variant: string;
  readonly tensor: string;
  readonly reason: string;
}

export interface SweepOptions extends MeasureOptions {
  /** jobs at a time; 1 runs in this thread */
  readonly jobs: number;
  readonly signal?: AbortSignal;
  /** after each finished job; `label` names it (variant on tensor) */
  onProgress?(done: number, total: number, label: string): void;
}

export interface SweepResult {
  readonly measurements: Measurement[];
  readonly failures: Failure[];
  /** pairs never measured because the sweep was aborted */
  readonly notRun: number;
  readonly interrupted: boolean;
}

export type ToWorker =
  | { kind: "tensor"; id: number; name: string; shape: number[]; buffer: SharedArrayBuffer }
  | { kind: "drop"; id: number }
  | { kind: "job"; job: number; tensor: number; variant: number; shipped?: ShippedTiming };

export type FromWorker =
  | { kind: "done"; job: number; measurement: Measurement }
  | { kind: "failed"; job: number; reason: string };

export const defaultJobs = () => Math.max(1, availableParallelism());

interface Job {
  readonly tensor: number;
  readonly variant: number;
}

/** The worker script next to this module: compiled .js, or .ts through tsx when running from source. */
function spawn(variants: readonly Variant[], options: MeasureOptions): Worker {
  const workerData = { variants, options };
  if (!import.meta.url.endsWith(".ts")) return new Worker(new URL("./worker.js", import.meta.url), { workerData });
  // from source (vitest, tsx): load the TypeScript worker through tsx's loader
  const url = new URL("./worker.ts", import.meta.url).href;
  const boot = `import("tsx/esm/api").then((t) => { t.register(); return import(${JSON.stringify(url)}); })`;
  return new Worker(boot, { eval: true, workerData });
}

export async function sweep(
  tensors: readonly TensorSource[],
  variants: readonly Variant[],
  opts: SweepOptions,
): Promise<SweepResult> {
  const jobs: Job[] = tensors.flatMap((_, tensor) => variants.map((_, variant) => ({ tensor, variant })));
  const measure: MeasureOptions = {
    backend: opts.backend,
    seed: opts.seed,
    runs: opts.runs,
    ...(opts.timingElements ? { timingElements: opts.timingElements } : {}),
  };
  const results: (Measurement | undefined)[] = new Array(jobs.length);
  const failures: Failure[] = [];
  let done = 0;
  const fail = (j: number, reason: string) =>
    failures.push({ variant: variants[jobs[j].variant].name, tensor: tensors[jobs[j].tensor].name, reason });
  const finished = (j: number) => {
    done++;
    const { tensor, variant } = jobs[j];
    opts.onProgress?.(done, jobs.length, tensors.length > 1 ? `${variants[variant].name} on ${tensors[tensor].name}` : variants[variant].name);
  };

  const remaining = tensors.map(() => variants.length);
  const loads = new Map<number, Promise<Float32Array>>();
  const loadShared = (t: number) => {
    let p = loads.get(t);
    if (!p) {
      p = tensors[t].load().then((data) => {
        const shared = new Float32Array(new SharedArrayBuffer(data.byteLength));
        shared.set(data);
        return shared;
      });
      loads.set(t, p);
    }
    return p;
  };

  if (Math.min(opts.jobs, jobs.length) <= 1) {
    for (let j = 0; j < jobs.length && !opts.signal?.aborted; j++) {
      const { tensor: t, variant } = jobs[j];
      try {
        const data = await loadShared(t);
        const x = { dtype: "f32" as const, shape: tensors[t].shape, data };
        results[j] = await measureVariant(variants[variant], tensors[t].name, x, measure);
      } catch (e) {
        if (!(e instanceof Error)) throw e;
        fail(j, e.message);
      }
      if (--remaining[t] === 0) loads.delete(t);
      finished(j);
      // let a pending Ctrl-C be seen between jobs
      await new Promise((r) => setImmediate(r));
    }
    return collect();
  }

  await new Promise<void>((resolveAll) => {
    let next = 0;
    let live = 0;
    const workers: Worker[] = [];
    const holds = new Map<Worker, Set<number>>();
    const stop = () => {
      for (const w of workers) void w.terminate();
      resolveAll();
    };
    opts.signal?.addEventListener("abort", stop, { once: true });
    const release = (t: number) => {
      if (--remaining[t] > 0) return;
      loads.delete(t);
      for (const [w, held] of holds)
        if (held.delete(t)) w.postMessage({ kind: "drop", id: t } satisfies ToWorker);
    };
    const dispatch = async (w: Worker) => {
      if (opts.signal?.aborted) return;
      if (next >= jobs.length) {
        holds.delete(w);
        void w.terminate();
        if (--live === 0) stop();
        return;
      }
      const j = next++;
      const { tensor: t, variant } = jobs[j];
      const held = holds.get(w)!;
      if (!held.has(t)) {
        try {
          const data = await loadShared(t);
          const shape = [...tensors[t].shape];
          w.postMessage({ kind: "tensor", id: t, name: tensors[t].name, shape, buffer: data.buffer as SharedArrayBuffer } satisfies ToWorker);
          held.add(t);
        } catch (e) {
          fail(j, e instanceof Error ? e.message : String(e));
          release(t);
          finished(j);
          return dispatch(w);
        }
      }
      let kernels: ShippedTiming | undefined;
      if (opts.backend === "wasm" && opts.runs > 0) {
        try {
          kernels = await shipFor(variant);
        } catch (e) {
          fail(j, e instanceof Error ? e.message : String(e));
          release(t);
          finished(j);
          return dispatch(w);
        }
      }
      if (opts.signal?.aborted) return;
      current.set(w, j);
      w.postMessage({ kind: "job", job: j, tensor: t, variant, ...(kernels ? { shipped: kernels } : {}) } satisfies ToWorker);
    };
    const current = new Map<Worker, number>();
    // WASM kernels for timing are emitted here, once per variant, and shipped to whichever worker runs it
    const shipped = new Map<number, Promise<ShippedTiming>>();
    const shipFor = (variant: number) => {
      let p = shipped.get(variant);
      if (!p) {
        const v = variants[variant];
        p = Promise.all([emitKernels(timingSpec(v, "quantize")), emitKernels(timingSpec(v, "dequantize"))]).then(
          ([quantize, dequantize]) => ({ quantize, dequantize }),
        );
        shipped.set(variant, p);
      }
      return p;
    };
    const n = Math.min(opts.jobs, jobs.length);
    for (let i = 0; i < n; i++) {
      const w = spawn(variants, measure);
      workers.push(w);
      holds.set(w, new Set());
      live++;
      w.on("message", (msg: FromWorker) => {
        current.delete(w);
        if (msg.kind === "done") results[msg.job] = msg.measurement;
        else fail(msg.job, msg.reason);
        release(jobs[msg.job].tensor);
        finished(msg.job);
        void dispatch(w);
      });
      w.on("error", (e) => {
        // the thread died (out of memory, a bug): its job fails, the others go on
        const j = current.get(w);
        if (j !== undefined) {
          fail(j, `worker thread failed: ${e.message}`);
          release(jobs[j].tensor);
          finished(j);
        }
        holds.delete(w);
        if (--live === 0) stop();
      });
      void dispatch(w);
    }
  });
  return collect();

  function collect(): SweepResult {
    const measurements = results.filter((m): m is Measurement => m !== undefined);
    return {
      measurements,
      failures,
      notRun: jobs.length - done,
      interrupted: opts.signal?.aborted ?? false,
    };
  }
}

/**
 * A compiled plan run from buffers that live in wasm memory, split by rows
 * across Node worker_threads over one shared `WebAssembly.Memory`.
 *
 * Every plan buffer is allocated in the memory once (`buffers`), so a run
 * copies nothing. With `threads` > 1 the module is emitted with a shared
 * memory and instantiated again in each worker; a run gives each thread a band
 * of rows [a, b) of the 2-D tensor and every thread runs all of the plan's
 * steps on its band (views of the same buffers at the band's offsets, scalars
 * of the band's shape). That is exactly the whole-tensor result when no value
 * depends on other rows: blocks along the last axis (or GEMV rows), no tensor
 * scale, no double quantization, deterministic rounding (stochastic rounding
 * draws by absolute element index), and band edges on whole packed bytes.
 * Anything else runs on the calling thread alone. Threads are handed work
 * through a small shared control block (Atomics.wait / notify), so a run is
 * synchronous. The band rules and call lists are plan-bands.ts's; browsers
 * run the same bands in Web Workers (web-threads.ts).
 */
import { Worker } from "node:worker_threads";
import { availableParallelism } from "node:os";
import type { BufferData } from "../../ir/kernel-eval.js";
import type { Plan } from "../../passes/lower.js";
import {
  bands,
  binaryenEmit,
  instantiatePlan,
  layoutPlanBuffers,
  runCalls,
  type EmitPlan,
} from "./plan-bands.js";
import { checkShape } from "../host.js";

export { bands };

type Exported = (...args: number[]) => void;

const CONTROL_BYTES = 8192;

/** The worker: instantiate, then run call lists posted in the control block until told to stop. */
const WORKER = `
const { workerData } = require("node:worker_threads");
const { module, memory, control, names } = workerData;
const fns = new WebAssembly.Instance(module, { env: { memory } }).exports;
const state = new Int32Array(control, 0, 2);
const job = new Float64Array(control, 8);
for (;;) {
  Atomics.wait(state, 0, 0);
  if (state[0] === 3) break;
  try {
    let at = 0;
    const calls = job[at++];
    for (let c = 0; c < calls; c++) {
      const fn = fns[names[job[at++]]];
      const n = job[at++];
      const args = Array.from(job.subarray(at, at + n));
      at += n;
      fn(...args);
    }
    state[1] = 0;
  } catch (e) {
    state[1] = 1;
  }
  Atomics.store(state, 0, 2);
  Atomics.notify(state, 0);
  Atomics.wait(state, 0, 2);
}
`;

export class WasmPlanRunner {
  private heapEnd: number;
  private readonly views = new Map<string, BufferData>();

  private constructor(
    readonly plan: Plan,
    readonly shape: readonly number[],
    readonly memory: WebAssembly.Memory,
    private readonly fns: Record<string, Exported>,
    private readonly workers: { worker: Worker; state: Int32Array; job: Float64Array }[],
    reservedBytes: number,
  ) {
    this.heapEnd = reservedBytes;
  }

  /**
   * Compiles `plan` for tensors of `shape`, with `threads` threads (1 = the
   * calling thread only; 0 = all cores). `emit` makes the module (default:
   * binaryen); pass one that returns prebuilt modules, as the generated bindings do.
   */
  static async create(
    plan: Plan,
    shape: readonly number[],
    threads = 1,
    emit: EmitPlan = binaryenEmit,
  ): Promise<WasmPlanRunner> {
    checkShape(plan, shape);
    const n = threads === 0 ? availableParallelism() : threads;
    // one thread per band: fewer rows than threads leave no thread idle
    const split =
      n > 1 && typeof SharedArrayBuffer !== "undefined" ? bands(plan, shape, n).length : 1;
    const parallel = split > 1;
    const artifact = await emit(plan, parallel);
    const { module, memory, instance } = await instantiatePlan(artifact, parallel);
    const names = plan.kernels.map((k) => k.name);
    const workers = [];
    for (let w = 1; w < split; w++) {
      const control = new SharedArrayBuffer(CONTROL_BYTES);
      const worker = new Worker(WORKER, {
        eval: true,
        workerData: { module, memory, control, names },
      });
      worker.unref();
      workers.push({
        worker,
        state: new Int32Array(control, 0, 2),
        job: new Float64Array(control, 8),
      });
    }
    const runner = new WasmPlanRunner(
      plan,
      shape,
      memory,
      instance.exports as unknown as Record<string, Exported>,
      workers,
      artifact.reservedBytes,
    );
    runner.allocate();
    return runner;
  }

  /** threads a run uses */
  get threads(): number {
    return this.workers.length + 1;
  }

  /** every plan buffer, by name: fill the inputs, read the outputs (they live in wasm memory) */
  get buffers(): Readonly<Record<string, BufferData>> {
    return Object.fromEntries(this.views);
  }

  private allocate(): void {
    const { views, end } = layoutPlanBuffers(this.plan, this.shape, this.memory, this.heapEnd);
    for (const [name, view] of views) this.views.set(name, view);
    this.heapEnd = end;
  }

  /** Runs every step of the plan on the buffers, split across the threads. */
  run(seed = 0): void {
    const calls = runCalls(this.plan, this.shape, this.views, this.threads, seed);
    calls.slice(1).forEach((list, w) => {
      const { state, job } = this.workers[w];
      let at = 0;
      job[at++] = list.length;
      for (const { name, args } of list) {
        job[at++] = this.plan.kernels.findIndex((k) => k.name === name);
        job[at++] = args.length;
        for (const x of args) job[at++] = x;
      }
      Atomics.store(state, 0, 1);
      Atomics.notify(state, 0);
    });
    let failed: unknown;
    try {
      for (const { name, args } of calls[0]) this.fns[name](...args);
    } catch (e) {
      failed = e;
    }
    let workerFailed = false;
    for (let w = 0; w < calls.length - 1; w++) {
      const { state } = this.workers[w];
      Atomics.wait(state, 0, 1);
      workerFailed ||= state[1] !== 0;
      Atomics.store(state, 0, 0);
      Atomics.notify(state, 0);
    }
    if (failed)
      throw new Error(`plan ${this.plan.spec.name} trapped: ${(failed as Error).message}`);
    if (workerFailed) throw new Error(`plan ${this.plan.spec.name} trapped in a worker thread`);
  }

  /** Stops the worker threads. */
  async close(): Promise<void> {
    for (const { worker, state } of this.workers) {
      Atomics.store(state, 0, 3);
      Atomics.notify(state, 0);
      await worker.terminate();
    }
  }
}

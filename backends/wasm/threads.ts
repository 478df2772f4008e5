/**
 * A compiled plan run from buffers that live in wasm memory, split by rows
 * across Node worker_threads over one shared `WebAssembly.Memory`.
 *
 * Every plan buffer is allocated in the memory once per shape (`buffers`), so
 * a run copies nothing; `reshape` lays them out for another shape on the same
 * memory and workers. With `threads` > 1 the module is emitted with a shared
 * memory and instantiated again in each worker (a shared memory grows for every
 * thread without detaching, so workers never restart); a run gives each thread a band
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
import type { Plan } from "../../passes/lower.js";
import {
  bands,
  binaryenEmit,
  instantiatePlan,
  ShapedBuffers,
  type EmitPlan,
} from "./plan-bands.js";
import { checkShape } from "../host.js";

export { bands };

type Exported = (...args: number[]) => void;

/**
 * Float64 slots of a worker's control block for `plan`: the call count, then
 * per step its kernel's index, its argument count and the arguments. A band's
 * call list has one call per step whatever the shape (plan-bands.ts's
 * bandCalls), so the block is sized once from the plan (a fixed 8 KiB block of
 * 1023 slots overflowed silently on plans of many steps).
 */
export function controlSlots(plan: Plan): number {
  let slots = 1;
  for (const step of plan.steps) {
    if ("host" in step) continue; // never run by a plan runner (bandCalls refuses them)
    const k = plan.kernels.find((x) => x.name === step.kernel);
    slots += 2 + (k?.params.length ?? 0);
  }
  return slots;
}

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

export class WasmPlanRunner extends ShapedBuffers {
  private readonly workers: { worker: Worker; state: Int32Array; job: Float64Array }[] = [];
  /** worker threads started so far: a new shape starts more only when it has more bands than any before */
  workersStarted = 0;

  /** the kernel functions a worker may call, by the index its call list gives */
  private readonly names: readonly string[];

  private constructor(
    plan: Plan,
    memory: WebAssembly.Memory,
    private readonly module: WebAssembly.Module,
    private readonly fns: Record<string, Exported>,
    asked: number,
    /** whether the memory is shared, so that worker threads can run bands */
    private readonly shared: boolean,
    reservedBytes: number,
    plans: readonly Plan[],
  ) {
    super(plan, memory, reservedBytes, asked, plans);
    this.names = [...new Set(plans.flatMap((p) => p.kernels.map((k) => k.name)))];
  }

  /**
   * Compiles `plan` for tensors of `shape`, with `threads` threads (1 = the
   * calling thread only; 0 = all cores). `emit` makes the module (default:
   * binaryen); pass one that returns prebuilt modules, as the generated bindings do.
   * `others`: more plans of the same module the runner may switch to (`use`),
   * with the same memory and workers (emit's module must hold their kernels).
   */
  static async create(
    plan: Plan,
    shape: readonly number[],
    threads = 1,
    emit: EmitPlan = binaryenEmit,
    others: readonly Plan[] = [],
  ): Promise<WasmPlanRunner> {
    checkShape(plan, shape);
    const asked = threads === 0 ? availableParallelism() : threads;
    // shared whenever threads may run, so that a later shape that splits needs no new memory
    const shared = asked > 1 && typeof SharedArrayBuffer !== "undefined";
    const artifact = await emit(plan, shared);
    const { module, memory, instance } = await instantiatePlan(artifact, shared);
    const runner = new WasmPlanRunner(
      plan,
      memory,
      module,
      instance.exports as unknown as Record<string, Exported>,
      asked,
      shared,
      artifact.reservedBytes,
      [plan, ...others.filter((p) => p !== plan)],
    );
    runner.reshape(shape);
    return runner;
  }

  /**
   * Makes runs be for tensors of `shape`, keeping the workers and the memory:
   * the buffers are laid out again (the memory grows in place when they need
   * more; a shared memory grows for every thread without detaching anything),
   * and a worker is started only when the shape has more bands than threads
   * started so far. Arrays from `buffers` before are stale afterwards (detached,
   * when the memory is not shared): read `buffers` again.
   */
  reshape(shape: readonly number[]): void {
    this.layOut(shape, this.shared);
    while (this.workers.length < this.threads - 1) this.startWorker();
  }

  private startWorker(): void {
    // 8 bytes of state (two Int32s), then the call list of the largest plan
    const slots = Math.max(...this.plans.map(controlSlots));
    const control = new SharedArrayBuffer(8 + 8 * slots);
    const names = this.names;
    const worker = new Worker(WORKER, {
      eval: true,
      workerData: { module: this.module, memory: this.memory, control, names },
    });
    worker.unref();
    this.workers.push({
      worker,
      state: new Int32Array(control, 0, 2),
      job: new Float64Array(control, 8),
    });
    this.workersStarted++;
  }

  /** Runs every step of the plan on the buffers, split across the threads. */
  run(seed = 0): void {
    const calls = this.calls(seed);
    // checked before any worker is posted, so that no worker is left running
    for (const [w, list] of calls.slice(1).entries()) {
      const slots = list.reduce((n, c) => n + 2 + c.args.length, 1);
      if (slots > this.workers[w].job.length)
        throw new Error(
          `qkc bug: plan ${this.plan.spec.name}'s call list needs ${slots} control slots, the block has ${this.workers[w].job.length}`,
        );
    }
    calls.slice(1).forEach((list, w) => {
      const { state, job } = this.workers[w];
      let at = 0;
      job[at++] = list.length;
      for (const { name, args } of list) {
        job[at++] = this.names.indexOf(name);
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

  /** Stops the worker threads; later runs and reshapes are refused. */
  async close(): Promise<void> {
    this.closed = true;
    for (const { worker, state } of this.workers) {
      Atomics.store(state, 0, 3);
      Atomics.notify(state, 0);
      await worker.terminate();
    }
  }
}

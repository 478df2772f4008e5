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
 * synchronous. Browsers: Web Workers could do the same when cross-origin
 * isolated; not done yet.
 */
import { Worker } from "node:worker_threads";
import { availableParallelism } from "node:os";
import type { ElemType, Kernel } from "../../ir/kernel.js";
import type { BufferData } from "../../ir/kernel-eval.js";
import type { Plan } from "../../passes/lower.js";
import { bufferLength } from "../host.js";
import { geometryScalars } from "../../passes/lower/geometry.js";
import { packedLength } from "../../passes/lower/pack.js";
import { blockGrid } from "../../ir/interpret/blocks.js";
import { elementCount } from "../../ir/tensor.js";
import { ALIGN, MAX_PAGES, PAGE_BYTES } from "./abi.js";

type Exported = (...args: number[]) => void;

const BYTES: Record<ElemType, number> = { f32: 4, u32: 4, u16: 2, u8: 1, i8: 1 };
const VIEW = {
  f32: Float32Array,
  u32: Uint32Array,
  u16: Uint16Array,
  u8: Uint8Array,
  i8: Int8Array,
};
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

  /** Compiles `plan` for tensors of `shape`, with `threads` threads (1 = the calling thread only; 0 = all cores). */
  static async create(plan: Plan, shape: readonly number[], threads = 1): Promise<WasmPlanRunner> {
    const n = threads === 0 ? availableParallelism() : threads;
    const parallel =
      n > 1 && typeof SharedArrayBuffer !== "undefined" && bands(plan, shape, n).length > 1;
    const { emitWasm } = await import("./emit.js"); // binaryen loads on first use only
    const artifact = emitWasm(plan.kernels, { sharedMemory: parallel });
    const module = await WebAssembly.compile(new Uint8Array(artifact.binary));
    const memory = new WebAssembly.Memory({
      initial: artifact.reservedBytes / PAGE_BYTES,
      maximum: MAX_PAGES,
      ...(parallel ? { shared: true } : {}),
    });
    const instance = await WebAssembly.instantiate(module, { env: { memory } });
    const names = plan.kernels.map((k) => k.name);
    const workers = [];
    for (let w = 1; parallel && w < n; w++) {
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
    const lengths = this.plan.buffers.map((b) => bufferLength(this.plan, b.length, this.shape));
    const total = this.plan.buffers.reduce(
      (t, b, j) => t + Math.ceil((lengths[j] * BYTES[b.elem]) / ALIGN) * ALIGN,
      this.heapEnd + 16,
    );
    const pages = Math.ceil(total / PAGE_BYTES) - this.memory.buffer.byteLength / PAGE_BYTES;
    if (pages > 0) this.memory.grow(pages);
    this.plan.buffers.forEach((b, j) => {
      this.views.set(b.name, new VIEW[b.elem](this.memory.buffer, this.heapEnd, lengths[j]));
      this.heapEnd += Math.ceil((lengths[j] * BYTES[b.elem]) / ALIGN) * ALIGN;
    });
  }

  /** Runs every step of the plan on the buffers, split across the threads. */
  run(seed = 0): void {
    const split = bands(this.plan, this.shape, this.threads);
    const work = split.length > 1 ? split : [[0, this.shape[0] ?? 1] as const];
    const calls = work.map(([a, b]) => this.calls(a, b, seed, work.length > 1));
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

  /** the kernel calls of rows [a, b) */
  private calls(a: number, b: number, seed: number, band: boolean) {
    const { plan } = this;
    const shape = band ? [b - a, ...this.shape.slice(1)] : [...this.shape];
    const cols = this.shape.slice(1).reduce((x, y) => x * y, 1);
    const offset = (name: string) => {
      const decl = plan.buffers.find((x) => x.name === name)!;
      const view = this.views.get(name)!;
      if (!band) return view.byteOffset;
      const per: Record<string, number> = {
        elements: a * cols,
        blocks: a * blockGrid([1, cols], plan.spec.scheme.block).count,
        packed: packedLength(plan.codeLayout, a * cols),
        rows: a,
        columns: 0,
      };
      return view.byteOffset + per[decl.length] * BYTES[decl.elem];
    };
    const scalarsOf: Record<string, Record<string, number>> = {
      geometry: {
        ...geometryScalars(plan.spec.scheme.block, shape),
        seed_lo: seed >>> 0,
        seed_hi: Math.floor(seed / 2 ** 32) >>> 0,
      },
      count: { n: elementCount(shape) },
      matrix: { N: shape[0], K: shape[1] },
    };
    return plan.steps.map((step) => {
      if ("host" in step) throw new Error("qkc bug: host steps are not run by WasmPlanRunner");
      const k = plan.kernels.find((x) => x.name === step.kernel) as Kernel;
      const scalars = scalarsOf[step.scalars];
      if (!scalars)
        throw new Error(
          `plan ${plan.spec.name}: steps of ${step.scalars} scalars are not supported here`,
        );
      const args = k.params.map((p) =>
        p.kind === "buffer" ? offset(step.bind[p.name]) : scalars[p.name],
      );
      return { name: k.name, args };
    });
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

/**
 * Row bands for `threads` threads, or one band when the plan's rows are not
 * independent (see the file comment) or the tensor is too small to share.
 */
export function bands(
  plan: Plan,
  shape: readonly number[],
  threads: number,
): (readonly [number, number])[] {
  const s = plan.spec.scheme;
  const rows = shape[0] ?? 1;
  const cols = shape.slice(1).reduce((x, y) => x * y, 1);
  const one = [[0, rows] as const];
  const lastAxis =
    s.block.kind === "axis" && (s.block.axis === -1 || s.block.axis === shape.length - 1);
  if (shape.length !== 2 || threads < 2 || !lastAxis || s.tensorScale || s.doubleQuant) return one;
  if (s.rounding.mode === "stochastic" || plan.steps.some((x) => "host" in x)) return one;
  if (
    plan.buffers.some(
      (b) => !["elements", "blocks", "packed", "rows", "columns"].includes(b.length),
    )
  )
    return one;
  if (
    plan.spec.kind !== "gemv" &&
    plan.buffers.some((b) => b.length === "rows" || b.length === "columns")
  )
    return one;
  if ((cols * 6) % 8 !== 0 || rows * cols < 1 << 16) return one;
  const n = Math.min(threads, rows);
  return Array.from(
    { length: n },
    (_, t) => [Math.floor((rows * t) / n), Math.floor((rows * (t + 1)) / n)] as const,
  );
}

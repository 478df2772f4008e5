/**
 * A compiled plan run in a browser, split by rows across Web Workers over one
 * shared `WebAssembly.Memory`: the browser twin of threads.ts, with the same
 * bands (plan-bands.ts), buffer layout and call lists.
 *
 * A browser's main thread may not block in Atomics.wait, so `run` is async:
 * each worker is posted its band's calls, the calling thread runs the first
 * band itself, then awaits the workers' replies. Workers come from a Blob URL
 * (no extra file to serve). Shared memory needs a cross-origin isolated page
 * (served with `Cross-Origin-Opener-Policy: same-origin` and
 * `Cross-Origin-Embedder-Policy: require-corp`); without it, or when the plan's
 * rows cannot be split, everything runs on the calling thread and `threads`
 * says 1, with the reason in `why`.
 */
import type { Plan } from "../../passes/lower.js";
import {
  binaryenEmit,
  instantiatePlan,
  ShapedBuffers,
  whyOneBand,
  type EmitPlan,
  type KernelCall,
} from "./plan-bands.js";
import { checkShape } from "../host.js";

export type { EmitPlan };

type Exported = (...args: number[]) => void;

/** How a run went: the threads it used, and why only one when so. */
export interface WebRunResult {
  readonly threads: number;
  readonly why?: string;
}

/** The worker: instantiate on the first message, then run each posted call list and reply. */
const WORKER = `
let exports;
onmessage = async ({ data }) => {
  if (data.module) {
    exports = WebAssembly.instantiate(data.module, { env: { memory: data.memory } }).then((i) => i.exports);
    return;
  }
  try {
    const fns = await exports;
    for (const { name, args } of data.calls) fns[name](...args);
    postMessage({});
  } catch (e) {
    postMessage({ error: String((e && e.message) || e) });
  }
};
`;

/** Why this page cannot share a wasm memory with workers, or undefined when it can. */
export function sharingBlocker(): string | undefined {
  const g = globalThis as { crossOriginIsolated?: boolean; Worker?: unknown };
  if (typeof SharedArrayBuffer === "undefined" || g.crossOriginIsolated !== true)
    return "the page is not cross-origin isolated (serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)";
  if (typeof g.Worker === "undefined") return "Web Workers are missing";
  return undefined;
}

export class WebPlanRunner extends ShapedBuffers {
  private running = false;
  private readonly workers: Worker[] = [];
  /** why a run of the current shape uses one thread only, when it does */
  why: string | undefined;
  /** Web Workers started so far: a new shape starts more only when it has more bands than any before */
  workersStarted = 0;

  private constructor(
    plan: Plan,
    memory: WebAssembly.Memory,
    private readonly module: WebAssembly.Module,
    private readonly fns: Record<string, Exported>,
    asked: number,
    /** why no run can share the memory (the page), when so */
    private readonly blocker: string | undefined,
    reservedBytes: number,
    plans: readonly Plan[],
  ) {
    super(plan, memory, reservedBytes, asked, plans);
  }

  /**
   * Compiles `plan` for tensors of `shape` with `threads` threads (1 = the
   * calling thread only; 0 = navigator.hardwareConcurrency). `emit` makes the
   * module (default: binaryen in the page, via emit.ts); pass a function that
   * returns modules built ahead of time to keep binaryen out of the page.
   * `others`: more plans of the same module the runner may switch to (`use`).
   */
  static async create(
    plan: Plan,
    shape: readonly number[],
    threads = 1,
    emit: EmitPlan = binaryenEmit,
    others: readonly Plan[] = [],
  ): Promise<WebPlanRunner> {
    checkShape(plan, shape);
    const asked =
      threads === 0
        ? ((globalThis as { navigator?: Navigator }).navigator?.hardwareConcurrency ?? 1)
        : threads;
    const blocker = asked > 1 ? sharingBlocker() : undefined;
    // shared whenever threads may run, so that a later shape that splits needs no new memory
    const shared = asked > 1 && blocker === undefined;
    const artifact = await emit(plan, shared);
    const { module, memory, instance } = await instantiatePlan(artifact, shared);
    const runner = new WebPlanRunner(
      plan,
      memory,
      module,
      instance.exports as unknown as Record<string, Exported>,
      asked,
      blocker,
      artifact.reservedBytes,
      [plan, ...others.filter((p) => p !== plan)],
    );
    runner.reshape(shape);
    return runner;
  }

  /**
   * Makes runs be for tensors of `shape`, keeping the workers and the memory
   * (threads.ts's `reshape`): arrays from `buffers` before are stale afterwards.
   */
  reshape(shape: readonly number[]): void {
    if (this.running)
      throw new Error(`plan ${this.plan.spec.name}: a run is in progress; await it first`);
    checkShape(this.plan, shape);
    const why = this.blocker ?? whyOneBand(this.plan, shape, this.asked);
    this.layOut(shape, why === undefined); // may refuse the shape: `why` stays the kept shape's
    this.why = why;
    if (this.workers.length >= this.threads - 1) return;
    const url = URL.createObjectURL(new Blob([WORKER], { type: "text/javascript" }));
    while (this.workers.length < this.threads - 1) {
      const worker = new Worker(url);
      worker.postMessage({ module: this.module, memory: this.memory });
      this.workers.push(worker);
      this.workersStarted++;
    }
    URL.revokeObjectURL(url);
  }

  /** Runs every step of the plan on the buffers, split across the threads. */
  async run(seed = 0): Promise<WebRunResult> {
    if (this.running)
      throw new Error(`plan ${this.plan.spec.name}: a run is in progress; await it first`);
    this.running = true;
    try {
      const calls = this.calls(seed);
      const replies = calls.slice(1).map((list, w) => this.post(this.workers[w], list));
      let failed: unknown;
      try {
        for (const { name, args } of calls[0]) this.fns[name](...args);
      } catch (e) {
        failed = e;
      }
      const errors = (await Promise.all(replies)).filter((e) => e !== undefined);
      if (failed)
        throw new Error(`plan ${this.plan.spec.name} trapped: ${(failed as Error).message}`);
      if (errors.length)
        throw new Error(`plan ${this.plan.spec.name} trapped in a worker: ${errors[0]}`);
      return { threads: calls.length, ...(this.why ? { why: this.why } : {}) };
    } finally {
      this.running = false;
    }
  }

  /** Posts one band's calls to `worker`; resolves to its error message, if any. */
  private post(worker: Worker, calls: KernelCall[]): Promise<string | undefined> {
    return new Promise((resolve) => {
      worker.onmessage = (e: MessageEvent<{ error?: string }>) => resolve(e.data.error);
      worker.onerror = (e) => resolve(e.message || "the worker failed to start");
      worker.postMessage({ calls });
    });
  }

  /** Stops the workers; later runs and reshapes are refused. */
  close(): void {
    this.closed = true;
    for (const w of this.workers) w.terminate();
  }
}

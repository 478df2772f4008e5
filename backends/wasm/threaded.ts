/**
 * A compiled kernel set run on threads with one API in Node and in browsers:
 * what the generated bindings' `loadThreaded` returns.
 *
 * Each call runs one plan. When its rows split into bands (plan-bands.ts) and
 * the platform can share a wasm memory, it runs on a plan runner kept for the
 * plan (reshaped to each call's shape): worker_threads in Node (threads.ts),
 * Web Workers in a cross-origin isolated page (web-threads.ts). Otherwise it
 * runs on the calling thread, and the result says why. Both runners get the
 * module from its bytes (the shared-memory twin is made by rewriting one byte,
 * shared-memory.ts), so binaryen is never loaded. Calls are queued: a runner's
 * buffers live in wasm memory, inputs are copied in and outputs copied out, one
 * call at a time. One runner serves every kernel request of the module: a call
 * of another request or shape switches it (`use`, `reshape`) instead of
 * starting another, so one memory and one set of workers serve them all.
 */
import type { BufferData } from "../../ir/kernel-eval.js";
import type { Plan } from "../../passes/lower.js";
import { bufferLength, runPlan } from "../host.js";
import { whyOneBand, type EmitPlan } from "./plan-bands.js";
import { WasmKernels } from "./runtime.js";
import { withSharedMemory } from "./shared-memory.js";
import { ARRAY_NAME, arrayKind } from "../typed-arrays.js";
import { sharingBlocker, WebPlanRunner } from "./web-threads.js";

/** What a threaded call returns: the plan's outputs, the threads it used, and why only one when so. */
export interface ThreadedResult<Outputs = Record<string, BufferData>> {
  readonly outputs: Outputs;
  readonly threads: number;
  readonly why?: string;
}

/** What the two plan runners have in common. */
interface PlanThreads {
  readonly plan: Plan;
  readonly shape: readonly number[];
  readonly threads: number;
  readonly buffers: Readonly<Record<string, BufferData>>;
  readonly workersStarted: number;
  reshape(shape: readonly number[]): void;
  use(plan: Plan, shape: readonly number[]): void;
  run(seed: number): unknown;
  close(): unknown;
}

type NodeThreads = typeof import("./threads.js");

// variables, so that bundlers leave Node's runner (and node: modules) out of browser bundles
const NODE_THREADS = "./threads.js";
const NODE_OS = "node:os";

const inNode = (): boolean =>
  typeof (globalThis as { process?: { versions?: { node?: unknown } } }).process?.versions?.node ===
  "string";

export class KernelThreads {
  /** the one runner, made by the first call that splits */
  private shared: Promise<PlanThreads> | undefined;
  /** plan runners made so far: one serves every kernel request and shape (after a close or a failed start, the next call makes another) */
  runnersStarted = 0;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly plans: Readonly<Record<string, Plan>>,
    private readonly single: WasmKernels,
    private readonly emit: EmitPlan,
    /** threads a call may use */
    readonly threads: number,
    /** why every call runs on one thread here (the platform or the machine), when it does */
    private readonly oneThread: string | undefined,
    private readonly node: NodeThreads | undefined,
  ) {}

  /**
   * Instantiates `wasm` (a module qkc emitted for `plans`, by kernel request
   * name) to run on `threads` threads (0 = every core).
   */
  static async load(
    wasm: ArrayBuffer | Uint8Array,
    plans: Readonly<Record<string, Plan>>,
    threads = 0,
  ): Promise<KernelThreads> {
    if (!Number.isInteger(threads) || threads < 0)
      throw new RangeError(`threads must be a whole number >= 0 (0 = every core), not ${threads}`);
    const binary = wasm instanceof Uint8Array ? wasm : new Uint8Array(wasm);
    const single = await WasmKernels.load(binary);
    let shared: Uint8Array | undefined;
    const emit: EmitPlan = (_plan, isShared) => ({
      binary: isShared ? (shared ??= withSharedMemory(binary)) : binary,
      reservedBytes: single.reservedBytes,
    });
    const node = inNode() ? ((await import(NODE_THREADS)) as NodeThreads) : undefined;
    const cores = node
      ? (await import(NODE_OS)).availableParallelism()
      : ((globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator
          ?.hardwareConcurrency ?? 1);
    const n = threads || cores;
    const oneThread =
      n < 2
        ? threads === 0
          ? "this machine has one core"
          : undefined
        : node
          ? typeof SharedArrayBuffer === "undefined"
            ? "SharedArrayBuffer is missing, so worker threads cannot share the memory"
            : undefined
          : sharingBlocker();
    return new KernelThreads(plans, single, emit, n, oneThread, node);
  }

  /** Runs kernel request `name` on `inputs` for a tensor of `shape` (for gemv: W's [N, K]). */
  run(
    name: string,
    inputs: Readonly<Record<string, BufferData>>,
    shape: readonly number[],
    seed = 0,
  ): Promise<ThreadedResult> {
    const plan = this.plans[name];
    if (!plan)
      return Promise.reject(
        new Error(`these kernels have no ${name}; they have ${Object.keys(this.plans).join(", ")}`),
      );
    const next = this.queue.then(() => this.call(plan, inputs, shape, seed));
    this.queue = next.catch(() => {});
    return next;
  }

  private async call(
    plan: Plan,
    inputs: Readonly<Record<string, BufferData>>,
    shape: readonly number[],
    seed: number,
  ): Promise<ThreadedResult> {
    const why = this.oneThread ?? whyOneBand(plan, shape, this.threads);
    if (why !== undefined)
      return {
        outputs: runPlan(plan, shape, { ...inputs }, this.single.execute, seed),
        threads: 1,
        why,
      };
    const runner = await this.runner(plan, shape);
    for (const b of plan.buffers) {
      if (b.role !== "input") continue;
      const given = inputs[b.name];
      const length = bufferLength(plan, b.length, shape);
      if (given === undefined)
        throw new Error(`kernel ${plan.spec.name}: input '${b.name}' is missing`);
      if (arrayKind(given) !== ARRAY_NAME[b.elem])
        throw new TypeError(
          `kernel ${plan.spec.name}: input '${b.name}' holds ${b.elem}; pass a ${ARRAY_NAME[b.elem]}, not a ${arrayKind(given)}`,
        );
      if (given.length !== length)
        throw new RangeError(
          `kernel ${plan.spec.name}: input '${b.name}' has ${given.length} values, the shape needs ${length}`,
        );
      runner.buffers[b.name].set(given as never);
    }
    await runner.run(seed);
    const outputs = Object.fromEntries(
      plan.buffers
        .filter((b) => b.role === "output")
        .map((b) => [b.name, runner.buffers[b.name].slice()]),
    );
    return { outputs, threads: runner.threads };
  }

  /**
   * The runner, switched to `plan` and `shape` (threads.ts's `use` and
   * `reshape`): the workers and the shared memory stay, the memory grows in
   * place when the buffers need more.
   */
  private async runner(plan: Plan, shape: readonly number[]): Promise<PlanThreads> {
    if (this.shared) {
      const runner = await this.shared;
      if (runner.plan !== plan) runner.use(plan, shape);
      else if (JSON.stringify(runner.shape) !== JSON.stringify(shape)) runner.reshape(shape);
      return runner;
    }
    const others = Object.values(this.plans);
    const runner: Promise<PlanThreads> = this.node
      ? this.node.WasmPlanRunner.create(plan, shape, this.threads, this.emit, others)
      : WebPlanRunner.create(plan, shape, this.threads, this.emit, others);
    this.runnersStarted++;
    this.shared = runner;
    runner.catch(() => {
      if (this.shared === runner) this.shared = undefined; // a failed start is not kept
    });
    return runner;
  }

  /** Worker threads the runner has started (for tests: a shape or kernel change starts none). */
  async workersStarted(): Promise<number> {
    return (await this.shared?.catch(() => undefined))?.workersStarted ?? 0;
  }

  /** Stops every worker; later calls start new ones. */
  async close(): Promise<void> {
    await this.queue;
    const runner = this.shared;
    this.shared = undefined;
    await (await runner?.catch(() => undefined))?.close();
  }
}

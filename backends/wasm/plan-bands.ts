/**
 * What a threaded plan run needs on any platform: where each plan buffer lives
 * in wasm memory, which row bands may run apart (`bands`), and the kernel
 * calls of one band, and what both runners keep of a shape (`ShapedBuffers`).
 * Node's runner (threads.ts) and the browser's (web-threads.ts) both build on
 * it; nothing here touches a thread.
 */
import type { ElemType, Kernel } from "../../ir/kernel.js";
import type { BufferData } from "../../ir/kernel-eval.js";
import type { Plan } from "../../passes/lower.js";
import { bufferLength, checkShape } from "../host.js";
import { geometryScalars } from "../../passes/lower/geometry.js";
import { packedLength } from "../../passes/lower/pack.js";
import { blockGrid } from "../../ir/interpret/blocks.js";
import { elementCount } from "../../ir/tensor.js";
import { padTo } from "../../ir/layout/swizzle.js";
import { ALIGN, MAX_PAGES, PAGE_BYTES } from "./abi.js";
import { loadEmitter } from "./load-emitter.js";
import type { EmitOptions } from "./emit.js";
import { compileModule } from "./compile-module.js";

const BYTES: Record<ElemType, number> = { f32: 4, u32: 4, u16: 2, u8: 1, i8: 1 };
const VIEW = {
  f32: Float32Array,
  u32: Uint32Array,
  u16: Uint16Array,
  u8: Uint8Array,
  i8: Int8Array,
};

/** One export call: the kernel's name and its arguments (byte offsets and scalars). */
export interface KernelCall {
  readonly name: string;
  readonly args: number[];
}

/** The emitted module for the plan's kernels, with or without a shared memory import. */
export type EmitPlan = (
  plan: Plan,
  shared: boolean,
) =>
  | { readonly binary: Uint8Array; readonly reservedBytes: number }
  | Promise<{ readonly binary: Uint8Array; readonly reservedBytes: number }>;

/** Emits the plan's kernels with binaryen and these options (relaxed SIMD, say), loaded on first use. */
export const binaryenEmitWith =
  (options: Omit<EmitOptions, "sharedMemory">): EmitPlan =>
  async (plan, shared) =>
    (await loadEmitter()).emitWasm(plan.kernels, { ...options, sharedMemory: shared });

/** Emits the plan's kernels with binaryen, loaded on first use (Node, or a page that bundles binaryen itself). */
export const binaryenEmit: EmitPlan = binaryenEmitWith({});

/** Compiles an emitted plan module and instantiates it over a new memory, shared when `shared`. */
export async function instantiatePlan(
  artifact: { readonly binary: Uint8Array; readonly reservedBytes: number },
  shared: boolean,
): Promise<{
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  instance: WebAssembly.Instance;
}> {
  const module = await compileModule(artifact.binary);
  const memory = new WebAssembly.Memory({
    initial: artifact.reservedBytes / PAGE_BYTES,
    maximum: MAX_PAGES,
    ...(shared ? { shared: true } : {}),
  });
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  return { module, memory, instance };
}

/**
 * Lays every plan buffer out in `memory` from byte `start` on (16-byte
 * aligned), growing it once (or saying which shape does not fit); returns the
 * typed arrays and the end offset.
 */
export function layoutPlanBuffers(
  plan: Plan,
  shape: readonly number[],
  memory: WebAssembly.Memory,
  start: number,
): { views: Map<string, BufferData>; end: number } {
  const lengths = plan.buffers.map((b) => bufferLength(plan, b.length, shape));
  const padded = (j: number) =>
    Math.ceil((lengths[j] * BYTES[plan.buffers[j].elem]) / ALIGN) * ALIGN;
  const total = plan.buffers.reduce((t, _, j) => t + padded(j), start + 16);
  const pages = Math.ceil(total / PAGE_BYTES) - memory.buffer.byteLength / PAGE_BYTES;
  if (pages > 0)
    try {
      memory.grow(pages);
    } catch (e) {
      throw new Error(
        `plan ${plan.spec.name}: the buffers of a [${shape}] tensor need ${total} bytes of wasm memory, more than it can grow to; pass fewer rows a call (${(e as Error).message})`,
      );
    }
  const views = new Map<string, BufferData>();
  let end = start;
  plan.buffers.forEach((b, j) => {
    views.set(b.name, new VIEW[b.elem](memory.buffer, end, lengths[j]));
    end += padded(j);
  });
  return { views, end };
}

/**
 * The kernel calls that run every step of `plan` on rows [a, b) of a tensor of
 * `shape` whose buffers are `views`; with `band` false, on the whole tensor.
 */
export function bandCalls(
  plan: Plan,
  shape: readonly number[],
  views: ReadonlyMap<string, BufferData>,
  [a, b]: readonly [number, number],
  seed: number,
  band: boolean,
): KernelCall[] {
  const own = band ? [b - a, ...shape.slice(1)] : [...shape];
  const cols = shape.slice(1).reduce((x, y) => x * y, 1);
  const offset = (name: string) => {
    const decl = plan.buffers.find((x) => x.name === name)!;
    const view = views.get(name)!;
    if (!band) return view.byteOffset;
    const per: Record<string, number> = {
      elements: a * cols,
      blocks: a * blockGrid([1, cols], plan.spec.scheme.block).count,
      packed: packedLength(plan.codeLayout, a * cols),
      rows: a,
      columns: 0,
      // bands start on whole 128-row tiles (see bands), each tile row padTo(C, 4) * 128 bytes
      blocks_128x4: a * padTo(blockGrid([1, cols], plan.spec.scheme.block).count, 4),
    };
    return view.byteOffset + per[decl.length] * BYTES[decl.elem];
  };
  const scalarsOf: Record<string, Record<string, number>> = {
    geometry: {
      ...geometryScalars(plan.spec.scheme.block, own),
      seed_lo: seed >>> 0,
      seed_hi: Math.floor(seed / 2 ** 32) >>> 0,
    },
    count: { n: elementCount(own) },
    matrix: { N: own[0], K: own[1] },
  };
  return plan.steps.map((step) => {
    if ("host" in step) throw new Error("qkc bug: host steps are not run by a wasm plan runner");
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

/** The calls of every band of a run: one list per thread (one list when the plan does not split). */
export function runCalls(
  plan: Plan,
  shape: readonly number[],
  views: ReadonlyMap<string, BufferData>,
  threads: number,
  seed: number,
): KernelCall[][] {
  const split = bands(plan, shape, threads);
  const work = split.length > 1 ? split : [[0, shape[0] ?? 1] as const];
  return work.map((rows) => bandCalls(plan, shape, views, rows, seed, work.length > 1));
}

/**
 * Why rows of `plan` on a tensor of `shape` cannot be split into bands for
 * `threads` threads (see threads.ts's file comment), or undefined when they can.
 */
export function whyOneBand(
  plan: Plan,
  shape: readonly number[],
  threads: number,
): string | undefined {
  const s = plan.spec.scheme;
  const cols = shape.slice(1).reduce((x, y) => x * y, 1);
  const lastAxis =
    s.block.kind === "axis" && (s.block.axis === -1 || s.block.axis === shape.length - 1);
  if (threads < 2) return `${threads} thread asked`;
  if (shape.length !== 2)
    return `the tensor is ${shape.length}-D; bands split the rows of 2-D tensors`;
  if (!lastAxis) return "blocks do not lie along the last axis, so a block spans rows";
  if (s.tensorScale) return "a tensor scale depends on every row";
  if (s.doubleQuant || plan.steps.some((x) => "host" in x))
    return "double quantization's scales depend on every row";
  if (s.rounding.mode === "stochastic")
    return "stochastic rounding draws by absolute element index";
  if (
    plan.buffers.some(
      (b) =>
        !["elements", "blocks", "blocks_128x4", "packed", "rows", "columns"].includes(b.length),
    ) ||
    (plan.spec.kind !== "gemv" &&
      plan.buffers.some((b) => b.length === "rows" || b.length === "columns"))
  )
    return "a buffer's length does not follow the rows";
  // a band starts at a whole byte when a row's codes fill whole bytes (8 rows' codes always do)
  if (
    plan.buffers.some((b) => b.length === "packed") &&
    packedLength(plan.codeLayout, 8 * cols) !== 8 * packedLength(plan.codeLayout, cols)
  )
    return `rows of ${cols} elements could split a packed byte`;
  if (shape[0] * cols < 1 << 16)
    return `${shape[0] * cols} elements are too few to share (64K at least)`;
  if (bandRows(plan) > 1 && shape[0] <= bandRows(plan))
    return `${shape[0]} rows are one tile of the 128x4 scale layout (bands are whole tiles)`;
  return undefined;
}

/**
 * Row bands for `threads` threads, or one band when `whyOneBand` says the rows
 * may not be split. Bands of a plan with 128x4 scales are whole 128-row tiles
 * (the last one ragged), so no tile is cut.
 */
export function bands(
  plan: Plan,
  shape: readonly number[],
  threads: number,
): (readonly [number, number])[] {
  const rows = shape[0] ?? 1;
  if (whyOneBand(plan, shape, threads) !== undefined) return [[0, rows] as const];
  const unit = bandRows(plan);
  const units = Math.ceil(rows / unit);
  const n = Math.min(threads, units);
  const edge = (t: number) => Math.min(rows, unit * Math.floor((units * t) / n));
  return Array.from({ length: n }, (_, t) => [edge(t), edge(t + 1)] as const);
}

/**
 * The rows a band start is a multiple of: 128 when the scales are in the 128x4
 * layout (a band of whole 128-row tiles is a tensor of its own in that layout,
 * its tile rows a slice of the whole one's), 1 otherwise.
 */
function bandRows(plan: Plan): number {
  return plan.buffers.some((b) => b.length === "blocks_128x4") ? 128 : 1;
}

/**
 * A plan's buffers laid out in one wasm memory for the shape runs are for,
 * laid out again for another shape (`layOut`) in the same memory, and the
 * bands a run of that shape uses: what both plan runners keep. A runner made
 * for several plans of one module switches between them (`use`), keeping its
 * memory and workers.
 */
export abstract class ShapedBuffers {
  private views = new Map<string, BufferData>();
  private current: readonly number[] = [];
  private split = 1;
  private active: Plan;
  /** set by the runner's close(): its workers are stopped, so no run may wait on them */
  protected closed = false;

  protected constructor(
    plan: Plan,
    readonly memory: WebAssembly.Memory,
    private readonly reservedBytes: number,
    /** threads a run may use */
    protected readonly asked: number,
    /** every plan the runner may run (`plan` first): plans of the one module it instantiated */
    readonly plans: readonly Plan[],
  ) {
    this.active = plan;
  }

  /** the plan runs are of */
  get plan(): Plan {
    return this.active;
  }

  /** lays the buffers out for `shape` (and starts workers when it has more bands) */
  abstract reshape(shape: readonly number[]): void;

  /**
   * Makes runs be of `plan` (one of `plans`) for tensors of `shape`, keeping
   * the memory and the workers; a shape it refuses leaves the plan and shape
   * before. Arrays from `buffers` before are stale afterwards.
   */
  use(plan: Plan, shape: readonly number[]): void {
    if (!this.plans.includes(plan))
      throw new Error(
        `plan ${plan.spec.name}: this runner was made for ${this.plans.map((p) => p.spec.name).join(", ")}; create one for it`,
      );
    const before = this.active;
    this.active = plan;
    try {
      this.reshape(shape);
    } catch (e) {
      this.active = before;
      throw e;
    }
  }

  /** the tensor shape runs are for */
  get shape(): readonly number[] {
    return this.current;
  }

  /** threads a run of the current shape uses: one per band */
  get threads(): number {
    return this.split;
  }

  /** every plan buffer, by name: fill the inputs, read the outputs (they live in wasm memory) */
  get buffers(): Readonly<Record<string, BufferData>> {
    return Object.fromEntries(this.views);
  }

  /**
   * Lays the buffers out for `shape` from the start of the memory, growing it
   * when they need more; the rows split into bands only when `split`.
   */
  protected layOut(shape: readonly number[], split: boolean): void {
    this.checkOpen();
    checkShape(this.plan, shape);
    const { views } = layoutPlanBuffers(this.plan, shape, this.memory, this.reservedBytes);
    this.views = views;
    this.current = [...shape];
    this.split = split ? bands(this.plan, shape, this.asked).length : 1;
  }

  /** the calls of a run: one list per band */
  protected calls(seed: number): KernelCall[][] {
    this.checkOpen();
    return runCalls(this.plan, this.current, this.views, this.split, seed);
  }

  private checkOpen(): void {
    if (this.closed)
      throw new Error(
        `plan ${this.plan.spec.name}: the runner is closed (its workers stopped); create another`,
      );
  }
}

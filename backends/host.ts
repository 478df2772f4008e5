/**
 * Running a compiled plan from a JavaScript host: buffer sizes from the tensor
 * shape, the call sequence, and scalars. Each backend supplies only `execute`
 * (run one kernel on named typed arrays); the reference evaluator is one too.
 */
import type { ElemType, Kernel } from "../ir/kernel.js";
import { blockGrid } from "../ir/interpret/blocks.js";
import { elementCount } from "../ir/tensor.js";
import { geometryScalars } from "../passes/lower/geometry.js";
import { packedLength } from "../passes/lower/pack.js";
import { scaleShapeProblem, storedScaleShape } from "../ir/layout/scale-placement.js";
import type { KernelStep, LengthRule, Plan } from "../passes/lower.js";
import { doubleQuantOffset } from "../ir/interpret/quantize.js";
import type { BufferData } from "../ir/kernel-eval.js";

export type Execute = (
  kernel: Kernel,
  buffers: Record<string, BufferData>,
  scalars: Record<string, number>,
) => void;

function allocate(elem: ElemType, length: number): BufferData {
  switch (elem) {
    case "f32":
      return new Float32Array(length);
    case "u8":
      return new Uint8Array(length);
    case "i8":
      return new Int8Array(length);
    case "u16":
      return new Uint16Array(length);
    case "u32":
      return new Uint32Array(length);
  }
}

export function bufferLength(plan: Plan, rule: LengthRule, shape: readonly number[]): number {
  const n = elementCount(shape);
  if (rule === "elements") return n;
  if (rule === "tscale") return 3;
  if (rule === "packed") return packedLength(plan.codeLayout, n);
  if (rule === "rows") return shape[0];
  if (rule === "columns") return shape[shape.length - 1];
  if (rule === "one") return 1;
  if (rule === "blocks_128x4") return swizzledScalesLength(plan, shape);
  const blocks = blockGrid(shape, plan.spec.scheme.block).count;
  if (rule === "nested_blocks")
    return blockGrid([blocks], plan.spec.scheme.doubleQuant!.scheme.block).count;
  return blocks;
}

/** Bytes of the 128x4 scale layout of a 2-D tensor: its block grid padded to 128 rows and 4 columns. */
function swizzledScalesLength(plan: Plan, shape: readonly number[]): number {
  const problem = scaleShapeProblem("nvidia_128x4", shape);
  if (problem) throw new RangeError(`kernel ${plan.spec.name}: ${problem}`);
  return elementCount(
    storedScaleShape("nvidia_128x4", blockGrid(shape, plan.spec.scheme.block).gridShape),
  );
}

/** A backend whose kernels complete asynchronously (WebGPU). */
export type AsyncExecute = (
  kernel: Kernel,
  buffers: Record<string, BufferData>,
  scalars: Record<string, number>,
) => Promise<void>;

/** One step of a plan, ready to run: a kernel call on bound buffers, or host work. */
type Call =
  | { kernel: Kernel; bound: Record<string, BufferData>; scalars: Record<string, number> }
  | { host: () => void };

/**
 * Runs every step of `plan` for a tensor of `shape`. `inputs` holds the plan's
 * input buffers by name; the outputs come back by name.
 */
export function runPlan(
  plan: Plan,
  shape: readonly number[],
  inputs: Record<string, BufferData>,
  execute: Execute,
  seed = 0,
): Record<string, BufferData> {
  const { calls, outputs } = prepare(plan, shape, inputs, seed);
  for (const c of calls) {
    if ("host" in c) c.host();
    else execute(c.kernel, c.bound, c.scalars);
  }
  return outputs();
}

/** runPlan for a backend whose kernels are asynchronous: each step starts after the previous one finished. */
export async function runPlanAsync(
  plan: Plan,
  shape: readonly number[],
  inputs: Record<string, BufferData>,
  execute: AsyncExecute,
  seed = 0,
): Promise<Record<string, BufferData>> {
  const { calls, outputs } = prepare(plan, shape, inputs, seed);
  for (const c of calls) {
    if ("host" in c) c.host();
    else await execute(c.kernel, c.bound, c.scalars);
  }
  return outputs();
}

/** Throws when `plan` cannot run on a tensor of `shape` (every runner checks this first). */
export function checkShape(plan: Plan, shape: readonly number[]): void {
  const r = plan.spec.rotate;
  if (r && (shape.at(-1) ?? 1) % r.size !== 0)
    throw new RangeError(
      `kernel ${plan.spec.name}: the last axis has ${shape.at(-1)} elements, not a multiple of the Hadamard size ${r.size}`,
    );
  if (plan.spec.kind === "gemv" && shape.length !== 2)
    throw new RangeError(
      `kernel ${plan.spec.name}: gemv weights must be 2-D [N, K], got [${shape.join(", ")}]`,
    );
}

function prepare(
  plan: Plan,
  shape: readonly number[],
  inputs: Record<string, BufferData>,
  seed: number,
): { calls: Call[]; outputs: () => Record<string, BufferData> } {
  checkShape(plan, shape);
  const buffers: Record<string, BufferData> = {};
  for (const b of plan.buffers) {
    const length = bufferLength(plan, b.length, shape);
    if (b.role === "input") {
      const given = inputs[b.name];
      if (!given) throw new Error(`kernel ${plan.spec.name}: input '${b.name}' is missing`);
      if (given.length !== length)
        throw new RangeError(
          `kernel ${plan.spec.name}: input '${b.name}' has ${given.length} values, the shape needs ${length}`,
        );
      buffers[b.name] = given;
    } else {
      buffers[b.name] = allocate(b.elem, length);
    }
  }
  const geometry = {
    ...geometryScalars(plan.spec.scheme.block, shape),
    seed_lo: seed >>> 0,
    seed_hi: Math.floor(seed / 2 ** 32) >>> 0,
  };
  const blocks = blockGrid(shape, plan.spec.scheme.block).count;
  const nestedScheme = plan.spec.scheme.doubleQuant?.scheme;
  const seedScalars = { seed_lo: geometry.seed_lo, seed_hi: geometry.seed_hi };
  const scalarsOf: Record<KernelStep["scalars"], () => Record<string, number>> = {
    geometry: () => geometry,
    count: () => ({ n: elementCount(shape) }),
    matrix: () => ({ N: shape[0], K: shape[1] }),
    blocks: () => ({ n: blocks }),
    nested: () => ({ ...geometryScalars(nestedScheme!.block, [blocks]), ...seedScalars }),
  };
  const kernels = new Map(plan.kernels.map((k) => [k.name, k]));
  const calls: Call[] = plan.steps.map((step) => {
    if ("host" in step)
      return {
        host: () => {
          const from = new Uint32Array(buffers[step.from] as Uint32Array);
          (buffers[step.to] as Float32Array)[0] = doubleQuantOffset(
            new Float32Array(from.buffer),
            step.mode,
          );
        },
      };
    const bound: Record<string, BufferData> = {};
    for (const [param, buffer] of Object.entries(step.bind)) bound[param] = buffers[buffer];
    return { kernel: kernels.get(step.kernel)!, bound, scalars: scalarsOf[step.scalars]() };
  });
  const outputs = () => {
    const out: Record<string, BufferData> = {};
    for (const b of plan.buffers) if (b.role === "output") out[b.name] = buffers[b.name];
    return out;
  };
  return { calls, outputs };
}

/**
 * CUDA for compiled plans: every kernel of a set of plans in one .cu, with
 * lanes per item chosen from each kernel's scheme (a block of 16 gets 16
 * lanes, 32 or more a warp), and the manifest entries of the kernels.
 */
import type { Kernel } from "../../ir/kernel.js";
import type { BlockShape } from "../../ir/scheme.js";
import type { Plan } from "../../passes/lower.js";
import { emitCuda, type CudaArtifact } from "./emit.js";

const blockLength = (b: BlockShape): number =>
  b.kind === "tile" ? b.rows * b.cols : b.size === "all" ? 32 : b.size;

/** Lanes per item for a plan's kernel: double quantization's `dq_` kernels use the nested scheme. */
export function lanesFor(plans: readonly Plan[]): (k: Kernel) => number {
  const byKernel = new Map<Kernel, number>();
  for (const p of plans)
    for (const k of p.kernels) {
      const nested = p.spec.scheme.doubleQuant;
      const block = nested && k.name.startsWith("dq_") ? nested.scheme.block : p.spec.scheme.block;
      byKernel.set(k, blockLength(block));
    }
  return (k) => byKernel.get(k) ?? 32;
}

/** Kernel names must be unique in one .cu: plans are compiled with distinct spec names. */
export function emitCudaPlans(
  plans: readonly Plan[],
  opts: { title?: string; headerName?: string } = {},
): CudaArtifact {
  const kernels = plans.flatMap((p) => p.kernels);
  const names = new Set<string>();
  for (const k of kernels) {
    if (names.has(k.name))
      throw new Error(`two kernels are named ${k.name}; give the kernel requests distinct names`);
    names.add(k.name);
  }
  const title =
    opts.title ??
    `qkc CUDA kernels for ${[...new Set(plans.map((p) => p.spec.scheme.name))].join(", ")}`;
  return emitCuda(kernels, { ...opts, title, lanes: lanesFor(plans) });
}

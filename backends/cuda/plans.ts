/**
 * CUDA for compiled plans: every kernel of a set of plans in one .cu, with
 * lanes per item chosen from each kernel's scheme (a block of 16 gets 16
 * lanes, 32 or more a warp), and the manifest entries of the kernels.
 */
import type { Kernel } from "../../ir/kernel.js";
import type { BlockShape } from "../../ir/scheme.js";
import type { Plan } from "../../passes/lower.js";
import { distinctKernels, uniqueKernelNames } from "../kernel-names.js";
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

/**
 * Every kernel of `plans` in one .cu, each distinct kernel once. Names come
 * from uniqueKernelNames (backends/kernel-names.ts): a kernel named like a
 * different one of an earlier plan (the nested `dq_` kernels of double
 * quantization) is renamed `<spec name>__<kernel>` (then `_2`, `_3`, ...
 * until free, so no name stands for two kernels); the returned plans use the
 * names of the artifact.
 */
export function emitCudaPlans(
  plans: readonly Plan[],
  opts: { title?: string; headerName?: string } = {},
): { artifact: CudaArtifact; plans: Plan[] } {
  const renamed = uniqueKernelNames(plans);
  const kernels = distinctKernels(renamed);
  // lanes from the names the lowering gave (a renamed `dq_` kernel keeps the nested scheme's)
  const lanesOf = lanesFor(plans);
  const lanes = new Map<Kernel, number>();
  renamed.forEach((p, j) =>
    p.kernels.forEach((k, i) => lanes.set(k, lanesOf(plans[j].kernels[i]))),
  );
  const title =
    opts.title ??
    `qkc CUDA kernels for ${[...new Set(plans.map((p) => p.spec.scheme.name))].join(", ")}`;
  return {
    artifact: emitCuda(kernels, { ...opts, title, lanes: (k) => lanes.get(k) ?? 32 }),
    plans: renamed,
  };
}

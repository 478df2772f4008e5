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

/**
 * Every kernel of `plans` in one .cu. Kernel names must be unique there:
 * a plan whose kernel names one already taken (the nested kernels of double
 * quantization are named after the nested scheme) gets those kernels renamed
 * `<spec name>_<kernel>`; the returned plans use the names of the artifact.
 */
export function emitCudaPlans(
  plans: readonly Plan[],
  opts: { title?: string; headerName?: string } = {},
): { artifact: CudaArtifact; plans: Plan[] } {
  const taken = new Set<string>();
  const renamed = plans.map((p): Plan => {
    const names = new Map<string, string>();
    for (const k of p.kernels) {
      let name = k.name;
      if (taken.has(name)) name = `${p.spec.name}_${k.name}`;
      if (taken.has(name))
        throw new Error(`two kernels are named ${name}; give the kernel requests distinct names`);
      taken.add(name);
      names.set(k.name, name);
    }
    return {
      ...p,
      kernels: p.kernels.map((k) => ({ ...k, name: names.get(k.name)! })),
      steps: p.steps.map((st) => ("host" in st ? st : { ...st, kernel: names.get(st.kernel)! })),
    };
  });
  const title =
    opts.title ??
    `qkc CUDA kernels for ${[...new Set(plans.map((p) => p.spec.scheme.name))].join(", ")}`;
  const kernels = renamed.flatMap((p) => p.kernels);
  return {
    artifact: emitCuda(kernels, { ...opts, title, lanes: lanesFor(renamed) }),
    plans: renamed,
  };
}

/**
 * Kernel names across the plans of one artifact. Each plan names its kernels
 * on its own, so two plans can give one name to different kernels (the nested
 * `dq_` kernels of double quantization); an artifact that holds several plans
 * (a .wasm module, a set of WGSL shaders) needs one name per distinct kernel.
 */
import type { Kernel } from "../ir/kernel.js";
import type { Plan } from "../passes/lower.js";

/**
 * One name per distinct kernel across plans: a kernel whose name an earlier plan
 * already gave to a different kernel (the nested `dq_` kernels of double
 * quantization) is renamed `<plan>__<kernel>`, in the plan's steps too. When
 * that name is taken by yet another kernel (two requests of one name, or a
 * kernel already called so), `_2`, `_3`, ... is added until it is free: no
 * name ever stands for two kernels.
 */
export function uniqueKernelNames(plans: readonly Plan[]): Plan[] {
  const seen = new Map<string, string>();
  return plans.map((p) => {
    const rename = new Map<string, string>();
    const kernels = p.kernels.map((k) => {
      const text = JSON.stringify(k);
      const earlier = seen.get(k.name);
      if (earlier === undefined || earlier === text) {
        seen.set(k.name, text);
        return k;
      }
      const base = `${p.spec.name}__${k.name}`;
      let name = base;
      for (let n = 2; seen.has(name) && seen.get(name) !== text; n++) name = `${base}_${n}`;
      rename.set(k.name, name);
      seen.set(name, text);
      return { ...k, name };
    });
    if (rename.size === 0) return p;
    const steps = p.steps.map((s) =>
      "kernel" in s && rename.has(s.kernel) ? { ...s, kernel: rename.get(s.kernel)! } : s,
    );
    return { ...p, kernels, steps };
  });
}

/** The kernels of plans named by uniqueKernelNames, each once. */
export function distinctKernels(plans: readonly Plan[]): Kernel[] {
  const byName = new Map<string, Kernel>();
  for (const p of plans) for (const k of p.kernels) if (!byName.has(k.name)) byName.set(k.name, k);
  return [...byName.values()];
}

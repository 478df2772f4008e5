/**
 * `npm run bench -- wgsl`: the WGSL work-split knobs on the Dawn adapter this
 * machine has. For each scheme, qdq of one tensor with every workgroup size x
 * elements per invocation, the tensor amax with and without subgroups, and
 * the flush-proof f32 arithmetic against the plain operators; medians of
 * several runs, as ratios against the defaults measured in the same run.
 */
import { runPlanAsync } from "../backends/host.js";
import { nodeGpu } from "../backends/wgsl/node.js";
import { WgslKernels } from "../backends/wgsl/runtime.js";
import type { WgslOptions } from "../backends/wgsl/emit.js";
import { compile } from "../passes/pipeline.js";
import { builtinScheme } from "../stdlib/index.js";
import { median, timeRuns } from "../tune/timing.js";

export interface WgslBenchRow {
  scheme: string;
  workgroupSize: number;
  perInvocation: number;
  subgroups: boolean;
  subnormals: "exact" | "hardware";
  ms: number;
  /** ms / the default options' ms (64, 1, the device's choices) */
  ratio: number;
}

export async function benchWgsl(
  size: number,
  only?: readonly string[],
): Promise<{ adapter: string; elements: number; rows: WgslBenchRow[] }> {
  const gpu = await nodeGpu();
  const subgroups = gpu.features.includes("subgroups");
  const rows: WgslBenchRow[] = [];
  const cols = 4096;
  const shape = [Math.max(1, Math.round(size / cols)), cols];
  const x = Float32Array.from({ length: shape[0] * cols }, (_, i) => Math.sin(i) * 3);
  for (const name of only ?? ["mxfp4", "nvfp4"]) {
    const s = builtinScheme(name);
    if (!s) throw new Error(`unknown scheme ${name}`);
    const { plan } = compile({
      name: `qdq_${name}`,
      kind: "qdq",
      scheme: s,
      input: "f32",
      output: "f32",
      layout: "packed",
    });
    const time = async (o: WgslOptions) => {
      const k = await WgslKernels.create(gpu.device, plan.kernels, o);
      const ms = median(await timeRuns(() => runPlanAsync(plan, shape, { x }, k.execute), 5, 1));
      k.destroy();
      return ms;
    };
    const defaults = {
      workgroupSize: 64,
      perInvocation: 1,
      subgroups,
      subnormals: "hardware" as const,
    };
    const base = await time(defaults);
    const variants: Required<
      Pick<WgslOptions, "workgroupSize" | "perInvocation" | "subgroups" | "subnormals">
    >[] = [];
    for (const workgroupSize of [32, 64, 128, 256])
      for (const perInvocation of [1, 4])
        variants.push({ ...defaults, workgroupSize, perInvocation });
    if (subgroups) variants.push({ ...defaults, subgroups: false });
    variants.push({ ...defaults, subnormals: "exact" });
    for (const v of variants) {
      const same = (Object.keys(defaults) as (keyof typeof defaults)[]).every(
        (o) => v[o] === defaults[o],
      );
      const ms = same ? base : await time(v);
      rows.push({ scheme: name, ...v, ms: +ms.toFixed(2), ratio: +(ms / base).toFixed(2) });
    }
  }
  return { adapter: gpu.description, elements: x.length, rows };
}

/**
 * Scales in the NVIDIA 128x4 layout on WGSL (Dawn through npm `webgpu` on a
 * software Vulkan driver): the checks of test/scale-layout-cases.ts. Without
 * an adapter these fail with the driver to install, never pass.
 */
import { beforeAll, describe } from "vitest";
import { nodeGpu } from "../backends/wgsl/node.js";
import { WgslKernels } from "../backends/wgsl/runtime.js";
import type { AsyncExecute } from "../backends/host.js";
import { compile } from "../passes/pipeline.js";
import type { Plan } from "../passes/lower.js";
import { scaleLayoutCases, SPECS } from "./scale-layout-cases.js";

describe("128x4 scales on WGSL (Dawn)", () => {
  const plans = new Map<string, Plan>();
  let execute: AsyncExecute;
  beforeAll(async () => {
    const gpu = await nodeGpu();
    const compiled = SPECS.map((spec) => compile(spec).plan);
    const kernels = await WgslKernels.create(
      gpu.device,
      compiled.flatMap((p) => p.kernels),
    );
    execute = kernels.execute;
    for (const p of compiled) plans.set(p.spec.name, p);
  }, 120_000);
  scaleLayoutCases(() => ({ plan: (spec) => plans.get(spec.name)!, execute }));
});

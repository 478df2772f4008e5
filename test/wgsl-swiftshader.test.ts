/**
 * WGSL on an engine that flushes subnormals: Dawn on SwiftShader (the Vulkan
 * ICD in Debian's chromium package), added next to whatever drivers the
 * loader already sees and picked by name. WgslKernels.create probes the
 * device and prints f32 arithmetic flush-proof (backends/wgsl/subnormal.ts),
 * so the shared corpus, subnormal case included, must be bit-exact here too.
 * Two schemes keep the time small (SwiftShader compiles slowly): MXFP4 and the
 * two-level NVFP4 (tensor amax through subgroups).
 */
import { existsSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { nodeGpu, type NodeGpu } from "../backends/wgsl/node.js";
import { probeExactness } from "../backends/wgsl/runtime.js";
import { byName, expectCorpusExact } from "./wgsl-corpus.js";

const ICD = "/usr/lib/chromium/vk_swiftshader_icd.json";
const ADAPTER = "SwiftShader Device (Subzero)";

let gpu: NodeGpu;
beforeAll(async () => {
  if (!existsSync(ICD))
    throw new Error(`${ICD} is missing: install Debian's chromium (bash .ci/webgpu-deps)`);
  const lavapipe = "/usr/share/vulkan/icd.d/lvp_icd.json";
  const others = process.env.VK_ICD_FILENAMES ?? (existsSync(lavapipe) ? lavapipe : "");
  if (!others.includes(ICD)) process.env.VK_ICD_FILENAMES = [others, ICD].filter(Boolean).join(":");
  gpu = await nodeGpu(ADAPTER);
}, 60_000);

describe("WGSL on SwiftShader, which flushes subnormals", () => {
  it("the engine flushes (else this file proves nothing)", async () => {
    expect((await probeExactness(gpu.device)).subnormals).toBe(false);
  });
  for (const name of ["mxfp4", "nvfp4"])
    it(
      `${name}: every kernel on the corpus equals the interpreter`,
      () => expectCorpusExact(gpu.device, byName(name)),
      120_000,
    );
});

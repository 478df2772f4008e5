/**
 * WGSL on an engine that flushes subnormals: Dawn on SwiftShader (the Vulkan
 * ICD in Debian's chromium package), added next to whatever drivers the
 * loader already sees and picked by name. WgslKernels.create probes the
 * device and prints f32 arithmetic flush-proof (backends/wgsl/subnormal.ts),
 * so the shared corpus, subnormal case included, must be bit-exact here too.
 * Two schemes keep the time small (SwiftShader compiles slowly): MXFP4 and the
 * two-level NVFP4 (tensor amax through subgroups). With lavapipe listed too,
 * the command line's --adapter chooses between the two.
 */
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeGpu, type NodeGpu } from "../backends/wgsl/node.js";
import { probeExactness } from "../backends/wgsl/runtime.js";
import { byName, expectCorpusExact } from "./wgsl-corpus.js";
import { corpus } from "./corpus/corpus.js";
import { main } from "../cli/main.js";
import { readNpy, writeNpy } from "../cli/npy.js";
import { qdq } from "../ir/interpret/index.js";

const ICD = "/usr/lib/chromium/vk_swiftshader_icd.json";
const ADAPTER = "SwiftShader Device (Subzero)";

let gpu: NodeGpu;
const icds = process.env.VK_ICD_FILENAMES;
afterAll(() => {
  // the next test file in this process (if any) sees the loader as it was
  if (icds === undefined) delete process.env.VK_ICD_FILENAMES;
  else process.env.VK_ICD_FILENAMES = icds;
});
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

describe("qkc --backend wgsl --adapter, with two adapters", () => {
  const cli = async (...argv: string[]) => {
    let err = "";
    const code = await main(argv, { stdout: () => {}, stderr: (t) => void (err += t) });
    return { code, err };
  };

  it("picks SwiftShader by name, bit-exact on the subnormal corpus case", async () => {
    const c = corpus().find((x) => x.name === "subnormal")!;
    const dir = mkdtempSync(join(tmpdir(), "qkc-adapter-"));
    const [input, output] = [join(dir, "x.npy"), join(dir, "y.npy")];
    const shape = [c.rows, c.cols];
    await writeNpy(input, { dtype: "f32", shape, data: Float32Array.from(c.data) });
    const args = ["qdq", "mxfp4", "--in", input, "--out", output, "--backend", "wgsl"];
    expect(await cli(...args, "--adapter", ADAPTER)).toEqual({ code: 0, err: "" });
    const y = (await readNpy(output)).data as Float32Array;
    const want = qdq(byName("mxfp4"), { dtype: "f32", shape, data: c.data });
    expect(new Uint32Array(y.buffer, y.byteOffset, y.length)).toEqual(new Uint32Array(want.buffer));
    // a wrong name lists both adapters
    const wrong = await cli(...args, "--adapter", "no such adapter");
    expect(wrong.code).not.toBe(0);
    expect(wrong.err).toContain(ADAPTER);
    expect(wrong.err).toMatch(/llvmpipe/);
  });
});

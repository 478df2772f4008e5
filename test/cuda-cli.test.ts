import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../cli/main.js";
import { readNpy, writeNpy } from "../cli/npy.js";
import { hasHostCompiler, HOST_CXX } from "../backends/cuda/cpu.js";
import { qdq } from "../ir/interpret/index.js";
import { builtinScheme } from "../stdlib/index.js";

const dir = mkdtempSync(join(tmpdir(), "qkc-cuda-cli-"));
process.env.QKC_CACHE_DIR = join(dir, "cache");
process.env.QKC_CUDA_DEVICE = "cpu";

async function run(...argv: string[]) {
  let out = "";
  let err = "";
  const code = await main(argv, { stdout: (t) => void (out += t), stderr: (t) => void (err += t) });
  return { code, out, err };
}

describe("qkc compile --target cuda", () => {
  it("writes the .cu, the launcher header and a manifest naming each launcher and its schedule", async () => {
    const out = join(dir, "nvfp4");
    const r = await run("compile", "nvfp4", "--target", "cuda", "--arch", "sm_100a", "--out", out);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe(
      `5 kernel(s) for target cuda in ${out}: kernels.cu, kernels.h, manifest.json\n`,
    );
    const cu = readFileSync(join(out, "kernels.cu"), "utf8");
    const h = readFileSync(join(out, "kernels.h"), "utf8");
    expect(cu).toContain('#include "kernels.h"');
    expect(cu).toMatch(
      /__global__ void __launch_bounds__\(256(, 3)?\) quantize_nvfp4_codes_kernel\(/,
    );
    expect(h).toMatch(
      /cudaError_t quantize_nvfp4_codes\(const float\* x, uint8_t\* codes, uint8_t\* scales, float\* tscale, int32_t outer, int32_t n, int32_t inner, uint32_t\* workspace, cudaStream_t stream\);/,
    );
    expect(h).toContain("#define QUANTIZE_NVFP4_CODES_WORKSPACE_BYTES 4");
    const m = JSON.parse(readFileSync(join(out, "manifest.json"), "utf8"));
    expect(m.target).toBe("cuda");
    expect(m.cuda).toMatchObject({ file: "kernels.cu", header: "kernels.h", arch: "sm_100a" });
    expect(m.cuda.build).toBe(
      "nvcc -fmad=false -Werror all-warnings -std=c++17 -arch=sm_100a -c kernels.cu",
    );
    expect(m.kernels[0].functions[0].cuda).toEqual({
      launcher: "quantize_nvfp4_codes",
      schedule: "group, 4 lanes per item",
      lanes: 4,
      chunk: 4,
      workspaceBytes: 4,
      globals: ["quantize_nvfp4_codes_amax0", "quantize_nvfp4_codes_kernel"],
    });
  });

  it("--arch without --target cuda, or an unknown arch, is a one-line error", async () => {
    const a = await run("compile", "mxfp4", "--arch", "sm_80", "--out", join(dir, "x"));
    expect(a.code).toBe(1);
    expect(a.err).toBe("error: --arch is for --target cuda; drop it or add --target cuda\n");
    const b = await run(
      "compile",
      "mxfp4",
      "--target",
      "cuda",
      "--arch",
      "sm_70",
      "--out",
      join(dir, "x"),
    );
    expect(b.code).toBe(1);
    expect(b.err).toMatch(
      /argument 'sm_70' is invalid\. Allowed choices are sm_80, sm_89, sm_90a, sm_100a, sm_120a/,
    );
  });
});

describe.skipIf(!hasHostCompiler())(
  `qkc qdq --backend cuda (CPU execution layer; needs ${HOST_CXX})`,
  () => {
    it("equals the interpreter and says on stderr where it ran", async () => {
      const s = builtinScheme("mxfp4")!;
      const data = Float32Array.from(
        { length: 3 * 70 },
        (_, i) => Math.sin(i * 0.37) * 2 ** (i % 9),
      );
      const input = join(dir, "x.npy");
      await writeNpy(input, { dtype: "f32", shape: [3, 70], data });
      const output = join(dir, "y.npy");
      const r = await run("qdq", "mxfp4", "--in", input, "--out", output, "--backend", "cuda");
      expect(r.code, r.err).toBe(0);
      expect(r.err).toBe(
        "qkc: --backend cuda: no GPU here; the CUDA kernels run on the CPU execution layer (g++ build of the same .cu)\n",
      );
      const y = (await readNpy(output)).data as Float32Array;
      const want = qdq(s, { dtype: "f32", shape: [3, 70], data });
      expect(new Uint32Array(y.buffer, y.byteOffset, y.length)).toEqual(
        new Uint32Array(want.buffer),
      );
    }, 120_000);
  },
);

/**
 * 128x4 scales through `qkc compile --target cuda --emit torch`: the extension
 * built in its CPU mode (Debian's PyTorch, .ci/torch-deps), nvfp4 quantize
 * returns the swizzled [pad(rows, 128), pad(K/16, 4)] scales, dequantize and
 * gemv take them, bit-exact with the interpreter; a 3-D tensor is refused.
 */
import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { main } from "../cli/main.js";
import { hasHostCompiler } from "../backends/cuda/cpu.js";
import { dequantize, gemv } from "../ir/interpret/index.js";
import { bits, byName, reference, tensor } from "./scale-layout-cases.js";

const PYTHON = "/usr/bin/python3";
const torch =
  hasHostCompiler() && spawnSync(PYTHON, ["-c", "import torch, setuptools"]).status === 0;
if (!torch)
  console.warn(
    "test/scale-layout-torch: no g++ or PyTorch for /usr/bin/python3 (bash .ci/torch-deps)",
  );

const QS = `
kernel quantize_nvfp4 = quantize(nvfp4) { scale_layout: nvidia_128x4 }
kernel dequantize_nvfp4 = dequantize(nvfp4) { scale_layout: nvidia_128x4 }
kernel gemv_nvfp4 = gemv(weights: nvfp4, activations: f32) { scale_layout: nvidia_128x4 }
`;

/** Quantizes x, dequantizes and multiplies from the returned tensors, writes each result's bytes. */
const DRIVER = String.raw`
import sys, numpy as np, torch
d, rows, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sys.path.insert(0, d + "/ext")
import qkc_k as q
x = torch.from_numpy(np.fromfile(d + "/x.bin", dtype=np.float32).reshape(rows, k))
xv = torch.from_numpy(np.fromfile(d + "/xv.bin", dtype=np.float32))
codes, scales, tscale = q.quantize_nvfp4(x)
open(d + "/scales_shape.txt", "w").write("%d %d" % tuple(scales.shape))
scales.contiguous().view(torch.uint8).numpy().tofile(d + "/scales.bin")
q.dequantize_nvfp4(codes, scales, tscale).numpy().tofile(d + "/y.bin")
q.gemv_nvfp4(codes, scales, tscale, xv).numpy().tofile(d + "/gemv.bin")
try:
    q.quantize_nvfp4(x.reshape(2, rows // 2, k))
except RuntimeError as e:
    open(d + "/error.txt", "w").write(str(e).splitlines()[0])
`;

describe.skipIf(!torch)("128x4 scales in the PyTorch extension (CPU build)", () => {
  const dir = mkdtempSync(join(tmpdir(), "qkc-128x4-torch-"));
  const [rows, k] = [130, 334]; // scale columns 21 -> 24, rows 130 -> 256
  const x = tensor(rows, k, 5);
  const xv = Float32Array.from({ length: k }, (_, i) => Math.cos(i) * 3);
  const read = (name: string) => new Uint8Array(readFileSync(join(dir, name)));
  beforeAll(async () => {
    writeFileSync(join(dir, "k.qs"), QS);
    const args = ["compile", join(dir, "k.qs"), "--target", "cuda", "--emit", "torch"];
    const r = await main([...args, "--out", join(dir, "ext")], {
      stdout: () => {},
      stderr: () => {},
    });
    if (r !== 0) throw new Error("qkc compile --emit torch failed");
    const env = { ...process.env, QKC_TORCH_DEVICE: "cpu" };
    const run = promisify(execFile);
    await run(PYTHON, ["setup.py", "build_ext", "--inplace"], { cwd: join(dir, "ext"), env });
    writeFileSync(join(dir, "x.bin"), new Uint8Array(x.buffer));
    writeFileSync(join(dir, "xv.bin"), new Uint8Array(xv.buffer));
    writeFileSync(join(dir, "driver.py"), DRIVER);
    await run(PYTHON, [join(dir, "driver.py"), dir, String(rows), String(k)]);
  }, 400_000);

  it("quantize returns swizzled scales; dequantize and gemv read them, bit for bit", () => {
    const ref = reference(byName("nvfp4"), [rows, k], x);
    expect(readFileSync(join(dir, "scales_shape.txt"), "utf8")).toBe("256 24");
    expect(Array.from(read("scales.bin"))).toEqual(Array.from(ref.scales));
    const f32 = (b: Uint8Array) => new Float32Array(b.buffer, b.byteOffset, b.length / 4);
    expect(bits(f32(read("y.bin")))).toEqual(bits(dequantize(ref.q)));
    expect(bits(f32(read("gemv.bin")))).toEqual(bits(gemv(ref.q, xv)));
  });

  it("refuses a tensor that is not 2-D, saying why and the fix", () => {
    expect(readFileSync(join(dir, "error.txt"), "utf8")).toBe(
      "quantize_nvfp4: nvidia_128x4 scales need a 2-D tensor [rows, K]; the tensor has shape [2, 65, 334] (reshape it to 2-D, or use scale layout plain)",
    );
  });
});

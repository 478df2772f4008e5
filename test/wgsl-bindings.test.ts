/**
 * `qkc compile --target wgsl`: the files a web developer gets, and the generated
 * typed module run on Dawn, bit-exact with the interpreter.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { dequantize, gemv, qdq, quantize } from "../ir/interpret/index.js";
import { builtinScheme } from "../stdlib/index.js";
import { nodeGpu, type NodeGpu } from "../backends/wgsl/node.js";
import { packNibbles } from "../ir/layout/index.js";
import { compileWgsl } from "./wgsl-artifact.js";

type Calls = Record<
  string,
  (inputs: object, shape: number[], seed?: number) => Promise<Record<string, ArrayLike<number>>>
>;
type Kernels = Calls & {
  resident: () => Calls & {
    read: <T extends ArrayLike<number>>(a: T) => Promise<T>;
    destroy: () => void;
  };
};
const bytes = (a: ArrayLike<number> & { buffer: ArrayBufferLike }) =>
  Array.from(new Uint8Array(a.buffer));

let gpu: NodeGpu;
let out: string;
beforeAll(async () => {
  gpu = await nodeGpu();
  out = await compileWgsl("mxfp4");
}, 60_000);

describe("qkc compile --target wgsl", () => {
  it("writes one shader per kernel, the tables, typed bindings and a manifest", () => {
    const files = readdirSync(out);
    for (const f of [
      "kernels.ts",
      "kernels.js",
      "kernels.d.ts",
      "kernels.tables.bin",
      "manifest.json",
    ])
      expect(files).toContain(f);
    expect(files).toContain("quantize_mxfp4_codes.wgsl");
    expect(readFileSync(join(out, "quantize_mxfp4_codes.wgsl"), "utf8")).toContain(
      "@compute @workgroup_size(64)",
    );
    expect(readFileSync(join(out, "kernels.d.ts"), "utf8")).toMatch(
      /qdq_mxfp4\(\s*inputs: \{\s*x: Float32Array;\s*\},\s*shape: readonly number\[\],\s*seed\?: number,?\s*\): Promise<\{\s*y: Float32Array;/,
    );
    const manifest = JSON.parse(readFileSync(join(out, "manifest.json"), "utf8"));
    expect(manifest.target).toBe("wgsl");
    expect(manifest.kernels[0].functions[0].wgsl.file).toMatch(/\.wgsl$/);
  });

  it("the generated module quantizes, dequantizes and runs a GEMV like the interpreter", async () => {
    const mod = (await import(join(out, "kernels.local.ts"))) as {
      load: (d: GPUDevice, t: Uint8Array) => Promise<Kernels>;
    };
    const k = await mod.load(gpu.device, readFileSync(join(out, "kernels.tables.bin")));
    const s = builtinScheme("mxfp4")!;
    const shape = [8, 96];
    const x = Float32Array.from({ length: 8 * 96 }, (_, i) => Math.sin(i) * (i % 7) * 2 ** (i % 9));
    const tensor = { dtype: "f32" as const, shape, data: x };
    const ref = quantize(s, tensor);
    const q = await k.quantize_mxfp4({ x }, shape);
    expect(Array.from(q.codes)).toEqual(
      Array.from(packNibbles(Uint8Array.from(ref.codes), "low_first")),
    );
    expect(Array.from(q.scales)).toEqual(Array.from(ref.scales));
    const y = await k.dequantize_mxfp4(q, shape);
    expect(bytes(y.y as Float32Array)).toEqual(bytes(dequantize(ref)));
    expect(bytes((await k.qdq_mxfp4({ x }, shape)).y as Float32Array)).toEqual(
      bytes(qdq(s, tensor)),
    );
    const v = Float32Array.from({ length: 96 }, (_, i) => Math.cos(i));
    const g = await k.gemv_mxfp4({ ...q, x: v }, shape);
    expect(bytes(g.y as Float32Array)).toEqual(bytes(gemv(ref, v)));

    // resident: quantize's codes and scales feed dequantize and gemv on the GPU
    const r = k.resident();
    const rq = await r.quantize_mxfp4({ x }, shape);
    expect(
      Array.from(rq.codes).every((c) => c === 0),
      "codes stayed on the GPU",
    ).toBe(true);
    const ry = await r.dequantize_mxfp4(rq, shape);
    expect(bytes(await r.read(ry.y as Float32Array))).toEqual(bytes(dequantize(ref)));
    const rg = await r.gemv_mxfp4({ ...rq, x: v }, shape);
    expect(bytes(await r.read(rg.y as Float32Array))).toEqual(bytes(gemv(ref, v)));
    expect(Array.from(await r.read(rq.scales))).toEqual(Array.from(ref.scales));
    r.destroy();
  });

  it("double quantization: nested kernels that share a name across plans are renamed apart", async () => {
    const dir = await compileWgsl("nf4_dq");
    const mod = (await import(join(dir, "kernels.local.ts"))) as {
      load: (d: GPUDevice, t: Uint8Array) => Promise<Kernels>;
    };
    const k = await mod.load(gpu.device, readFileSync(join(dir, "kernels.tables.bin")));
    const s = builtinScheme("nf4_dq")!;
    const shape = [4, 512];
    const x = Float32Array.from({ length: 4 * 512 }, (_, i) => Math.sin(i * 1.3) * (1 + (i % 11)));
    const tensor = { dtype: "f32" as const, shape, data: x };
    const ref = quantize(s, tensor);
    const q = await k.quantize_nf4_dq({ x }, shape);
    expect(Array.from(q.dq_codes)).toEqual(Array.from(ref.doubleQuant!.scales.codes));
    expect(bytes((await k.dequantize_nf4_dq(q, shape)).y as Float32Array)).toEqual(
      bytes(dequantize(ref)),
    );
    expect(bytes((await k.qdq_nf4_dq({ x }, shape)).y as Float32Array)).toEqual(
      bytes(qdq(s, tensor)),
    );
  });

  it("refuses a tables file that does not belong to the module", async () => {
    const mod = (await import(join(out, "kernels.local.ts"))) as {
      load: (d: GPUDevice, t: Uint8Array) => Promise<Kernels>;
    };
    await expect(mod.load(gpu.device, new Uint8Array(8))).rejects.toThrow(
      /kernels.tables.bin has 8 bytes, these kernels need \d+/,
    );
  });
});

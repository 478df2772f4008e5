/**
 * WGSL kernels on a real WebGPU engine (Dawn through npm `webgpu`, on a software
 * Vulkan driver), bit-exact with the interpreter. Without an adapter every test
 * here fails with the driver to install (backends/wgsl/node.ts), never passes.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { runPlanAsync } from "../backends/host.js";
import { probeExactness, WgslKernels, type Exactness } from "../backends/wgsl/runtime.js";
import { nodeGpu, type NodeGpu } from "../backends/wgsl/node.js";
import { dequantize, gemv, qdq, quantize } from "../ir/interpret/index.js";
import { compile } from "../passes/pipeline.js";
import { distinctKernels, uniqueKernelNames } from "../backends/kernel-names.js";
import { BUILTIN_SCHEMES } from "../stdlib/index.js";
import type { KernelSpec } from "../ir/program.js";
import type { Tensor } from "../ir/tensor.js";
import { corpus } from "./corpus/corpus.js";
import { K, type Expr, type Kernel } from "../ir/kernel.js";
import { evaluateKernel } from "../ir/kernel-eval.js";
import { packKernel } from "../passes/lower/pack.js";
import { packNibbles as hostPack } from "../ir/layout/index.js";
import { bits, byName, expectCorpusExact, spec, sr, wgslKernels } from "./wgsl-corpus.js";
import type { WgslOptions } from "../backends/wgsl/emit.js";

let gpu: NodeGpu;
let exactness: Exactness;
beforeAll(async () => {
  gpu = await nodeGpu();
  exactness = await probeExactness(gpu.device);
}, 60_000);

const kernels = (sp: KernelSpec, options: WgslOptions = {}) => wgslKernels(gpu.device, sp, options);

describe("WGSL on Dawn equals the interpreter bit for bit (shared corpus)", () => {
  const schemes = [...BUILTIN_SCHEMES, sr(byName("mxfp4")), sr(byName("nvfp4"))];
  for (const s of schemes)
    it(
      `${s.name}: quantize, dequantize, qdq, qdq_backward${s.doubleQuant ? "" : ", gemv"}`,
      () => expectCorpusExact(gpu.device, s),
      120_000,
    );
});

/** A kernel storing the bits of each of `ops(a[t], b[t])` at q[t * ops.length + j], for t < n. */
function pairKernel(name: string, ops: (a: Expr, b: Expr) => Expr[]): Kernel {
  const t = K.v("t", "i32");
  const list = ops(K.load("a", t, "f32"), K.load("b", t, "f32"));
  const at = (j: number) => K.bin("add", K.bin("mul", t, K.i32(list.length)), K.i32(j));
  return {
    name,
    params: [
      { kind: "buffer", name: "a", elem: "f32", access: "read" },
      { kind: "buffer", name: "b", elem: "f32", access: "read" },
      { kind: "buffer", name: "q", elem: "u32", access: "write" },
      { kind: "scalar", name: "n", type: "i32" },
    ],
    tables: [],
    body: [
      K.for(
        "t",
        K.i32(0),
        K.v("n", "i32"),
        list.map((op, j) => K.store("q", at(j), K.bitcast(op, "u32"))),
      ),
    ],
  };
}

describe("WGSL runtime", () => {
  it("the probe reports the engine, and kernels are printed flush-proof exactly where it flushes", async () => {
    // lavapipe keeps subnormals; SwiftShader flushes them (WGSL allows it) and divides by a literal inexactly
    expect(exactness.separateRounding).toBe(true);
    if (/llvmpipe/.test(gpu.description))
      expect(exactness).toEqual({ subnormals: true, division: true, separateRounding: true });
    const k = await kernels(spec(byName("mxfp4"), "dequantize"));
    expect(
      k.shaders.some((sh) => sh.code.includes("qkc_mul(")),
      gpu.description,
    ).toBe(!exactness.subnormals);
  });

  it("half-precision inputs (f16, bf16) quantize like the interpreter, on both f16 paths", async () => {
    const s = byName("mxfp8_e4m3");
    const c = corpus()[0];
    const shape = [c.rows, c.cols];
    for (const dtype of ["f16", "bf16"] as const) {
      const raw = Uint16Array.from(
        c.data,
        (v, i) => (i * 2654435761 + Math.round(v * 1000)) & 0xffff,
      );
      const tensor: Tensor = { dtype, shape, data: raw };
      // f16: the exact table, and (where the adapter has shader-f16) the hardware conversion;
      // Mesa 25's lavapipe (CI) has it, so there both paths must run
      if (/llvmpipe/.test(gpu.description)) expect(gpu.features).toContain("shader-f16");
      for (const f16 of gpu.features.includes("shader-f16") ? [false, true] : [false]) {
        const k = await kernels(spec(s, "qdq", dtype), { f16 });
        const y = (await runPlanAsync(k.plan, shape, { x: raw }, k.exec)).y as Float32Array;
        expect(bits(y), `${dtype} f16=${f16}`).toEqual(bits(qdq(s, tensor)));
      }
    }
  });

  it("f32 division is correctly rounded on the bits (specials, subnormals, overflow)", async () => {
    const k = pairKernel("div", (a, b) => [K.bin("div", a, b)]);
    const special = [
      0,
      -0,
      1,
      -1,
      2 ** -149,
      2 ** -126,
      2 ** -127 * 3,
      3.4028234663852886e38,
      Infinity,
      -Infinity,
      NaN,
      3,
      6,
      2688,
    ];
    const pairs: number[][] = special.flatMap((x) => special.map((y) => [x, y]));
    const w = new Uint32Array(2);
    const f = new Float32Array(w.buffer);
    for (let j = 0, r = 99; j < 20000; j++) {
      for (let h = 0; h < 2; h++) {
        r = (Math.imul(r, 1664525) + 1013904223) >>> 0;
        w[h] = j % 4 === 0 ? r : (r & 0x83ffffff) | ((j % 3) << 28); // all bits, or exponents near 1 and the edges
      }
      pairs.push([f[0], f[1]]);
    }
    const a = Float32Array.from(pairs, (p) => p[0]);
    const b = Float32Array.from(pairs, (p) => p[1]);
    const got = new Uint32Array(a.length);
    const want = new Uint32Array(a.length);
    evaluateKernel(k, { a, b, q: want }, { n: a.length });
    const wgsl = await WgslKernels.create(gpu.device, [k]);
    await wgsl.execute(k, { a, b, q: got }, { n: a.length });
    const isNaN32 = (u: number) => (u & 0x7fffffff) > 0x7f800000;
    const wrong = [...want.keys()].filter((i) =>
      isNaN32(want[i]) ? !isNaN32(got[i]) : got[i] !== want[i],
    );
    expect(
      wrong.slice(0, 5).map((i) => [a[i], b[i], want[i].toString(16), got[i].toString(16)]),
    ).toEqual([]);
  });

  it("f32 multiply, add, subtract, compare and floor stay IEEE where subnormals meet (flush-proof path)", async () => {
    const ops = (a: Expr, b: Expr): Expr[] => [
      K.bin("mul", a, b),
      K.bin("add", a, b),
      K.bin("sub", a, b),
      K.un("floor", a),
      ...(["lt", "le", "gt", "ge", "eq", "ne"] as const).map((c) =>
        K.select(K.bin(c, a, b), K.f32(1), K.f32(0)),
      ),
    ];
    const width = ops(K.f32(0), K.f32(0)).length;
    const k = pairKernel("arith", ops);
    const special = [
      0,
      -0,
      1,
      -1.5,
      2 ** -149,
      -(2 ** -149),
      2 ** -126,
      -(2 ** -126),
      2 ** -127 * 3,
    ];
    special.push(
      2 ** -126 - 2 ** -149,
      3 * 2 ** -140,
      2 ** 100,
      3.4028234663852886e38,
      Infinity,
      -Infinity,
      NaN,
      0.75,
      2 ** -20,
    );
    const pairs: number[][] = special.flatMap((x) => special.map((y) => [x, y]));
    const w = new Uint32Array(2);
    const f = new Float32Array(w.buffer);
    for (let j = 0, r = 7; j < 6000; j++) {
      for (let h = 0; h < 2; h++) {
        r = (Math.imul(r, 1664525) + 1013904223) >>> 0;
        // exponents around the subnormal range, so products and sums land there
        const e = [0, 1, 2, 40, 60, 80, 100, 127][(r >>> 24) & 7];
        w[h] = ((r & 0x807fffff) | (((e + ((r >>> 20) & 3)) & 0xff) << 23)) >>> 0;
      }
      pairs.push([f[0], f[1]]);
    }
    const av = Float32Array.from(pairs, (p) => p[0]);
    const bv = Float32Array.from(pairs, (p) => p[1]);
    const want = new Uint32Array(av.length * width);
    evaluateKernel(k, { a: av, b: bv, q: want }, { n: av.length });
    const isNaN32 = (u: number) => (u & 0x7fffffff) > 0x7f800000;
    for (const subnormals of ["exact", "hardware"] as const) {
      const got = new Uint32Array(want.length);
      const wgsl = await WgslKernels.create(gpu.device, [k], { subnormals });
      await wgsl.execute(k, { a: av, b: bv, q: got }, { n: av.length });
      // the engine's own comparisons are not checked: WGSL lets them assume no NaN
      const checked = [...want.keys()].filter((i) => subnormals === "exact" || i % width < 4);
      const wrong = checked.filter((i) =>
        isNaN32(want[i]) ? !isNaN32(got[i]) : got[i] !== want[i],
      );
      const show = (i: number) => {
        const p = Math.floor(i / width);
        return [i % width, av[p], bv[p], want[i].toString(16), got[i].toString(16)];
      };
      // the hardware path is exact only on an engine that keeps subnormals
      if (subnormals === "exact" || exactness.subnormals)
        expect(wrong.slice(0, 5).map(show), subnormals).toEqual([]);
      else expect(wrong.length, "a flushing engine's own operators").toBeGreaterThan(0);
    }
  });

  it("workgroup size and elements per invocation change the split, not the result", async () => {
    const s = byName("nvfp4");
    const c = corpus()[3];
    const shape = [c.rows, c.cols];
    const want = bits(qdq(s, { dtype: "f32", shape, data: c.data }));
    for (const options of [
      { workgroupSize: 1, perInvocation: 1 },
      { workgroupSize: 32, perInvocation: 4 },
      { workgroupSize: 256, perInvocation: 3 },
    ]) {
      const k = await kernels(spec(s, "qdq"), options);
      const y = (await runPlanAsync(k.plan, shape, { x: c.data }, k.exec)).y as Float32Array;
      expect(bits(y), JSON.stringify(options)).toEqual(want);
    }
  });

  it("the tensor amax shared by a workgroup: subgroupMax and the workgroup-atomic fallback", async () => {
    const s = byName("nvint4");
    // Mesa 25's lavapipe (CI) has subgroups, so there both paths must run
    if (/llvmpipe/.test(gpu.description)) expect(gpu.features).toContain("subgroups");
    const paths = gpu.features.includes("subgroups") ? [false, true] : [false];
    // one large tensor whose largest |x| sits at one position, plus the corpus
    const n = 40 * 1024 + 16;
    const big = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 2);
    big[n - 17] = -9.25;
    const inputs = [
      ...corpus().map((c) => ({ name: c.name, shape: [c.rows, c.cols], data: c.data })),
      { name: "large", shape: [1, n], data: big },
    ];
    for (const subgroups of paths)
      for (const workgroupSize of [7, 256]) {
        const k = await kernels(spec(s, "qdq"), { subgroups, workgroupSize });
        expect(k.shaders[0].code.includes("subgroupMax"), "subgroup ops").toBe(subgroups);
        for (const c of inputs) {
          const y = (await runPlanAsync(k.plan, c.shape, { x: c.data }, k.exec)).y as Float32Array;
          const want = qdq(s, { dtype: "f32", shape: c.shape, data: c.data });
          expect(bits(y), `${c.name} subgroups=${subgroups} W=${workgroupSize}`).toEqual(
            bits(want),
          );
        }
      }
    // lavapipe offers subgroups: there both paths must have run
    if (/llvmpipe/.test(gpu.description)) expect(paths).toEqual([false, true]);
  });

  it("a resident session keeps buffers on the GPU: quantize feeds dequantize and gemv without a readback", async () => {
    for (const name of ["mxfp4", "nf4_dq"]) {
      const s = byName(name);
      const kinds = s.doubleQuant
        ? (["quantize", "dequantize"] as const)
        : (["quantize", "dequantize", "gemv"] as const);
      const plans = uniqueKernelNames(kinds.map((kind) => compile(spec(s, kind)).plan));
      const wgsl = await WgslKernels.create(gpu.device, distinctKernels(plans));
      const session = wgsl.resident();
      const c = corpus()[2];
      const shape = [c.rows, c.cols];
      const x = Float32Array.from(c.data);
      const ref = quantize(s, { dtype: "f32", shape, data: x });
      const q = await session.run(plans[0], shape, { x });
      // nothing came back: the host copies are still the zeros they were allocated with
      expect(
        q.codes.some((v) => v !== 0),
        `${name} codes read back`,
      ).toBe(false);
      const y = await session.run(plans[1], shape, q);
      expect(bits(await session.read(y.y as Float32Array)), `${name} dequantize`).toEqual(
        bits(dequantize(ref)),
      );
      if (plans[2]) {
        const xv = Float32Array.from({ length: c.cols }, (_, i) => Math.sin(i));
        const g = await session.run(plans[2], shape, { ...q, x: xv });
        expect(bits(await session.read(g.y as Float32Array)), `${name} gemv`).toEqual(
          bits(gemv(ref, xv)),
        );
      }
      // the caller's array is uploaded again when it changed
      x.fill(0.25);
      const q2 = await session.run(plans[0], shape, { x });
      const ref2 = quantize(s, { dtype: "f32", shape, data: x });
      const scales = s.doubleQuant ? "dq_codes" : "scales";
      const want = s.doubleQuant ? ref2.doubleQuant!.scales.codes : ref2.scales;
      expect(Array.from(await session.read(q2[scales])), `${name} ${scales}`).toEqual(
        Array.from(want),
      );
      session.destroy();
      wgsl.destroy();
    }
  });

  it("more than 65535 workgroups go over a 2-D grid", async () => {
    const k = packKernel("pack", { kind: "nibbles", order: "low_first" });
    const w = await WgslKernels.create(gpu.device, [k], { workgroupSize: 1 });
    const n = 2 * 65535 + 7;
    const codes = Uint8Array.from({ length: n }, (_, i) => (i * 7) & 15);
    const out = new Uint8Array(Math.ceil(n / 2));
    await w.execute(k, { codes, packed: out }, { n });
    expect(Array.from(out)).toEqual(Array.from(hostPack(codes, "low_first")));
  });

  it("refuses missing buffers and scalars with the kernel's name", async () => {
    const k = packKernel("pack", { kind: "nibbles", order: "low_first" });
    const w = await WgslKernels.create(gpu.device, [k]);
    await expect(w.execute(k, { codes: new Uint8Array(4) }, { n: 4 })).rejects.toThrow(
      /kernel pack: buffer packed not given/,
    );
    await expect(
      w.execute(k, { codes: new Uint8Array(4), packed: new Uint8Array(2) }, {}),
    ).rejects.toThrow(/kernel pack: scalar n not given/);
  });
});

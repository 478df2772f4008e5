/**
 * WasmPlanRunner (backends/wasm/threads.ts): plans split by rows across worker
 * threads over one shared memory give the bytes of one thread and of the
 * interpreter; plans whose rows depend on each other stay on one thread.
 */
import { afterAll, describe, expect, it } from "vitest";
import { compile } from "../passes/pipeline.js";
import { bands, WasmPlanRunner } from "../backends/wasm/threads.js";
import { builtinScheme } from "../stdlib/index.js";
import { dequantize, gemv, qdq, quantize } from "../ir/interpret/index.js";
import { packNibbles } from "../ir/layout/index.js";
import type { KernelSpec } from "../ir/program.js";
import type { BufferData } from "../ir/kernel-eval.js";
import { kernelRequest } from "./kernel-request.js";
import { reference, tensor } from "./scale-layout-cases.js";

const spec = (name: string, kind: KernelSpec["kind"]): KernelSpec => ({
  name: `${kind}_${name}`,
  kind,
  scheme: builtinScheme(name)!,
  input: "f32",
  output: "f32",
  layout: "packed",
  ...(kind === "gemv" ? { order: "fixed" as const } : {}),
});
const bits = (a: BufferData) =>
  Array.from(a instanceof Float32Array ? new Uint32Array(a.buffer, a.byteOffset, a.length) : a);
const open: WasmPlanRunner[] = [];
afterAll(async () => {
  for (const r of open) await r.close();
});
async function runner(sp: KernelSpec, shape: number[], threads: number) {
  const r = await WasmPlanRunner.create(compile(sp).plan, shape, threads);
  open.push(r);
  return r;
}

describe("plans split across worker threads", () => {
  const shape = [67, 1056]; // rows do not divide evenly; ragged blocks of 32 do not occur, 1056 = 33 * 32
  const data = Float32Array.from({ length: shape[0] * shape[1] }, (_, j) =>
    j % 997 === 5 ? NaN : Math.sin(j * 0.37) * 2 ** ((j % 13) - 6),
  );
  const x = { dtype: "f32" as const, shape, data };

  for (const name of ["mxfp4", "nf4", "int4_g128_asym"]) {
    it(`${name}: quantize, dequantize, qdq and gemv on 3 threads equal one thread and the interpreter`, async () => {
      const s = builtinScheme(name)!;
      const ref = quantize(s, x);
      const refCodes = packNibbles(Uint8Array.from(ref.codes), "low_first");
      const xv = Float32Array.from({ length: shape[1] }, (_, j) => Math.cos(j) * 3);
      for (const threads of [1, 3]) {
        const q = await runner(spec(name, "quantize"), shape, threads);
        expect(q.threads).toBe(threads);
        (q.buffers.x as Float32Array).set(data);
        q.run();
        expect(bits(q.buffers.codes), `${threads} threads codes`).toEqual(Array.from(refCodes));
        expect(bits(q.buffers.scales)).toEqual(Array.from(ref.scales));
        const d = await runner(spec(name, "dequantize"), shape, threads);
        (d.buffers.codes as Uint8Array).set(q.buffers.codes as Uint8Array);
        for (const b of ["scales", "zeros"])
          if (b in d.buffers) (d.buffers[b] as Uint8Array).set(q.buffers[b] as Uint8Array);
        d.run();
        expect(bits(d.buffers.y), `${threads} threads dequantize`).toEqual(bits(dequantize(ref)));
        const f = await runner(spec(name, "qdq"), shape, threads);
        (f.buffers.x as Float32Array).set(data);
        f.run();
        expect(bits(f.buffers.y), `${threads} threads qdq`).toEqual(bits(qdq(s, x)));
        const g = await runner(spec(name, "gemv"), shape, threads);
        for (const b of ["codes", "scales", "zeros"])
          if (b in g.buffers) (g.buffers[b] as Uint8Array).set(q.buffers[b] as Uint8Array);
        (g.buffers.x as Float32Array).set(xv);
        g.run();
        expect(bits(g.buffers.y), `${threads} threads gemv`).toEqual(bits(gemv(ref, xv)));
      }
    });
  }

  it("a runner reshaped to new shapes keeps its workers and equals the interpreter on every shape", async () => {
    const s = builtinScheme("mxfp4")!;
    for (const threads of [1, 3]) {
      const r = await runner(spec("mxfp4", "qdq"), shape, threads);
      for (const next of [
        [3000, 64],
        [67, 1056],
        [2, 40000],
        [5000, 96],
      ]) {
        r.reshape(next);
        expect(r.shape).toEqual(next);
        const xs = Float32Array.from(
          { length: next[0] * next[1] },
          (_, j) => Math.sin(j * 0.11) * (j % 7),
        );
        (r.buffers.x as Float32Array).set(xs);
        r.run();
        const want = qdq(s, { dtype: "f32", shape: next, data: xs });
        expect(bits(r.buffers.y), `[${next}] on ${threads}`).toEqual(bits(want));
        expect(r.threads).toBe(threads === 1 ? 1 : Math.min(3, next[0]));
      }
      expect(r.workersStarted).toBe(threads - 1);
    }
  });

  it("a runner made for a shape that does not split starts its workers when a reshape brings more bands", async () => {
    const s = builtinScheme("mxfp4")!;
    const r = await runner(spec("mxfp4", "quantize"), [2, 32], 3); // too few elements to share
    expect([r.threads, r.workersStarted]).toEqual([1, 0]);
    for (const [next, threads] of [
      [[2, 40000], 2],
      [[3000, 64], 3],
      [[2, 32], 1],
    ] as const) {
      r.reshape(next);
      expect(r.threads, `[${next}]`).toBe(threads);
      const xs = Float32Array.from(
        { length: next[0] * next[1] },
        (_, j) => Math.cos(j * 0.3) * (j % 11),
      );
      (r.buffers.x as Float32Array).set(xs);
      r.run();
      const want = quantize(s, { dtype: "f32", shape: next, data: xs });
      const where = `[${next}]`;
      expect(bits(r.buffers.codes), where).toEqual(
        Array.from(packNibbles(Uint8Array.from(want.codes), "low_first")),
      );
      expect(bits(r.buffers.scales), where).toEqual(Array.from(want.scales));
    }
    expect([r.threads, r.workersStarted]).toEqual([1, 2]); // the last shape runs on one; the workers stay
  });

  it("a closed runner refuses run and reshape in one line instead of waiting on stopped workers", async () => {
    for (const threads of [1, 3]) {
      const r = await WasmPlanRunner.create(compile(spec("mxfp4", "qdq")).plan, shape, threads);
      r.run();
      await r.close();
      const closed = /qdq_mxfp4: the runner is closed \(its workers stopped\); create another/;
      expect(() => r.run()).toThrow(closed);
      expect(() => r.reshape([3000, 64])).toThrow(closed);
    }
  });

  it("a shape whose buffers do not fit in 4 GiB of wasm memory is refused in one line naming the bytes and the fix, and the runner keeps its shape", async () => {
    const huge = [65536, 16384]; // x and y alone are 4 GiB each
    for (const threads of [1, 2]) {
      const r = await runner(spec("mxfp4", "qdq"), shape, threads);
      expect(() => r.reshape(huge)).toThrow(
        /qdq_mxfp4: the buffers of a \[65536,16384\] tensor need \d+ bytes of wasm memory, more than it can grow to; pass fewer rows a call/,
      );
      expect(r.shape).toEqual(shape);
      r.run(); // still laid out for the shape before
      await expect(
        WasmPlanRunner.create(compile(spec("mxfp4", "qdq")).plan, huge, threads),
      ).rejects.toThrow(/need \d+ bytes of wasm memory/);
    }
  });

  it("128x4 scales: bands of whole 128-row tiles, with the pad kernel (quantize) and without (dequantize, gemv), equal one thread and the interpreter", async () => {
    const s = builtinScheme("mxfp4")!;
    // rows off 128 by 2, by 1 and none; scale columns 17, 10 and 7 (off 4)
    const shapes = [
      [130, 520],
      [257, 300],
      [384, 200],
    ];
    const tiled = (kind: KernelSpec["kind"]) =>
      compile(kernelRequest(s, kind, { scaleLayout: "nvidia_128x4" })).plan;
    expect(bands(tiled("quantize"), [257, 300], 2)).toEqual([
      [0, 128],
      [128, 257],
    ]);
    expect(bands(tiled("gemv"), [130, 520], 3)).toEqual([
      [0, 128],
      [128, 130],
    ]);
    for (const threads of [1, 2, 3]) {
      const [q, d, g] = await Promise.all(
        (["quantize", "dequantize", "gemv"] as const).map(async (kind) => {
          const r = await WasmPlanRunner.create(tiled(kind), shapes[0], threads);
          open.push(r);
          return r;
        }),
      );
      for (const [j, shape] of shapes.entries()) {
        const where = `[${shape}] on ${threads}`;
        const x = tensor(shape[0], shape[1], j);
        const ref = reference(s, shape, x);
        for (const r of [q, d, g]) r.reshape(shape);
        expect(q.threads, where).toBe(Math.min(threads, Math.ceil(shape[0] / 128)));
        (q.buffers.x as Float32Array).set(x);
        (q.buffers.scales as Uint8Array).fill(0xa5); // every padding byte must be written
        q.run();
        expect(bits(q.buffers.codes), `${where} codes`).toEqual(Array.from(ref.codes));
        expect(bits(q.buffers.scales), `${where} scales`).toEqual(Array.from(ref.scales));
        const xv = Float32Array.from({ length: shape[1] }, (_, i) => Math.cos(i) * 3);
        for (const r of [d, g]) {
          (r.buffers.codes as Uint8Array).set(ref.codes);
          (r.buffers.scales as Uint8Array).set(ref.scales);
        }
        (g.buffers.x as Float32Array).set(xv);
        d.run();
        g.run();
        expect(bits(d.buffers.y), `${where} dequantize`).toEqual(bits(dequantize(ref.q)));
        expect(bits(g.buffers.y), `${where} gemv`).toEqual(bits(gemv(ref.q, xv)));
      }
    }
  });

  it("rows that depend on each other stay on one thread: tensor scales, stochastic rounding, blocks on axis 0", () => {
    const plan = (name: string) => compile(spec(name, "qdq")).plan;
    expect(bands(plan("mxfp4"), [64, 4096], 4)).toHaveLength(4);
    expect(bands(plan("nvfp4"), [64, 4096], 4)).toHaveLength(1);
    expect(bands(plan("mxfp4"), [64, 4096], 1)).toHaveLength(1);
    const sr = compile({
      ...spec("mxfp4", "qdq"),
      scheme: { ...builtinScheme("mxfp4")!, rounding: { mode: "stochastic", randomBits: 8 } },
    }).plan;
    expect(bands(sr, [64, 4096], 4)).toHaveLength(1);
    const axis0 = compile({
      ...spec("mxfp4", "qdq"),
      scheme: { ...builtinScheme("mxfp4")!, block: { kind: "axis", axis: 0, size: 32 } },
    }).plan;
    expect(bands(axis0, [64, 4096], 4)).toHaveLength(1);
  });
});

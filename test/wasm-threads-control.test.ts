/**
 * WasmPlanRunner's control block (backends/wasm/threads.ts): each worker is
 * posted its band's call list in a shared block sized from the plan, so a plan
 * of many steps (or kernels of many parameters) runs on worker threads as on
 * one thread instead of overflowing a fixed block.
 */
import { afterAll, expect, it } from "vitest";
import { compile } from "../passes/pipeline.js";
import { kernelRequest } from "./kernel-request.js";
import { controlSlots, WasmPlanRunner } from "../backends/wasm/threads.js";
import { builtinScheme } from "../stdlib/index.js";
import { qdq } from "../ir/interpret/index.js";
import type { Plan } from "../passes/lower.js";
import { KernelThreads } from "../backends/wasm/threaded.js";
import { emitWasm } from "../backends/wasm/emit.js";
import type { BufferData } from "../ir/kernel-eval.js";

const bits = (a: BufferData) =>
  Array.from(a instanceof Float32Array ? new Uint32Array(a.buffer, a.byteOffset, a.length) : a);
const open: WasmPlanRunner[] = [];
afterAll(async () => {
  for (const r of open) await r.close();
});

it("a plan whose call list needs more than 1023 slots runs on 3 threads as on one (the block is sized from the plan)", async () => {
  const base = compile(kernelRequest(builtinScheme("mxfp4")!, "qdq")).plan;
  // qdq reads x and writes y only, so running its steps again gives the same y
  const plan: Plan = { ...base, steps: Array.from({ length: 200 }, () => base.steps).flat() };
  expect(controlSlots(plan)).toBeGreaterThan(1023);
  const shape = [67, 1056];
  const data = Float32Array.from({ length: shape[0] * shape[1] }, (_, j) =>
    Math.sin(j * 0.37) * 2 ** ((j % 13) - 6),
  );
  const want = bits(qdq(builtinScheme("mxfp4")!, { dtype: "f32", shape, data }));
  for (const threads of [1, 3]) {
    const r = await WasmPlanRunner.create(plan, shape, threads);
    open.push(r);
    expect(r.threads).toBe(threads);
    (r.buffers.x as Float32Array).set(data);
    r.run();
    expect(bits(r.buffers.y), `${threads} threads`).toEqual(want);
  }
});

it("loadThreaded's KernelThreads after close(): a later call starts new workers and gives the same bytes", async () => {
  const plan = compile(kernelRequest(builtinScheme("mxfp4")!, "qdq")).plan;
  const shape = [67, 1056];
  const x = Float32Array.from({ length: shape[0] * shape[1] }, (_, j) => Math.cos(j * 0.11) * 3);
  const want = bits(qdq(builtinScheme("mxfp4")!, { dtype: "f32", shape, data: x }));
  const t = await KernelThreads.load(emitWasm(plan.kernels).binary, { qdq_mxfp4: plan }, 3);
  const first = await t.run("qdq_mxfp4", { x }, shape);
  await t.close();
  const again = await t.run("qdq_mxfp4", { x }, shape);
  await t.close();
  expect([first.threads, again.threads]).toEqual([3, 3]);
  expect(bits(first.outputs.y)).toEqual(want);
  expect(bits(again.outputs.y)).toEqual(want);
  await expect(t.run("nope", { x }, shape)).rejects.toThrow(
    /these kernels have no nope; they have qdq_mxfp4/,
  );
});

it("one runner, several plans of its module: use() switches plan and shape with the same memory and workers, the block fits the largest plan's calls", async () => {
  const s = builtinScheme("mxfp4")!;
  const small = compile(kernelRequest(s, "qdq")).plan;
  // the same kernel, 200 steps: a call list of more slots than `small`'s
  const big: Plan = { ...small, steps: Array.from({ length: 200 }, () => small.steps).flat() };
  const rotated = compile(kernelRequest(s, "quantize", { rotate: { kind: "hadamard", size: 32, seed: 3 } })).plan;
  expect(controlSlots(big)).toBeGreaterThan(controlSlots(small));
  const kernels = [...small.kernels, ...rotated.kernels];
  const emit = (_plan: Plan, shared: boolean) => emitWasm(kernels, { sharedMemory: shared });
  const r = await WasmPlanRunner.create(small, [67, 1056], 3, emit, [big, rotated]);
  open.push(r);
  const qdqOn = (plan: Plan, shape: number[]) => {
    r.use(plan, shape);
    const data = Float32Array.from({ length: shape[0] * shape[1] }, (_, j) => Math.cos(j * 0.11) * 3);
    (r.buffers.x as Float32Array).set(data);
    r.run();
    expect(r.threads, `${plan.steps.length} steps`).toBe(3);
    expect(bits(r.buffers.y), `${plan.steps.length} steps [${shape}]`).toEqual(bits(qdq(s, { dtype: "f32", shape, data })));
  };
  qdqOn(small, [67, 1056]);
  qdqOn(big, [40, 2048]);
  // another kernel of the module (rotate, then quantize), against the same plan on one thread
  const shape = [48, 256];
  const x = Float32Array.from({ length: shape[0] * shape[1] }, (_, j) => Math.sin(j * 0.7));
  r.use(rotated, shape);
  (r.buffers.x as Float32Array).set(x);
  r.run();
  const one = await WasmPlanRunner.create(rotated, shape, 1, emit);
  open.push(one);
  (one.buffers.x as Float32Array).set(x);
  one.run();
  for (const b of rotated.buffers.filter((b) => b.role === "output"))
    expect(bits(r.buffers[b.name]), b.name).toEqual(bits(one.buffers[b.name]));
  qdqOn(small, [67, 1056]);
  expect(r.workersStarted).toBe(2);
  // a plan it was not made for, and a shape it refuses: the plan and shape before stay
  const other = compile(kernelRequest(s, "dequantize")).plan;
  expect(() => r.use(other, shape)).toThrow(/plan dequantize_mxfp4: this runner was made for qdq_mxfp4, qdq_mxfp4, quantize_mxfp4_rot; create one for it/);
  expect(() => r.use(big, [65536, 2, 8192])).toThrow(/more than it can grow to/);
  expect([r.plan, r.shape]).toEqual([small, [67, 1056]]);
  r.run();
});

/**
 * A value that is the same in the four lanes of a group but changes from group
 * to group (the block loop's `j >> 2`) must be computed per group by the
 * four-blocks-per-step path (blocks4.ts), never once per loop. The MXFP4
 * quantize kernel's scale store is rewritten to an index that equals the
 * original but reads the loop variable in that form; the emitted module must
 * take the vector path and still equal the KernelIR evaluator byte for byte.
 */
import { describe, expect, it } from "vitest";
import { K, type Expr, type Kernel, type Stmt } from "../ir/kernel.js";
import { evaluateKernel } from "../ir/kernel-eval.js";
import { emitWasm } from "../backends/wasm/emit.js";
import { WasmKernels } from "../backends/wasm/runtime.js";
import { compile } from "../passes/pipeline.js";
import { geometryScalars } from "../passes/lower/geometry.js";
import { builtinScheme } from "../stdlib/index.js";

const i = K.i32;
const bin = K.bin;

/** the kernel with every `scales` store at index e written as e - j + ((j >> 2) << 2) + (j & 3) */
function regroupScaleStores(k: Kernel): Kernel {
  const rewrite = (list: readonly Stmt[], loopVar?: string): Stmt[] =>
    list.map((s): Stmt => {
      if (s.op === "for") {
        const storesHere = s.body.some(
          (x) => x.op === "for" && x.body.some((y) => y.op === "store" && y.buffer === "scales"),
        );
        return { ...s, body: rewrite(s.body, storesHere ? s.var : loopVar) };
      }
      if (s.op === "if")
        return {
          ...s,
          then: rewrite(s.then, loopVar),
          ...(s.else ? { else: rewrite(s.else, loopVar) } : {}),
        };
      if (s.op === "store" && s.buffer === "scales" && loopVar) {
        const j: Expr = K.v(loopVar, "i32");
        const grouped = bin("add", bin("shl", bin("shr", j, i(2)), i(2)), bin("and", j, i(3)));
        return { ...s, index: bin("add", bin("sub", s.index, j), grouped) };
      }
      return s;
    });
  return { ...k, body: rewrite(k.body) };
}

describe("four blocks per step: per-group uniform values", () => {
  it("a scale index built from j >> 2 lands in each group's own bytes (mxfp4 quantize)", async () => {
    const s = builtinScheme("mxfp4")!;
    const { plan } = compile({
      name: "q",
      kind: "quantize",
      scheme: s,
      input: "f32",
      output: "f32",
      layout: "unpacked",
    });
    const kernel = regroupScaleStores(plan.kernels[0]);
    expect(JSON.stringify(kernel)).not.toBe(JSON.stringify(plan.kernels[0]));
    const artifact = emitWasm([kernel]);
    expect(artifact.wat, "the four-blocks path is emitted").toMatch(/\.(model|lanes)/);
    const wasm = await WasmKernels.load(artifact, [kernel]);
    for (const shape of [
      [1, 256],
      [3, 512],
      [2, 1024],
    ]) {
      const n = shape[0] * shape[1];
      const x = Float32Array.from(
        { length: n },
        (_, t) => Math.sin(t * 0.37) * 2 ** (((t >> 5) % 9) - 4),
      );
      const blocks = n / 32;
      const want = { codes: new Uint8Array(n), scales: new Uint8Array(blocks).fill(0xa5) };
      const got = { codes: new Uint8Array(n), scales: new Uint8Array(blocks).fill(0xa5) };
      const scalars = geometryScalars(s.block, shape);
      evaluateKernel(kernel, { x, ...want }, scalars);
      wasm.execute(kernel, { x, ...got }, scalars);
      expect(Array.from(got.scales), `scales of ${shape.join("x")}`).toEqual(
        Array.from(want.scales),
      );
      expect(Array.from(got.codes), `codes of ${shape.join("x")}`).toEqual(Array.from(want.codes));
    }
  });
});

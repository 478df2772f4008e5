/**
 * Quantize's block loop four blocks per step (backends/wasm/blocks4.ts) and
 * the fitted scale-rule model (scale-fit.ts): the model against the KernelIR
 * evaluator on every binade of amax, which rules get one and why the others
 * do not; the path taken in the emitted module; and quantize and qdq bit for
 * bit against the interpreter on blocks of every binade of amax, all-zero
 * blocks, NaN and Inf blocks, exact ties, subnormals, values near the f32
 * maximum and ragged blocks inside and after a group. A deliberately broken
 * model (one piece off by one) must fail the same comparison.
 */
import { describe, expect, it, vi } from "vitest";
import { K, type Expr, type Kernel, type Stmt } from "../ir/kernel.js";
import { evaluateKernel } from "../ir/kernel-eval.js";
import { fitScaleRule, type ScaleFit } from "../backends/wasm/scale-fit.js";
import { Block } from "../passes/lower/builder.js";
import { lowerBlockScale } from "../passes/lower/scale.js";
import { runPlan } from "../backends/host.js";
import { geometryScalars } from "../passes/lower/geometry.js";
import { qdq, quantize } from "../ir/interpret/index.js";
import { scheme, type Scheme } from "../ir/scheme.js";
import { builtinScheme } from "../stdlib/index.js";
import { formatBits } from "../ir/formats/index.js";
import { wasmPlan } from "./wasm-encode-plan.js";
import { int4Full } from "./wasm-int4-full.js";

const broken = vi.hoisted(() => ({ on: false }));
vi.mock("../backends/wasm/scale-fit.js", async (importOriginal) => {
  const real = await importOriginal<typeof import("../backends/wasm/scale-fit.js")>();
  return {
    ...real,
    // the broken variant: the multiplier's last piece one ulp off
    fitScaleRule: (...args: Parameters<typeof real.fitScaleRule>) => {
      const fit = real.fitScaleRule(...args);
      if (!broken.on || typeof fit === "string") return fit;
      const outputs = fit.outputs.map((o, i) =>
        i === fit.outputs.length - 1
          ? {
              ...o,
              pieces: o.pieces.map((p, j) =>
                j === o.pieces.length - 1 ? { ...p, a: (p.a + 1) >>> 0 } : p,
              ),
            }
          : o,
      );
      return { ...fit, outputs };
    },
  };
});

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const fromBits = (b: number) => ((u32[0] = b >>> 0), f32[0]);
const bitsOf = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

/** a scheme's block scale rule lowered alone: its lets and the names of code, multiplier, value */
function chain(s: Scheme, sEnc: Expr = K.f32(1)) {
  Block.resetNames();
  const b = new Block("b");
  const r = lowerBlockScale(
    b,
    s,
    {
      amax: K.v("amax", "f32"),
      min: K.v("mn", "f32"),
      max: K.v("mx", "f32"),
      nonfinite: K.v("bad", "bool"),
    },
    sEnc,
  );
  const outputs = [r.code, r.mult, r.value].map((e) => (e.op === "var" ? e.name : ""));
  return { lets: b.stmts, outputs };
}

const shell: Kernel = { name: "scale", params: [], tables: [], body: [] };

/** the chain's outputs (u32 bits) at amax bits `bits`, through the evaluator */
function evaluate(
  lets: readonly Stmt[],
  outputs: readonly string[],
  bits: number,
  types: string[],
) {
  const out = new Uint32Array(outputs.length);
  const k: Kernel = {
    name: "probe",
    params: [
      { kind: "scalar", name: "amax", type: "f32" },
      { kind: "buffer", name: "out", elem: "u32", access: "write" },
    ],
    tables: [],
    body: [
      K.let("bad", K.bool(false)),
      ...lets,
      ...outputs.map((o, i) =>
        K.store(
          "out",
          K.i32(i),
          types[i] === "f32" ? K.bitcast(K.v(o, "f32"), "u32") : K.v(o, types[i] as "u32"),
        ),
      ),
    ],
  };
  evaluateKernel(k, { out }, { amax: fromBits(bits) });
  return Array.from(out);
}

const modelAt = (fit: ScaleFit, e: number) =>
  fit.outputs.map((o) => {
    const p = [...o.pieces].reverse().find((q) => e >= q.from)!;
    return (p.a + Math.imul(p.b, e)) >>> 0;
  });

describe("the fitted scale rule (scale-fit.ts)", () => {
  for (const name of ["mxfp4", "mxfp8_e4m3", "mxfp6_e3m2", "mxint8"]) {
    it(`${name} (E8M0 floor): a model of a few pieces, equal to the evaluator at 64 random amax of every decided binade`, () => {
      const s = builtinScheme(name)!;
      const { lets, outputs } = chain(s);
      expect(outputs.every((o) => o !== "")).toBe(true);
      const fit = fitScaleRule(shell, lets, "amax", "bad", outputs, new Map());
      if (typeof fit === "string") throw new Error(fit);
      expect(fit.lo).toBe(0);
      expect(fit.hi).toBe(254);
      for (const o of fit.outputs) expect(o.pieces.length).toBeLessThanOrEqual(3);
      const types = ["u32", "f32", "f32"];
      let seed = 7;
      const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 9;
      for (let e = fit.lo; e <= fit.hi; e++)
        for (let q = 0; q < 64; q++) {
          const bits = ((e << 23) | (q === 0 ? 0 : q === 1 ? 0x7fffff : rand())) >>> 0;
          expect(modelAt(fit, e), `binade ${e}`).toEqual(evaluate(lets, outputs, bits, types));
        }
    });
  }

  it("refuses rules that are not constant on each binade (ceil, even, rceil; one that differs at a single amax leaves that binade out) and NVFP4's, which reads its tensor scale", () => {
    const mx = builtinScheme("mxfp4")!;
    for (const rule of ["ceil", "even", "rceil"] as const) {
      const { lets, outputs } = chain(
        scheme({ ...mx, name: `mxfp4_${rule}`, scale: { ...mx.scale, rule } }),
      );
      expect(fitScaleRule(shell, lets, "amax", "bad", outputs, new Map()), rule).toMatch(
        /not constant on each binade/,
      );
    }
    // equal on every sampled amax, other at one amax of binade 127: not a proof
    const bits = K.bitcast(K.v("amax", "f32"), "u32");
    const odd: Stmt[] = [
      K.let("odd", K.convert(K.bin("eq", bits, K.u32(0x3f803039)), "u32")),
      K.let("e", K.bin("shr", bits, K.u32(23))),
    ];
    const oddFit = fitScaleRule(shell, odd, "amax", "bad", ["odd", "e"], new Map());
    if (typeof oddFit === "string") throw new Error(oddFit);
    expect([oddFit.lo, oddFit.hi]).toEqual([0, 126]);
    const { lets, outputs } = chain(builtinScheme("nvfp4")!, K.v("senc", "f32"));
    expect(fitScaleRule(shell, lets, "amax", "bad", outputs, new Map())).toMatch(
      /^the scale rule reads senc besides the block's amax$/,
    );
  });
});

const TIES = [0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5];

/** blocks of `size`: N(0,1) over every binade of amax, zeros, NaN, Inf, ties, subnormals, huge, outliers */
function corpus(rows: number, cols: number, size: number): Float32Array {
  const x = new Float32Array(rows * cols);
  let seed = 12345;
  const gauss = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const u = (seed >>> 8) / 2 ** 24 + 2 ** -25;
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return Math.sqrt(-2 * Math.log(u)) * Math.cos((2 * Math.PI * (seed >>> 8)) / 2 ** 24);
  };
  for (let r = 0; r < rows; r++)
    for (let c0 = 0; c0 < cols; c0 += size) {
      const blk = r * Math.ceil(cols / size) + c0 / size;
      const at = (t: number) => r * cols + c0 + t;
      const len = Math.min(size, cols - c0);
      const e = (blk * 37) % 276; // binades 0..254 of amax, and some subnormal scales below
      // every other group of four blocks is all N(0,1) blocks (the vector path), the others mixed
      const group = Math.floor(blk / 4);
      const kind = group % 2 === 0 ? 0 : 1 + ((blk + group) % 7);
      for (let t = 0; t < len; t++) {
        let v = gauss() * 2 ** (e - 130);
        if (kind === 1) v = t % 3 ? 0 : -0;
        if (kind === 4) v = (t % 2 ? -1 : 1) * TIES[t % TIES.length] * 2 ** ((blk % 40) - 20);
        if (kind === 5) v = fromBits(((t * 977) % 0x7fffff) | (t % 2 ? 0x80000000 : 0));
        if (kind === 6) v = (t % 2 ? -1 : 1) * fromBits(0x7f7fffff - t * 4099);
        if (kind === 7) v = t === len >> 1 ? 1e30 : gauss() * 1e-3;
        x[at(t)] = Math.fround(v);
      }
      if (kind === 4) x[at(len - 1)] = 6 * 2 ** ((blk % 40) - 20); // the amax: scale 2^k, ties exact
      if (kind === 2) x[at(blk % len)] = NaN;
      if (kind === 3) x[at((blk * 5) % len)] = blk % 16 === 3 ? Infinity : -Infinity;
    }
  return x;
}

const variants: { s: Scheme; model: boolean }[] = [
  { s: builtinScheme("mxfp4")!, model: true },
  { s: builtinScheme("mxfp8_e4m3")!, model: true },
  {
    s: scheme({
      ...builtinScheme("mxfp6_e3m2")!,
      name: "e3m2_b64",
      block: { kind: "axis", axis: -1, size: 64 },
    }),
    model: true,
  },
  { s: builtinScheme("nvfp4")!, model: false },
  { s: int4Full, model: false },
  {
    s: scheme({
      ...builtinScheme("mxfp4")!,
      name: "mxfp4_ceil",
      scale: { ...builtinScheme("mxfp4")!.scale, rule: "ceil" },
    }),
    model: false,
  },
];

const SHAPES = [
  [8, 1024],
  [3, 300], // ragged last block after the groups
  [5, 100], // ragged last block inside a group
  [2, 47],
  [1, 8704],
];

describe("quantize's block loop, four blocks per step (blocks4.ts)", () => {
  for (const { s, model } of variants) {
    it(`${s.name}: the ${model ? "fitted model" : "scale chain in lanes"}; quantize and qdq (in place too) equal the interpreter`, async () => {
      const q = await wasmPlan(s, "quantize");
      const f = await wasmPlan(s, "qdq");
      const path = model ? /\$s16step\d+\.model\b/ : /\$s16step\d+\.lanes\b/;
      expect(q.wat, "quantize: four blocks per step").toMatch(path);
      // qdq's element loop is 16 lanes wide when its value table fits a swizzle (16 entries: 4-bit elements)
      if (formatBits(s.element) === 4) expect(f.wat, "qdq: four blocks per step").toMatch(path);
      if (s.name === "nvfp4") {
        // the tensor amax pass before the blocks (its stores to tscale come after it): 16 lanes too
        const pass = q.wat.slice(0, q.wat.indexOf("(local.get $tscale)"));
        expect(pass, "the tensor amax pass, 16 lanes").toMatch(/\(loop \$s16loop\d+/);
      }
      const size = s.block.kind === "axis" && typeof s.block.size === "number" ? s.block.size : 0;
      for (const [rows, cols] of SHAPES) {
        const data = corpus(rows, cols, size);
        const x = { dtype: "f32" as const, shape: [rows, cols], data };
        const ref = quantize(s, x);
        const out = runPlan(q.plan, x.shape, { x: data }, q.exec);
        expect(Array.from(out.scales), `${rows}x${cols} scales`).toEqual(Array.from(ref.scales));
        expect(Array.from(out.codes), `${rows}x${cols} codes`).toEqual(Array.from(ref.codes));
        const want = bitsOf(qdq(s, x));
        const y = runPlan(f.plan, x.shape, { x: data }, f.exec).y as Float32Array;
        expect(bitsOf(y), `${rows}x${cols} qdq`).toEqual(want);
        const io = data.slice();
        f.exec(f.plan.kernels[0], { x: io, y: io }, geometryScalars(s.block, x.shape));
        expect(bitsOf(io), `${rows}x${cols} qdq in place`).toEqual(want);
      }
    });
  }

  it("a broken model (the multiplier's last piece off by one ulp) gives other codes than the interpreter", async () => {
    const s = builtinScheme("mxfp4")!;
    broken.on = true;
    const q = await wasmPlan(s, "quantize").finally(() => (broken.on = false));
    const data = corpus(8, 1024, 32);
    const x = { dtype: "f32" as const, shape: [8, 1024], data };
    const out = runPlan(q.plan, x.shape, { x: data }, q.exec);
    expect(Array.from(out.codes)).not.toEqual(Array.from(quantize(s, x).codes));
  });
});

/**
 * The float encoder inside a scale rule as a grid in lanes (backends/wasm/
 * scale-encoder.ts, used by blocks4.ts): found in NVFP4's and NVINT4's rule
 * (the E4M3 code of amax * s_enc / 6), equal to the evaluator at the E4M3
 * edges (zero, subnormal scales and their ties, the smallest normal, the
 * saturation at 448 and above, +-Inf), refused where the code is no grid,
 * and a grid off by one rejected by the verifier; then NVFP4 and NVINT4
 * quantize and qdq bit-exact against the interpreter on tensors whose
 * tensor scale is degenerate or extreme (all zeros, subnormal, near the f32
 * maximum, one huge outlier, NaN and Inf blocks) and that reach the E4M3
 * subnormal and saturated scales.
 */
import { describe, expect, it } from "vitest";
import { K, type Kernel, type Stmt } from "../ir/kernel.js";
import { evaluateKernel } from "../ir/kernel-eval.js";
import { Block } from "../passes/lower/builder.js";
import { lowerBlockScale } from "../passes/lower/scale.js";
import { F32_IDENTITY, f32Code, scaleEncoder, verify } from "../backends/wasm/scale-encoder.js";
import { roundCode } from "../backends/wasm/round-encoder.js";
import { runPlan } from "../backends/host.js";
import { geometryScalars } from "../passes/lower/geometry.js";
import { qdq, quantize } from "../ir/interpret/index.js";
import type { Scheme } from "../ir/scheme.js";
import { builtinScheme } from "../stdlib/index.js";
import { e5m2 } from "../stdlib/formats.js";
import { scheme } from "../ir/scheme.js";
import { wasmPlan } from "./wasm-encode-plan.js";
import { int4Full } from "./wasm-int4-full.js";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const toBits = (x: number) => ((f32[0] = x), u32[0]);
const bitsOf = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
const shell: Kernel = { name: "scale", params: [], tables: [], body: [] };

/** a scheme's block scale rule lowered alone, with a tensor scale variable `senc` */
function chain(s: Scheme): Stmt[] {
  Block.resetNames();
  const b = new Block("b");
  lowerBlockScale(
    b,
    s,
    {
      amax: K.v("amax", "f32"),
      min: K.v("mn", "f32"),
      max: K.v("mx", "f32"),
      nonfinite: K.v("bad", "bool"),
    },
    K.v("senc", "f32"),
  );
  return b.stmts;
}

describe("the encoder in a scale rule (scale-encoder.ts)", () => {
  for (const name of ["nvfp4", "nvint4"]) {
    it(`${name}: the E4M3 code of the ratio is a grid, equal to the evaluator at every E4M3 edge`, () => {
      const lets = chain(builtinScheme(name)!);
      const found = scaleEncoder(shell, lets, []);
      if (typeof found === "string") throw new Error(found);
      expect(found.output).toMatch(/code/);
      const { encoder } = found;
      if ("identity" in encoder) throw new Error("E4M3 is a grid, not f32");
      const se = { ...found, encoder };
      const run = lets.slice(se.from, se.to + 1);
      const out = new Uint32Array(1);
      const probe: Kernel = {
        name: "probe",
        params: [
          { kind: "scalar", name: se.input, type: "f32" },
          { kind: "buffer", name: "out", elem: "u32", access: "write" },
        ],
        tables: [],
        body: [...run, K.store("out", K.i32(0), K.v(se.output, "u32"))],
      };
      const exact = (x: number) => {
        evaluateKernel(probe, { out }, { [se.input]: x });
        return out[0];
      };
      // zero, E4M3 subnormals (2^-9 steps) and their ties, the smallest normal, 448 and the saturation
      const edges = [
        0,
        2 ** -149,
        2 ** -11,
        2 ** -10,
        3 * 2 ** -10,
        5 * 2 ** -10,
        2 ** -9,
        7 * 2 ** -9,
        15 * 2 ** -10,
        2 ** -6,
        1.0625,
        1.1875,
        240,
        416,
        432,
        440,
        448,
        456,
        464,
        480,
        1e6,
        3.4e38,
        Infinity,
      ];
      for (const x of edges.flatMap((v) => [v, -v]))
        expect(roundCode(se.encoder, toBits(x)), `${x}`).toBe(exact(x));
      expect(exact(464), "464 saturates to 448").toBe(126);
      expect(exact(2 ** -10), "half the smallest subnormal ties to 0").toBe(0);
      expect(
        verify(se.encoder, (b) => exact(new Float32Array(new Uint32Array([b]).buffer)[0])),
      ).toBeUndefined();
      for (const wrong of [
        { ...se.encoder, maxCode: se.encoder.maxCode - 1 },
        { ...se.encoder, negMax: se.encoder.negMax - 1 },
        { ...se.encoder, offset: se.encoder.offset + 1 },
      ])
        expect(
          verify(wrong, (b) => exact(new Float32Array(new Uint32Array([b]).buffer)[0])),
        ).toMatch(/differs/);
    });
  }

  it("an E5M2 scale (IEEE specials, another exponent width and bias) is found as a lowered encoder too", () => {
    const s = scheme({
      ...builtinScheme("nvfp4")!,
      name: "e5m2_scale",
      scale: { format: e5m2, rule: "amax" },
    });
    const found = scaleEncoder(shell, chain(s), []);
    if (typeof found === "string") throw new Error(found);
    expect("identity" in found.encoder).toBe(false);
  });

  it("a run that is a grid at every piece end but not a lowered encoder is refused (one input inside a piece changed)", () => {
    const lets = chain(builtinScheme("nvfp4")!);
    const found = scaleEncoder(shell, lets, []);
    if (typeof found === "string") throw new Error(found);
    const first = lets[found.from];
    if (first.op !== "let") throw new Error("the run starts with a let");
    // the code of 0x3f812345 (about 1.0088, inside the piece of 1.0) is 0 instead of 56
    const tweak = K.let(
      "tweak",
      K.select(
        K.bin("eq", K.v(first.name, "u32"), K.u32(0x3f812345)),
        K.u32(0),
        K.v(found.output, "u32"),
      ),
    );
    const rest = JSON.parse(
      JSON.stringify(lets.slice(found.to + 1)).replaceAll(`"${found.output}"`, '"tweak"'),
    ) as Stmt[];
    const other = [...lets.slice(0, found.to + 1), tweak, ...rest];
    const again = scaleEncoder(shell, other, []);
    expect(typeof again === "string" ? again : `found ${again.output}`).toMatch(
      /^the encoder of \w+ in the scale rule: /,
    );
  });

  it("an f32 scale is the lowered f32 encoder: the identity on finite values, +-Inf to +-max", () => {
    const lets = chain(int4Full);
    const found = scaleEncoder(shell, lets, []);
    if (typeof found === "string") throw new Error(found);
    expect(found.encoder).toBe(F32_IDENTITY);
    expect(f32Code(0x7f800000)).toBe(0x7f7fffff);
    expect(f32Code(0xff800000)).toBe(0xff7fffff);
    expect(f32Code(0x80000001)).toBe(0x80000001);
    // the same lets with one constant changed (the saturation code) are no f32 encoder
    const changed = JSON.parse(
      JSON.stringify(lets.slice(found.from, found.to + 1)).replace("2139095039", "2139095038"),
    ) as Stmt[];
    const other = [...lets.slice(0, found.from), ...changed, ...lets.slice(found.to + 1)];
    expect(scaleEncoder(shell, other, [])).toMatch(/^the encoder of \w+ in the scale rule: /);
  });
});

/** tensors whose tensor scale is degenerate or extreme, 4 x 256 */
function tensors(): [string, Float32Array][] {
  const n = 4 * 256;
  const wave = (j: number) => Math.sin(j * 0.7) * 2 ** ((j % 29) - 14);
  const make = (f: (j: number) => number) => Float32Array.from({ length: n }, (_, j) => f(j));
  return [
    ["all zeros", make(() => 0)],
    ["all subnormal", make((j) => (j % 2 ? -1 : 1) * 2 ** -140 * (1 + (j % 7)))],
    ["near the f32 maximum", make((j) => (j % 3 ? 3e38 : -3.4e38) * (1 - (j % 5) / 16))],
    [
      "one huge outlier (tiny block scales, E4M3 subnormals and zeros)",
      make((j) => (j === 77 ? 1e30 : wave(j))),
    ],
    ["wide range (saturated and subnormal scales)", make((j) => wave(j) * 2 ** ((j >> 4) % 40))],
    ["NaN and Inf blocks", make((j) => (j === 40 ? NaN : j === 300 ? -Infinity : wave(j)))],
  ];
}

describe("NVFP4 and NVINT4 with the scale encoder in lanes (blocks4.ts)", () => {
  for (const s of [builtinScheme("nvfp4")!, builtinScheme("nvint4")!, int4Full]) {
    it(`${s.name}: quantize and qdq (in place too) equal the interpreter on extreme tensor scales`, async () => {
      const q = await wasmPlan(s, "quantize");
      const f = await wasmPlan(s, "qdq");
      expect(q.wat, "quantize: the encoder in lanes").toMatch(/\$s16step\d+\.lanes\.encoder\b/);
      expect(f.wat, "qdq: the encoder in lanes").toMatch(/\$s16step\d+\.lanes\.encoder\b/);
      for (const [what, data] of tensors()) {
        const x = { dtype: "f32" as const, shape: [4, 256], data };
        const ref = quantize(s, x);
        const out = runPlan(q.plan, x.shape, { x: data }, q.exec);
        expect(Array.from(out.scales), `${what}: scales`).toEqual(Array.from(ref.scales));
        expect(Array.from(out.codes), `${what}: codes`).toEqual(Array.from(ref.codes));
        const want = bitsOf(qdq(s, x));
        const y = runPlan(f.plan, x.shape, { x: data }, f.exec).y as Float32Array;
        expect(bitsOf(y), `${what}: qdq`).toEqual(want);
        if (f.plan.kernels.length === 1) {
          const io = data.slice();
          f.exec(f.plan.kernels[0], { x: io, y: io }, geometryScalars(s.block, x.shape));
          expect(bitsOf(io), `${what}: qdq in place`).toEqual(want);
        }
      }
    });
  }
});

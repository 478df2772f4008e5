/**
 * The vector element encoders of the WebAssembly backend (lane-encoder.ts:
 * key-and-swizzle for E2M1, rounding in integer lanes for the FP6, FP8 and
 * integer grids) against the exact encoder, bit for bit, on every float32
 * within 40 ulps of each point where the code changes, both signs, with NaN,
 * +-Inf, +-0 and subnormals; which formats get which encoder and why the
 * others keep the memo gather; that the verifier rejects a wrong grid; and
 * that the quantize kernels of the stdlib schemes really run them.
 */
import { describe, expect, it } from "vitest";
import { K, type Kernel, type Param, type Stmt } from "../ir/kernel.js";
import { evaluateKernel } from "../ir/kernel-eval.js";
import { emitWasm } from "../backends/wasm/emit.js";
import { WasmKernels } from "../backends/wasm/runtime.js";
import { laneEncoder } from "../backends/wasm/lane-encoder.js";
import { memoPattern, probeEncoder } from "../backends/wasm/encoder-probe.js";
import { pieces, roundCode, verifyRoundEncoder } from "../backends/wasm/round-encoder.js";
import { Block, E } from "../passes/lower/builder.js";
import { lowerEncodeMemo } from "../passes/lower/encode.js";
import { compile } from "../passes/pipeline.js";
import { runPlan } from "../backends/host.js";
import { qdq, quantize } from "../ir/interpret/index.js";
import { scheme } from "../ir/scheme.js";
import { packedLength, packKernel } from "../passes/lower/pack.js";
import { geometryScalars } from "../passes/lower/geometry.js";
import type { CodeLayout } from "../ir/graph.js";
import { builtinScheme } from "../stdlib/index.js";
import type { Format, Rounding } from "../ir/formats/index.js";
import { wasmPlan } from "./wasm-encode-plan.js";
import { int4Full } from "./wasm-int4-full.js";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const fromBits = (b: number) => ((u32[0] = b >>> 0), f32[0]);
const INF = 0x7f800000;

/** codes[i] = encode(x[i] * mult) through the lowered memo encoder, as in quantize's element loop */
function encoderKernel(format: Format, rounding: Rounding, elem: "u8" | "u32" = "u32"): Kernel {
  Block.resetNames();
  const tables: Kernel["tables"][number][] = [];
  const body = new Block("e");
  const at = body.let("i", K.v("t", "i32"));
  const x = body.let("x", K.load("x", at, "f32"));
  const v = body.let("v", E.mul(x, K.v("mult", "f32")));
  const code = lowerEncodeMemo(body, format, rounding, "saturate", v, (t) => tables.push(t));
  body.push(K.store("codes", at, code));
  const params: Param[] = [
    { kind: "buffer", name: "x", elem: "f32", access: "read" },
    { kind: "buffer", name: "codes", elem, access: "write" },
    { kind: "scalar", name: "n", type: "i32" },
    { kind: "scalar", name: "mult", type: "f32" },
  ];
  return {
    name: `enc_${format.name}_${elem}`,
    params,
    tables,
    body: [K.for("t", K.i32(0), K.v("n", "i32"), body.stmts)],
  };
}

/** the memo let and the if after it in the kernel's loops */
function memoSites(k: Kernel): [Stmt, Stmt][] {
  const out: [Stmt, Stmt][] = [];
  const walk = (list: readonly Stmt[]) =>
    list.forEach((s, j) => {
      if (memoPattern(k, s, list[j + 1])) out.push([s, list[j + 1]]);
      if (s.op === "for") walk(s.body);
      if (s.op === "if") walk(s.then);
    });
  walk(k.body);
  return out;
}

const siteOf = (k: Kernel) => memoSites(k)[0];

/** bits where the probed encoder's code changes (the last bits before each change), positive side */
function changePoints(code: (bits: number) => number): number[] {
  const out: number[] = [];
  const split = (x: number, y: number) => {
    if (code(x) === code(y)) return;
    if (y === x + 1) return void out.push(x);
    const mid = x + Math.floor((y - x) / 2);
    split(x, mid);
    split(mid, y);
  };
  split(0, INF);
  return out;
}

const schemeOf = (name: string) => (name === int4Full.name ? int4Full : builtinScheme(name)!);

const cases: [scheme: string, kind: "key" | "round"][] = [
  ["mxfp4", "key"],
  ["mxfp6_e2m3", "round"],
  ["mxfp6_e3m2", "round"],
  ["mxfp8_e4m3", "round"],
  ["mxfp8_e5m2", "round"],
  ["mxint8", "round"],
  ["nvint4", "round"],
  ["mxint4", "round"],
  ["int8_channel", "round"],
  [int4Full.name, "round"],
];

/** `next` (the encoder's memo if) whose exact path gives `code` for the one input of bits `at` */
function exactPathChangedAt(next: Stmt, input: string, at: number, code: number): Stmt {
  if (next.op !== "if") throw new Error("the encoder site is a memo if");
  const last = next.then.at(-1)!;
  if (last.op !== "assign" || last.value.op !== "var")
    throw new Error("the exact path assigns the code");
  const bitsOfInput = K.bitcast(K.v(input, "f32"), "u32");
  const tweak = K.let("tweak", K.select(K.bin("eq", bitsOfInput, K.u32(at)), K.u32(code), last.value));
  return {
    ...next,
    then: [...next.then.slice(0, -1), tweak, K.assign(last.name, K.v("tweak", "u32"))],
  };
}

describe("vector element encoders", () => {
  for (const [name, kind] of cases) {
    const s = schemeOf(name);
    it(`${s.element.name} (${name}): a ${kind} encoder; every float32 within 40 ulps of each code edge, both signs, encodes as the exact path, 4 and 16 lanes`, async () => {
      const k = encoderKernel(s.element, s.rounding);
      const [l, next] = siteOf(k);
      const enc = laneEncoder(k, l, next);
      expect(typeof enc === "string" ? enc : enc.kind).toBe(kind);
      const probe = probeEncoder(k, l, next)!;
      const edges = changePoints(probe.exact);
      expect(edges.length, "code edges").toBeGreaterThan(5);
      const bits: number[] = [];
      for (const e of [0, 1, 0x7fffff, 0x800000, 0x7f7fffff, INF, ...edges])
        for (let d = -40; d <= 40; d++) {
          const b = e + d;
          if (b >= 0 && b <= INF) bits.push(b, (b | 0x80000000) >>> 0);
        }
      bits.push(0x7fc00000, 0xffc00001, 0x7f800001, 0xff800000); // NaN lanes take the exact path
      const x = Float32Array.from(bits, fromBits);
      // u32 codes: the 4-lane vectorizer; u8 codes: quantize's 16-lane element loop (encode16.ts)
      for (const elem of ["u32", "u8"] as const) {
        const kk = elem === "u32" ? k : encoderKernel(s.element, s.rounding, elem);
        const Codes = elem === "u32" ? Uint32Array : Uint8Array;
        const ref = new Codes(x.length);
        evaluateKernel(kk, { x, codes: ref }, { n: x.length, mult: 1 });
        const artifact = emitWasm([kk]);
        const wasm = await WasmKernels.load(artifact, [kk]);
        const got = new Codes(x.length);
        wasm.run(kk.name, { x, codes: got }, { n: x.length, mult: 1 });
        const diff = Array.from(got).findIndex((c, j) => c !== ref[j]);
        expect(
          diff < 0 ? "none" : `0x${bits[diff].toString(16)}: ${got[diff]} vs ${ref[diff]}`,
          elem,
        ).toBe("none");
        if (kind === "key") expect(artifact.wat).toContain("i8x16.swizzle");
        else expect(artifact.wat).toContain("i32x4.min_u");
        if (elem === "u8")
          expect(artifact.wat, "16-byte code stores").toMatch(/v128\.store\b(?!\d|_lane)/);
      }
    });
  }

  it("NF4 (a lookup table) keeps the memo gather, and says why", () => {
    const s = builtinScheme("nf4")!;
    const k = encoderKernel(s.element, s.rounding);
    const [l, next] = siteOf(k);
    expect(laneEncoder(k, l, next)).toMatch(/lookup table/);
  });

  it("the grid model is round-to-nearest-even: E4M3 rounding away from zero keeps the memo gather", () => {
    const s = builtinScheme("mxfp8_e4m3")!;
    const k = encoderKernel(s.element, { ...s.rounding, mode: "nearest_away" });
    const [l, next] = siteOf(k);
    expect(laneEncoder(k, l, next)).toMatch(
      /no grid: the first rounding threshold .* is not half a power of two/,
    );
  });

  it("the verifier rejects a grid that is off by one anywhere", () => {
    const s = builtinScheme("mxfp8_e4m3")!;
    const k = encoderKernel(s.element, s.rounding);
    const [l, next] = siteOf(k);
    const enc = laneEncoder(k, l, next);
    if (typeof enc === "string" || enc.kind !== "round") throw new Error(`no grid: ${String(enc)}`);
    const probe = probeEncoder(k, l, next)!;
    expect(verifyRoundEncoder(enc, probe)).toBeUndefined();
    for (const wrong of [
      { ...enc, offset: enc.offset + 1 },
      { ...enc, maxCode: enc.maxCode - 1 },
      // (moving the normals up one binade would be no error: the first normal binade has the subnormal step)
      { ...enc, normal: enc.normal - (1 << 23) },
      { ...enc, shift: enc.shift + 1 },
      { ...enc, magic: enc.magic + (1 << 23) },
      { ...enc, sign: { xor: 0 } },
    ])
      expect(verifyRoundEncoder(wrong, probe)).toMatch(/differs/);
    // the model's pieces cover the range, each of one code
    const ps = pieces(enc, 0x3f800000, 0x3f80ffff);
    expect(ps[0][0]).toBe(0x3f800000);
    expect(ps.at(-1)![1]).toBe(0x3f80ffff);
    for (const [a, b] of ps) expect(roundCode(enc, a)).toBe(roundCode(enc, b));
  });

  it("an exact path that is a grid at every piece end but not a lowered encoder keeps the memo gather", () => {
    const s = builtinScheme("mxfp8_e4m3")!;
    const k = encoderKernel(s.element, s.rounding);
    const [l, next] = siteOf(k);
    const enc = laneEncoder(k, l, next);
    if (typeof enc === "string" || enc.kind !== "round" || next.op !== "if")
      throw new Error(`no grid: ${String(enc)}`);
    const { input, table, sentinel } = memoPattern(k, l, next)!;
    // an input inside a piece of a prefix the exact path decides (from 1.0 up), not at either end
    const prefix = table.values.findIndex((c, j) => j >= 0x3f80 && c === sentinel);
    const [x, y] = pieces(enc, prefix << 16, (prefix << 16) | 0xffff).find(([a, b]) => b - a >= 2)!;
    const changed = exactPathChangedAt(next, input, x + 1, 0);
    expect(y - x).toBeGreaterThanOrEqual(2);
    expect(laneEncoder(k, { ...l }, changed)).toMatch(/not the lowered encoder/);
  });

  it("an E2M1 exact path that is constant at every key bucket's ends but not a lowered encoder is refused by the key encoder, and its kernel runs as the evaluator", async () => {
    const s = builtinScheme("mxfp4")!;
    const k = encoderKernel(s.element, s.rounding);
    const [l, next] = siteOf(k);
    const enc = laneEncoder(k, l, next);
    if (typeof enc === "string" || enc.kind !== "key" || next.op !== "if")
      throw new Error(`no key encoder: ${String(enc)}`);
    const { input, table, sentinel } = memoPattern(k, l, next)!;
    // an input the exact path decides (its prefix is the sentinel), inside a key bucket: not
    // its first two inputs nor its last, the only ones the key encoder's derivation evaluates
    const prefix = table.values.findIndex((c, j) => j >= 0x3f80 && c === sentinel);
    const x = ((prefix << 16) | 5) >>> 0;
    const lo = (x >>> enc.shift) << enc.shift;
    expect([lo, lo + 1, lo + 2 ** enc.shift - 1]).not.toContain(x);
    const changed = exactPathChangedAt(next, input, x, 7);
    const l2 = { ...l };
    const found = laneEncoder(k, l2, changed);
    expect(typeof found === "string" ? found : found.kind).toMatch(/not the lowered encoder/);
    // the kernel with that exact path: WASM equals the KernelIR evaluator on x and around it
    const replace = (list: readonly Stmt[]): Stmt[] =>
      list.flatMap((st, j): Stmt[] => {
        if (st === l) return [l2];
        if (st === next && list[j - 1] === l) return [changed];
        return st.op === "for" ? [{ ...st, body: replace(st.body) }] : [st];
      });
    const hand: Kernel = { ...k, name: "enc_hand_e2m1", body: replace(k.body) };
    const xs = Float32Array.from({ length: 64 }, (_, j) => fromBits(x - 8 + j));
    const want = new Uint32Array(xs.length);
    evaluateKernel(hand, { x: xs, codes: want }, { n: xs.length, mult: 1 });
    expect(want[8]).toBe(7);
    const artifact = emitWasm([hand]);
    expect(artifact.wat, "the key encoder's swizzles are not emitted").not.toContain(
      "i8x16.swizzle",
    );
    const w = await WasmKernels.load(artifact, [hand]);
    const got = new Uint32Array(xs.length);
    w.run(hand.name, { x: xs, codes: got }, { n: xs.length, mult: 1 });
    expect(Array.from(got)).toEqual(Array.from(want));
  });

  it("an E2M1 encoder whose memo disagrees with its (lowered) exact path on one prefix is refused by the key encoder, and its kernel runs as the evaluator", async () => {
    const s = builtinScheme("mxfp4")!;
    const k = encoderKernel(s.element, s.rounding);
    const [l, next] = siteOf(k);
    const enc = laneEncoder(k, l, next);
    if (typeof enc === "string" || enc.kind !== "key")
      throw new Error(`no key encoder: ${String(enc)}`);
    const { table, sentinel } = memoPattern(k, l, next)!;
    // a prefix the memo decides in a key bucket that also has prefixes the exact path decides
    const per = 2 ** (enc.shift - 16);
    const split = table.values.findIndex((c, j) => j >= 0x3f80 && c === sentinel);
    const first = split - (split % per);
    const q = Array.from({ length: per }, (_, j) => first + j).find(
      (j) => table.values[j] !== sentinel,
    )!;
    expect(q).toBeDefined();
    const values = Uint32Array.from(table.values);
    values[q] = table.values[q] === 7 ? 6 : 7;
    const l2 = { ...l };
    const replace = (list: readonly Stmt[]): Stmt[] =>
      list.map((st): Stmt =>
        st === l ? l2 : st.op === "for" ? { ...st, body: replace(st.body) } : st,
      );
    const hand: Kernel = {
      ...k,
      name: "enc_hand_memo",
      tables: k.tables.map((t) =>
        t.name === table.name ? { ...t, values: Array.from(values) } : t,
      ),
      body: replace(k.body),
    };
    const found = laneEncoder(hand, l2, next);
    expect(typeof found === "string" ? "memo gather" : found.kind).not.toBe("key");
    const xs = Float32Array.from({ length: 64 }, (_, j) => fromBits(((q << 16) | (j * 977)) >>> 0));
    const want = new Uint32Array(xs.length);
    evaluateKernel(hand, { x: xs, codes: want }, { n: xs.length, mult: 1 });
    expect(want[1]).toBe(values[q]);
    const artifact = emitWasm([hand]);
    const w = await WasmKernels.load(artifact, [hand]);
    const got = new Uint32Array(xs.length);
    w.run(hand.name, { x: xs, codes: got }, { n: xs.length, mult: 1 });
    expect(Array.from(got)).toEqual(Array.from(want));
  });

  it("the quantize and qdq kernels of every grid scheme run the vector encoder", () => {
    for (const [name, kind] of cases) {
      for (const k of ["quantize", "qdq"] as const) {
        const { plan } = compile({
          name: `${k}_${name}`,
          kind: k,
          scheme: schemeOf(name),
          input: "f32",
          output: "f32",
          layout: "packed",
        });
        const sites = plan.kernels.flatMap((kk) =>
          memoSites(kk).map((st) => laneEncoder(kk, ...st)),
        );
        expect(sites.length, `${name} ${k} memo encoders`).toBeGreaterThan(0);
        for (const e of sites)
          expect(typeof e === "string" ? e : e.kind, `${name} ${k}`).toBe(kind);
      }
    }
  });
});

describe("quantize's 16-lane loops (encode16.ts, stats16.ts) on ragged blocks", () => {
  const specials = [NaN, Infinity, -Infinity, -0, 0, 2 ** -149, -(2 ** -140), 3.4e38, 0.25, -5];
  const variants = [
    builtinScheme("mxfp4")!,
    builtinScheme("mxfp8_e4m3")!,
    scheme({
      ...builtinScheme("mxfp6_e3m2")!,
      name: "e3m2_b64",
      block: { kind: "axis", axis: -1, size: 64 },
    }),
    scheme({
      ...builtinScheme("mxint8")!,
      name: "mxint8_axis0",
      block: { kind: "axis", axis: 0, size: 32 },
    }),
    builtinScheme("nvfp4")!,
    int4Full,
  ];
  for (const s of variants) {
    it(`${s.name}: quantize and qdq equal the interpreter, in place too; a NaN or Inf in each lane of a step`, async () => {
      const q = await wasmPlan(s, "quantize");
      const f = await wasmPlan(s, "qdq");
      if (s.block.kind === "axis" && s.block.axis === -1) {
        expect(q.wat, "16-lane statistics").toContain("i32x4.max_u");
        expect(q.wat, "16-byte code stores").toMatch(/v128\.store\b(?!\d|_lane)/);
      }
      // E2M1's values are a 16-entry table: qdq decodes 16 codes per step too (four f32x4 stores)
      if (s.element.name === "e2m1") expect(f.wat, "16-lane qdq").toMatch(/v128\.store offset=48/);
      for (const [rows, cols] of [
        [1, 16],
        [2, 47],
        [3, 64],
        [4, 97],
        [33, 20],
        [2, 300],
      ]) {
        const n = rows * cols;
        for (const lane of [0, 5, 15, 16, 31]) {
          const data = Float32Array.from(
            { length: n },
            (_, j) => Math.sin(j * 1.3) * 2 ** ((j % 13) - 6),
          );
          // one special per 37 elements, at a different step lane each time
          for (let j = lane; j < n; j += 37)
            data[j] = specials[((j / 37 + lane) % specials.length) | 0];
          const x = { dtype: "f32" as const, shape: [rows, cols], data };
          const ref = quantize(s, x);
          const out = runPlan(q.plan, x.shape, { x: data }, q.exec);
          expect(Array.from(out.codes), `${rows}x${cols} lane ${lane} codes`).toEqual(
            Array.from(ref.codes),
          );
          expect(Array.from(out.scales), `${rows}x${cols} lane ${lane} scales`).toEqual(
            Array.from(ref.scales),
          );
          const y = runPlan(f.plan, x.shape, { x: data }, f.exec).y as Float32Array;
          const want = qdq(s, x);
          const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
          expect(bits(y), `${rows}x${cols} qdq`).toEqual(bits(want));
          // one array for x and y
          const io = data.slice();
          expect(f.plan.steps.length).toBe(1);
          f.exec(f.plan.kernels[0], { x: io, y: io }, geometryScalars(s.block, x.shape));
          expect(bits(io), `${rows}x${cols} qdq in place`).toEqual(bits(want));
        }
      }
    });
  }
});

describe("the 16-lane packing loop (pack16.ts)", () => {
  const layouts: CodeLayout[] = [
    { kind: "nibbles", order: "low_first" },
    { kind: "nibbles", order: "high_first" },
    { kind: "bits6" },
  ];
  for (const layout of layouts) {
    const name = layout.kind === "nibbles" ? `nibbles ${layout.order}` : "bits6";
    it(`${name}: every n in 0..140 and a few large ones pack as the scalar kernel`, async () => {
      const k = packKernel(`pack_${name.replace(" ", "_")}`, layout);
      const artifact = emitWasm([k]);
      expect(artifact.wat, "vector stores").toMatch(
        layout.kind === "bits6" ? /v128\.store64_lane/ : /v128\.store\b(?!\d|_lane)/,
      );
      const wasm = await WasmKernels.load(artifact, [k]);
      for (const n of [...Array.from({ length: 141 }, (_, j) => j), 1000, 1001, 1002, 1003, 4096]) {
        // codes with bits above the field set, so the masks are exercised too
        const codes = Uint8Array.from({ length: n }, (_, j) => (j * 37 + 11) & 0xff);
        const bytes = packedLength(layout, n);
        const ref = new Uint8Array(bytes + 8).fill(0xa5);
        const got = ref.slice();
        evaluateKernel(k, { codes, packed: ref }, { n });
        wasm.run(k.name, { codes, packed: got }, { n });
        expect(Array.from(got), `n = ${n}`).toEqual(Array.from(ref));
      }
    });
  }
});

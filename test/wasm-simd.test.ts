/**
 * The SIMD128 paths of the WebAssembly backend (backends/wasm/vectorize.ts and
 * swizzle.ts) against the KernelIR evaluator and the interpreter, bit for bit:
 * ragged tails (every loop length 0..13), NaN / Inf / -0 / ties / subnormals in
 * every lane position (the element encoders: test/wasm-encode.test.ts), GEMV
 * lane groups on ragged K, the stride and
 * aliasing guards, reductions the vectorizer must leave scalar, and zero-copy
 * buffers. Each test also checks that the vector code is really emitted.
 */
import { describe, expect, it } from "vitest";
import { K, type Kernel, type Param, type Stmt } from "../ir/kernel.js";
import { evaluateKernel, type BufferData } from "../ir/kernel-eval.js";
import { emitWasm } from "../backends/wasm/emit.js";
import { WasmKernels } from "../backends/wasm/runtime.js";
import { compile } from "../passes/pipeline.js";
import { runPlan } from "../backends/host.js";
import { dequantize, gemv, qdq, quantize } from "../ir/interpret/index.js";
import { builtinScheme } from "../stdlib/index.js";
import type { KernelSpec } from "../ir/program.js";

const bitsOf = (a: BufferData) =>
  a instanceof Float32Array
    ? Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length))
    : Array.from(a);

const i = K.i32;
const v = (name: string, t: "i32" | "u32" | "f32" | "bool" = "i32") => K.v(name, t);

/** the evaluator and the wasm kernel (SIMD on) on copies of the same buffers; returns the wasm module's text */
async function expectSame(
  k: Kernel,
  buffers: Record<string, BufferData>,
  scalars: Record<string, number>,
): Promise<string> {
  const ref = Object.fromEntries(Object.entries(buffers).map(([n, b]) => [n, b.slice()]));
  evaluateKernel(k, ref, scalars);
  const artifact = emitWasm([k]);
  const wasm = await WasmKernels.load(artifact, [k]);
  const got = Object.fromEntries(Object.entries(buffers).map(([n, b]) => [n, b.slice()]));
  wasm.run(k.name, got, scalars);
  for (const n of Object.keys(buffers))
    expect(bitsOf(got[n]), `${k.name} ${n}`).toEqual(bitsOf(ref[n]));
  return artifact.wat;
}

const specials = [
  NaN,
  Infinity,
  -Infinity,
  -0,
  0,
  2 ** -149,
  -(2 ** -140),
  3.4028234663852886e38,
  0.25,
  0.75,
  2.5,
  -5,
];

describe("lowered kernels with SIMD on ragged shapes and specials", () => {
  const spec = (name: string, kind: KernelSpec["kind"]): KernelSpec => ({
    name: `${kind}_${name}`,
    kind,
    scheme: builtinScheme(name)!,
    input: "f32",
    output: "f32",
    layout: "packed",
    ...(kind === "gemv" ? { order: "fixed" as const } : {}),
  });
  for (const name of ["mxfp4", "nvfp4", "mxfp8_e4m3", "nf4", "int4_g128_asym"]) {
    it(`${name}: quantize, dequantize, qdq and gemv equal the interpreter`, async () => {
      const s = builtinScheme(name)!;
      const plans = Object.fromEntries(
        (["quantize", "dequantize", "qdq", "gemv"] as const).map((kind) => [
          kind,
          compile(spec(name, kind)).plan,
        ]),
      );
      const exec = Object.fromEntries(
        await Promise.all(
          Object.entries(plans).map(async ([kind, p]) => [
            kind,
            (await WasmKernels.compile(p.kernels)).execute,
          ]),
        ),
      );
      for (const [rows, cols] of [
        [1, 1],
        [3, 5],
        [2, 33],
        [5, 70],
        [3, 131],
      ]) {
        const data = Float32Array.from({ length: rows * cols }, (_, j) =>
          j % 11 === 3
            ? specials[(j * 7) % specials.length]
            : Math.sin(j * 1.7) * 2 ** ((j % 9) - 4),
        );
        // keep the NaN and Inf to some blocks only, so others stay finite
        if (rows * cols > 40)
          for (let j = 40; j < data.length; j++) if (!Number.isFinite(data[j])) data[j] = 1.5;
        const shape = [rows, cols];
        const x = { dtype: "f32" as const, shape, data };
        const ref = quantize(s, x);
        const out = runPlan(plans.quantize, shape, { x: data }, exec.quantize);
        expect(Array.from(out.scales), `${rows}x${cols} scales`).toEqual(Array.from(ref.scales));
        const y = runPlan(plans.dequantize, shape, out, exec.dequantize).y as Float32Array;
        expect(bitsOf(y), `${rows}x${cols} dequantize`).toEqual(bitsOf(dequantize(ref)));
        const y2 = runPlan(plans.qdq, shape, { x: data }, exec.qdq).y as Float32Array;
        expect(bitsOf(y2), `${rows}x${cols} qdq`).toEqual(bitsOf(qdq(s, x)));
        const xv = Float32Array.from({ length: cols }, (_, j) => Math.cos(j) * 3);
        const yv = runPlan(plans.gemv, shape, { ...out, x: xv }, exec.gemv).y as Float32Array;
        expect(bitsOf(yv), `${rows}x${cols} gemv`).toEqual(bitsOf(gemv(ref, xv)));
      }
    });
  }

  it("the hot loops are vector code: swizzle encoder and decoder, f32x4 GEMV lanes", () => {
    const wat = (kind: KernelSpec["kind"]) =>
      emitWasm(compile(spec("mxfp4", kind)).plan.kernels).wat;
    expect(wat("quantize")).toContain("i8x16.swizzle");
    expect(wat("dequantize")).toContain("i8x16.swizzle");
    expect(wat("qdq")).toContain("f32x4.mul");
    expect(wat("gemv")).toMatch(/f32x4\.add[\s\S]*f32x4\.add[\s\S]*f32x4\.add[\s\S]*f32x4\.add/);
  });
});

// ---- loops: tails, guards, aliasing, reductions ------------------------------------------

const buf = (
  name: string,
  elem: "f32" | "u8" | "u32",
  access: "read" | "write" | "read_write",
): Param => ({
  kind: "buffer",
  name,
  elem,
  access,
});

describe("vectorized loops", () => {
  it("every trip count 0..13 and every start offset 0..4: vector groups, then the scalar tail", async () => {
    // y[t] = x[t] * 3 - 0.5, NaN canonicalized; amax over |x|; any non-finite
    const k: Kernel = {
      name: "tail",
      params: [
        buf("x", "f32", "read"),
        buf("y", "f32", "write"),
        buf("o", "f32", "write"),
        { kind: "scalar", name: "a", type: "i32" },
        { kind: "scalar", name: "b", type: "i32" },
      ],
      tables: [],
      body: [
        K.let("amax", K.f32(0)),
        K.let("bad", K.bool(false)),
        K.let("t", i(-1)),
        K.for("t", v("a"), v("b"), [
          K.let("x1", K.load("x", v("t"), "f32")),
          K.let("ab", K.un("abs", v("x1", "f32"))),
          K.assign(
            "amax",
            K.select(
              K.bin("gt", v("ab", "f32"), v("amax", "f32")),
              v("ab", "f32"),
              v("amax", "f32"),
            ),
          ),
          K.assign(
            "bad",
            K.bin(
              "or",
              v("bad", "bool"),
              K.bin("ge", K.bitcast(v("ab", "f32"), "u32"), K.u32(0x7f800000)),
            ),
          ),
          K.let("y1", K.bin("sub", K.bin("mul", v("x1", "f32"), K.f32(3)), K.f32(0.5))),
          K.store(
            "y",
            v("t"),
            K.select(K.bin("ne", v("y1", "f32"), v("y1", "f32")), K.f32(NaN), v("y1", "f32")),
          ),
        ]),
        K.store("o", i(0), v("amax", "f32")),
        K.store("o", i(1), K.convert(K.convert(v("bad", "bool"), "u32"), "f32")),
        K.store("o", i(2), K.convert(v("t"), "f32")),
      ],
    };
    let wat = "";
    for (let a = 0; a <= 4; a++)
      for (let n = 0; n <= 13; n++)
        for (const at of [0, 1, 2, 3]) {
          const x = Float32Array.from({ length: 20 }, (_, j) =>
            j % 4 === at ? specials[(a + n + j) % specials.length] : j - 9.5,
          );
          wat = await expectSame(
            k,
            { x, y: new Float32Array(20), o: new Float32Array(3) },
            { a, b: a + n },
          );
        }
    expect(wat).toContain("f32x4.mul");
  });

  it("a strided index runs scalar (inner != 1) and vector (inner == 1), same results", async () => {
    const k: Kernel = {
      name: "stride",
      params: [
        buf("x", "f32", "read"),
        buf("y", "f32", "write"),
        { kind: "scalar", name: "n", type: "i32" },
        { kind: "scalar", name: "inner", type: "i32" },
      ],
      tables: [],
      body: [
        K.for("t", i(0), v("n"), [
          K.let("at", K.bin("add", K.bin("mul", v("t"), v("inner")), i(1))),
          K.store("y", v("at"), K.bin("mul", K.load("x", v("at"), "f32"), K.f32(Math.fround(0.1)))),
        ]),
      ],
    };
    const x = Float32Array.from({ length: 64 }, (_, j) => j * 1.25);
    for (const inner of [1, 2, 3]) {
      const wat = await expectSame(k, { x, y: new Float32Array(64) }, { n: 13, inner });
      expect(wat).toContain("v128.load");
    }
  });

  it("one array for two parameters: in place at one index is vector; a shifted read keeps the scalar order", async () => {
    const shifted = (d: number): Kernel => ({
      name: `shift${d}`,
      params: [
        buf("x", "f32", "read"),
        buf("y", "f32", "write"),
        { kind: "scalar", name: "n", type: "i32" },
      ],
      tables: [],
      body: [
        K.for("t", i(0), v("n"), [
          K.store(
            "y",
            v("t"),
            K.bin("add", K.load("x", K.bin("add", v("t"), i(d)), "f32"), K.f32(1)),
          ),
        ]),
      ],
    });
    for (const d of [0, 1]) {
      const k = shifted(d);
      const a = Float32Array.from({ length: 24 }, (_, j) => j);
      const ref = a.slice();
      evaluateKernel(k, { x: ref, y: ref }, { n: 20 });
      const wasm = await WasmKernels.compile([k]);
      const got = a.slice();
      wasm.run(k.name, { x: got, y: got }, { n: 20 });
      expect(Array.from(got), `shift ${d}`).toEqual(Array.from(ref));
    }
  });

  it("a select-min over values that may be -0 is order-dependent and stays scalar; an or-reduction nothing reads is dropped", async () => {
    const k: Kernel = {
      name: "minz",
      params: [
        buf("x", "f32", "read"),
        buf("o", "f32", "write"),
        { kind: "scalar", name: "n", type: "i32" },
      ],
      tables: [],
      body: [
        K.let("mn", K.f32(Infinity)),
        K.for("t", i(0), v("n"), [
          K.let("x1", K.load("x", v("t"), "f32")),
          K.assign(
            "mn",
            K.select(K.bin("lt", v("x1", "f32"), v("mn", "f32")), v("x1", "f32"), v("mn", "f32")),
          ),
        ]),
        K.store("o", i(0), v("mn", "f32")),
      ],
    };
    const x = Float32Array.from([1, 0, -0, 0, -0, 2, 3, 4, -0, 0]);
    const wat = await expectSame(k, { x, o: new Float32Array(1) }, { n: x.length });
    expect(wat).not.toContain("v128");
  });

  it("small-table lookups: indices past the table are gathered like the scalar code", async () => {
    const k: Kernel = {
      name: "lut",
      params: [
        buf("c", "u8", "read"),
        buf("y", "f32", "write"),
        { kind: "scalar", name: "n", type: "i32" },
      ],
      tables: [
        {
          name: "vals",
          type: "f32",
          values: [0, 0.5, 1, 1.5, 2, 3, 4, 6, -0, -0.5, -1, -1.5, -2, -3, -4, -6, 7, 8],
        },
      ],
      body: [
        K.for("t", i(0), v("n"), [
          K.store("y", v("t"), K.table("vals", K.load("c", v("t"), "u32"), "f32")),
        ]),
      ],
    };
    const small: Kernel = {
      ...k,
      name: "lut16",
      tables: [{ ...k.tables[0], values: k.tables[0].values.slice(0, 16) }],
    };
    const c = Uint8Array.from({ length: 23 }, (_, j) => (j * 5) % 16);
    await expectSame(
      k,
      { c: Uint8Array.from(c, (x, j) => (j === 9 ? 17 : x)), y: new Float32Array(23) },
      { n: 23 },
    );
    expect(await expectSame(small, { c, y: new Float32Array(23) }, { n: 23 })).toContain(
      "i8x16.swizzle",
    );
  });
});

describe("lane groups (GEMV's lane accumulators)", () => {
  /** y = sum over k of x[k] * w[k] in 4 lane accumulators; `cross`: every lane also adds lane 0's product p0 (same shape in every lane, so only the cross-lane check keeps it scalar) */
  const lanesKernel = (cross: boolean): Kernel => {
    const chunk: Stmt[] = [];
    for (let c = 0; c < 4; c++) {
      const k = `k${c}`;
      const p = K.bin("mul", K.load("x", v(k), "f32"), K.load("w", v(k), "f32"));
      const body: Stmt[] = [K.let(`p${c}`, p)];
      const add = cross ? K.bin("add", v(`p${c}`, "f32"), v("p0", "f32")) : v(`p${c}`, "f32");
      body.push(K.assign(`acc${c}`, K.bin("add", v(`acc${c}`, "f32"), add)));
      chunk.push(
        K.let(k, K.bin("add", K.bin("mul", v("kb"), i(4)), i(c))),
        K.if(K.bin("lt", v(k), v("n")), body),
      );
    }
    return {
      name: cross ? "lanes_cross" : "lanes",
      params: [
        buf("x", "f32", "read"),
        buf("w", "f32", "read"),
        buf("y", "f32", "write"),
        { kind: "scalar", name: "n", type: "i32" },
      ],
      tables: [],
      body: [
        ...[0, 1, 2, 3].map((c) => K.let(`acc${c}`, K.f32(0))),
        // p0 is read by lane 1 in the cross kernel: it must exist before the loop
        K.let("p0", K.f32(0)),
        K.for("kb", i(0), K.bin("div", K.bin("add", v("n"), i(3)), i(4)), chunk),
        K.store("y", i(0), v("acc0", "f32")),
        K.store("y", i(1), v("acc1", "f32")),
        K.store("y", i(2), v("acc2", "f32")),
        K.store("y", i(3), v("acc3", "f32")),
      ],
    };
  };
  it("each lane keeps its own sum in order; ragged n runs the last chunk as scalar code", async () => {
    for (const n of [0, 3, 4, 9, 16, 19]) {
      const x = Float32Array.from(
        { length: 20 },
        (_, j) => Math.fround(1 / (j + 1)) * 3 ** (j % 7),
      );
      const w = Float32Array.from({ length: 20 }, (_, j) =>
        j % 5 === 2 ? specials[j % specials.length] : Math.fround(Math.sin(j)),
      );
      const wat = await expectSame(lanesKernel(false), { x, w, y: new Float32Array(4) }, { n });
      expect(wat).toContain("f32x4.add");
    }
  });
  it("a lane that reads another lane's variable is not a lane group", async () => {
    const x = Float32Array.from({ length: 20 }, (_, j) => j + 0.5);
    const w = Float32Array.from({ length: 20 }, (_, j) => 20 - j);
    const wat = await expectSame(lanesKernel(true), { x, w, y: new Float32Array(4) }, { n: 17 });
    expect(wat).not.toContain("f32x4.add");
  });
});

describe("zero-copy buffers", () => {
  it("arrays from alloc() are used in place; a call that would grow memory under them is refused", async () => {
    const k: Kernel = {
      name: "twice",
      params: [
        buf("x", "f32", "read"),
        buf("y", "f32", "write"),
        { kind: "scalar", name: "n", type: "i32" },
      ],
      tables: [],
      body: [
        K.for("t", i(0), v("n"), [
          K.store("y", v("t"), K.bin("mul", K.load("x", v("t"), "f32"), K.f32(2))),
        ] as Stmt[]),
      ],
    };
    const wasm = await WasmKernels.compile([k]);
    wasm.reserve(2 * 4 * 1000 + 64);
    const x = wasm.alloc("f32", 1000) as Float32Array;
    const y = wasm.alloc("f32", 1000) as Float32Array;
    x.forEach((_, j) => (x[j] = j));
    expect(wasm.resident(x)).toBe(true);
    wasm.run("twice", { x, y }, { n: 1000 });
    expect(y[999]).toBe(1998);
    const big = new Float32Array(1 << 20);
    expect(() => wasm.run("twice", { x: big, y }, { n: 1000 })).toThrow(/alloc/);
    wasm.releaseAll();
    const out = new Float32Array(1 << 20);
    wasm.run("twice", { x: big.fill(1.5), y: out }, { n: 1 << 20 });
    expect(out[(1 << 20) - 1]).toBe(3);
    // past 4 GiB: one line naming the call, the bytes and the fix, and the instance still runs
    expect(() => wasm.alloc("f32", 2 ** 31)).toThrow(
      /^alloc\(f32, 2147483648\): needs \d+ bytes of wasm memory, more than it can grow to \(a wasm32 memory holds at most 4 GiB\); allocate fewer elements/,
    );
    expect(() => wasm.reserve(2 ** 33)).toThrow(/^reserve\(8589934592\): needs .*; reserve fewer bytes/);
    wasm.run("twice", { x: big, y: out }, { n: 1 << 20 });
    expect(out[0]).toBe(3);
  });
});

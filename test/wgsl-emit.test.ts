/**
 * The WGSL printer without a GPU: snapshots of a few shaders, and the rewrites
 * legalize.ts promises (sub-word words, bit-level NaN tests, folded literals,
 * a parallel region for every lowered kernel, no fma).
 */
import { describe, expect, it } from "vitest";
import { compile } from "../passes/pipeline.js";
import { emitWgsl } from "../backends/wgsl/emit.js";
import { iterations, legalize } from "../backends/wgsl/legalize.js";
import { BUILTIN_SCHEMES } from "../stdlib/index.js";
import { scheme, type Scheme } from "../ir/scheme.js";
import type { KernelSpec } from "../ir/program.js";
import { K, type Expr, type Kernel } from "../ir/kernel.js";
import { kernelRequest } from "./kernel-request.js";

const byName = (name: string) => BUILTIN_SCHEMES.find((s) => s.name === name)!;
const kernelsOf = (s: Scheme, kind: KernelSpec["kind"]) =>
  compile(kernelRequest(s, kind)).plan.kernels;
const KINDS = ["quantize", "dequantize", "qdq", "qdq_backward", "gemv"] as const;

describe("WGSL snapshots", () => {
  for (const [name, kind] of [
    ["mxfp4", "quantize"],
    ["nvfp4", "gemv"],
  ] as const)
    it(`${kind} ${name}`, async () => {
      const text = kernelsOf(byName(name), kind)
        .map((k) => emitWgsl(k).code)
        .join("\n");
      await expect(text).toMatchFileSnapshot(`__snapshots__/wgsl-emit.${kind}_${name}.wgsl`);
    });
  it("stochastic rounding prints Philox with 16-bit limb products", async () => {
    const s = scheme({
      ...byName("mxfp4"),
      name: "mxfp4_sr",
      rounding: { mode: "stochastic", randomBits: 8 },
    });
    const [k] = kernelsOf(s, "qdq");
    const code = emitWgsl(k, { workgroupSize: 128, perInvocation: 2 }).code;
    expect(code).toContain("fn qkc_random(");
    expect(code).toContain("@workgroup_size(128)");
    expect(code).toContain("qkc_k < 2i");
  });
});

describe("legalize", () => {
  it("keeps u8 codes in u32 words: atomic when written, shifted and masked when read", () => {
    const [codes, pack] = kernelsOf(byName("mxfp4"), "quantize").map((k) => legalize(k));
    expect(codes.buffers.find((b) => b.name === "codes")).toMatchObject({
      words: true,
      atomic: true,
    });
    expect(pack.buffers.find((b) => b.name === "codes")).toMatchObject({
      words: true,
      atomic: false,
    });
    const code = emitWgsl(pack).code;
    expect(code).toContain("var<storage, read_write> packed: array<atomic<u32>>");
    expect(code).toMatch(/atomicOr\(&packed\[\(k >> 2u\)\]/);
  });

  it("tests NaN on the bits and folds literal-only arithmetic", () => {
    const y = K.v("y", "f32");
    const k: Kernel = {
      name: "t",
      params: [
        { kind: "buffer", name: "out", elem: "f32", access: "write" },
        { kind: "scalar", name: "n", type: "i32" },
      ],
      tables: [],
      body: [
        K.for("i", K.i32(0), K.v("n", "i32"), [
          K.let("y", K.convert(K.v("i", "i32"), "f32")),
          K.store(
            "out",
            K.v("i", "i32"),
            K.select(
              K.bin("ne", y, y),
              K.f32(NaN),
              K.bin("mul", y, K.bin("div", K.f32(1), K.f32(0))),
            ),
          ),
          K.let("s", K.bin("shl", K.i32(1), K.i32(31))),
          // the same but for the sign of Infinity: a comparison, not a NaN test
          K.let(
            "c",
            K.bin("eq", K.bin("mul", y, K.f32(Infinity)), K.bin("mul", y, K.f32(-Infinity))),
          ),
        ]),
      ],
    };
    const code = emitWgsl(k, { subnormals: "hardware" }).code;
    expect(code).toContain("((bitcast<u32>(y) & 2147483647u) > 2139095040u)");
    expect(code).not.toMatch(/\(y != y\)/);
    expect(code).toContain("(y * qkc_f32(0x7f800000u))"); // 1/0 folded to +Inf, spelled by its bits
    expect(emitWgsl(k).code).toContain("qkc_mul(y, qkc_f32(0x7f800000u))");
    expect(code).toContain("let s: i32 = i32(-2147483648);"); // 1 << 31 wraps, as in the IR
    expect(code).toContain("((y * qkc_f32(0x7f800000u)) == (y * qkc_f32(0xff800000u)))");
  });

  it("prints f32 arithmetic that may meet a subnormal flush-proof, unless told the engine keeps them", () => {
    const a = K.load("v", K.i32(0), "f32");
    const b = K.load("v", K.i32(1), "f32");
    const exprs = [
      K.bin("mul", a, b),
      K.bin("add", a, b),
      K.bin("sub", a, K.f32(1)),
      K.un("floor", a),
      K.select(K.bin("gt", a, K.f32(0)), a, b), // zero: a flushed operand could cross it
      K.select(K.bin("lt", a, K.f32(2 ** -126)), a, b), // the normal range: it cannot
      K.select(K.bin("le", a, b), a, b),
    ];
    const k: Kernel = {
      name: "f",
      params: [{ kind: "buffer", name: "v", elem: "f32", access: "read_write" }],
      tables: [],
      body: exprs.map((e, j) => K.store("v", K.i32(j + 2), e)),
    };
    const exact = emitWgsl(k).code;
    for (const call of ["qkc_mul(v[0i], v[1i])", "qkc_add(v[0i], v[1i])", "qkc_sub(v[0i], 1f)"])
      expect(exact).toContain(call);
    expect(exact).toContain("qkc_floor(v[0i])");
    expect(exact).toContain("qkc_gt(v[0i], 0f)");
    expect(exact).toContain("(v[0i] < (0x1.0p-126f))");
    expect(exact).toContain("qkc_le(v[0i], v[1i])");
    for (const fn of [
      "qkc_mul",
      "qkc_mul_bits",
      "qkc_add",
      "qkc_tiny",
      "qkc_unpack",
      "qkc_mulhi",
      "qkc_lt",
    ])
      expect(exact.split(`fn ${fn}(`), fn).toHaveLength(2);
    const plain = emitWgsl(k, { subnormals: "hardware" }).code;
    expect(plain).toContain("(v[0i] * v[1i])");
    expect(plain).toContain("floor(v[0i])");
    expect(plain).not.toMatch(/fn qkc_(mul|add|lt|floor)\(/);
  });

  it("prints f32 division as the correctly rounded qkc_div", () => {
    const k: Kernel = {
      name: "d",
      params: [{ kind: "buffer", name: "v", elem: "f32", access: "read_write" }],
      tables: [],
      body: [K.store("v", K.i32(0), K.bin("div", K.load("v", K.i32(0), "f32"), K.f32(2688)))],
    };
    const code = emitWgsl(k).code;
    expect(code).toContain("v[0i] = qkc_div(v[0i], 2688f);");
    expect(code).toContain("fn qkc_div(a: f32, b: f32) -> f32 {");
    expect(code).not.toContain("v[0i] / ");
  });

  it("every lowered kernel of every built-in scheme gets a parallel region, and no fma", () => {
    for (const s of BUILTIN_SCHEMES)
      for (const kind of KINDS) {
        if (kind === "gemv" && s.doubleQuant) continue;
        for (const k of kernelsOf(s, kind)) {
          const l = legalize(k);
          expect(l.parallel, `${k.name} runs serially`).toBe(true);
          expect(emitWgsl(l).code).not.toMatch(/\bfma\(/);
        }
      }
  });

  it("runs a looping prefix (NVFP4's tensor amax) once, in its own entry point", () => {
    const [k] = kernelsOf(byName("nvfp4"), "qdq");
    const shader = emitWgsl(k, { workgroupSize: 128 });
    expect(shader.prefixEntryPoint).toBe("qdq_nvfp4_prefix");
    expect(shader.kernel.state?.map((v) => v.name)).toContain("senc_24");
    // the amax loop is a maximum the prefix's workgroup shares
    expect(shader.code).toMatch(/@compute @workgroup_size\(128\)\nfn qdq_nvfp4_prefix\(/);
    expect(shader.code).toContain("let senc_24: f32 = bitcast<f32>(qkc_state[");
    // a prefix without a loop stays inline, recomputed by every invocation
    expect(emitWgsl(kernelsOf(byName("mxfp4"), "qdq")[0]).prefixEntryPoint).toBeUndefined();
  });

  it("the tensor amax: subgroupMax with `subgroups`, one workgroup atomic per invocation without", () => {
    for (const name of ["nvfp4", "nvint4"])
      for (const kind of ["quantize", "qdq", "qdq_backward"] as const) {
        const [k] = kernelsOf(byName(name), kind);
        expect(legalize(k).prefix.filter((s) => s.op === "max_reduce")).toHaveLength(1);
        const sub = emitWgsl(k, { subgroups: true });
        const plain = emitWgsl(k, { subgroups: false });
        expect(sub.code).toMatch(/^\/\/ qkc: kernel \w+\nenable subgroups;/);
        expect(sub.code).toMatch(/subgroupMax\(bitcast<u32>\(tamax_\d+\)\)/);
        expect(sub.code).toContain("if (subgroupElect()) {");
        expect(sub.features).toEqual(["subgroups"]);
        expect(plain.code).not.toMatch(/subgroup/);
        expect(plain.code).toMatch(
          /atomicMax\(&qkc_max_0, bitcast<u32>\(tamax_\d+\)\);\n\s*workgroupBarrier\(\);/,
        );
        expect(plain.features).toEqual([]);
      }
    // a kernel without such a loop declares no feature even when subgroups are allowed
    expect(emitWgsl(kernelsOf(byName("mxfp4"), "qdq")[0], { subgroups: true }).features).toEqual(
      [],
    );
  });

  it("a prefix loop that is not a non-negative maximum stays in one invocation", () => {
    const x = K.v("x", "f32");
    const t = K.v("t", "i32");
    const loop = (value: Expr) =>
      K.for("t", K.i32(0), K.v("n", "i32"), [
        K.let("x", K.load("a", t, "f32")),
        K.assign("m", value),
      ]);
    const m = K.v("m", "f32");
    const kernel = (init: number, value: Expr): Kernel => ({
      name: "k",
      params: [
        { kind: "buffer", name: "a", elem: "f32", access: "read" },
        { kind: "buffer", name: "y", elem: "f32", access: "write" },
        { kind: "scalar", name: "n", type: "i32" },
      ],
      tables: [],
      body: [
        K.let("m", K.f32(init)),
        loop(value),
        K.for("t", K.i32(0), K.v("n", "i32"), [
          K.store("y", t, K.bin("mul", K.load("a", t, "f32"), m)),
        ]),
      ],
    });
    const abs = K.un("abs", x);
    const max = (v: Expr) => K.select(K.bin("gt", v, m), v, m);
    const reduces = (k: Kernel) => legalize(k).prefix.some((s) => s.op === "max_reduce");
    expect(reduces(kernel(0, max(abs)))).toBe(true);
    expect(reduces(kernel(0, K.bin("add", m, x)))).toBe(false); // a sum keeps its order
    expect(reduces(kernel(0, max(x)))).toBe(false); // signed: -0 and +0 tie with different bits
    expect(reduces(kernel(-1, max(abs)))).toBe(false); // starts below zero
    expect(reduces(kernel(0, K.select(K.bin("gt", abs, m), K.bin("add", abs, m), m)))).toBe(false);
  });

  it("f16 inputs: the exact table by default, the shader-f16 conversion on request", () => {
    const k = compile({
      name: "q",
      kind: "qdq",
      scheme: byName("mxfp4"),
      input: "f16",
      output: "f32",
      layout: "packed",
    }).plan.kernels[0];
    const table = emitWgsl(k);
    const half = emitWgsl(k, { f16: true });
    expect(table.code).not.toContain("enable f16;");
    expect(half.code).toMatch(/^\/\/ qkc: kernel q\nenable f16;/);
    expect(half.code).toContain("qkc_half(((x[");
    expect(half.features).toEqual(["shader-f16"]);
    expect(half.tableWords.length).toBe(table.tableWords.length - 65536);
  });

  it("counts iterations on the host from the scalars alone", () => {
    const [k] = kernelsOf(byName("mxfp4"), "dequantize").slice(-1);
    // outer x blocks x inner for a [3, 70] tensor with blocks of 32 along the last axis
    expect(iterations(legalize(k), { outer: 3, n: 70, inner: 1 })).toBe(9);
  });

  it("rejects impossible work splits", () => {
    const [k] = kernelsOf(byName("mxfp4"), "dequantize");
    expect(() => emitWgsl(k, { workgroupSize: 0 })).toThrow(/workgroup size must be an integer/);
    expect(() => emitWgsl(k, { perInvocation: 1.5 })).toThrow(/elements per invocation/);
  });
});

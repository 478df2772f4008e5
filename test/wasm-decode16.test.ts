/**
 * The 16-lane decode path (backends/wasm/decode16.ts, decode-tables.ts,
 * gemv-rows.ts, nibbles.ts): it is taken for dequantize and GEMV (two rows
 * per step) of the 4-bit and 8-bit schemes, packed or not,
 * and the results equal the interpreter bit for bit on the shared corpus
 * (ragged rows: 300 columns, so every loop also runs its scalar tail). Packed
 * nibbles are read in place in both nibble orders, from even and odd first
 * codes (odd K), with NaN and Inf scales. Where
 * it must refuse or bail out (6-bit codes, a 256-entry table no decoder
 * reproduces, codes past a 4-bit table, blocks on the other axis) the result
 * still equals the interpreter or the scalar module.
 */
import { describe, expect, it } from "vitest";
import { compile } from "../passes/pipeline.js";
import { runPlan } from "../backends/host.js";
import { WasmKernels } from "../backends/wasm/runtime.js";
import { emitWasm } from "../backends/wasm/emit.js";
import { tableDecoder } from "../backends/wasm/decode-tables.js";
import { dequantize, gemv, quantize, type QuantizedTensor } from "../ir/interpret/index.js";
import { packNibbles, unpackNibbles, type NibbleOrder } from "../ir/layout/index.js";
import { lowerKernel } from "../passes/lower/kernels.js";
import { lowerGemv } from "../passes/lower/gemv.js";
import { nibbleShuffle } from "../backends/wasm/nibbles.js";
import { resolveScheme } from "../cli/schemes.js";
import { scheme, type Scheme } from "../ir/scheme.js";
import { formatBits } from "../ir/formats/index.js";
import type { Kernel } from "../ir/kernel.js";
import type { KernelSpec } from "../ir/program.js";
import { corpus } from "./corpus/corpus.js";

const spec = (
  s: Scheme,
  kind: "dequantize" | "gemv",
  layout: KernelSpec["layout"],
): KernelSpec => ({
  name: `${kind}_${s.name}`,
  kind,
  scheme: s,
  input: "f32",
  output: "f32",
  layout,
  ...(kind === "gemv" ? { order: "fixed" as const } : {}),
});
const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

/** the printed function of kernel `name` in a module's WAT */
const func = (wat: string, name: string) =>
  wat.split("(func ").find((f) => f.startsWith(`$${name} `)) ?? "";

/** plan inputs from the interpreter's quantized tensor */
function inputs(q: QuantizedTensor, packed: boolean): Record<string, ArrayLike<number>> {
  const codes = Uint8Array.from(q.codes);
  return {
    codes: packed ? packNibbles(codes, "low_first") : codes,
    scales: q.scales,
    ...(q.zeros ? { zeros: q.zeros } : {}),
    ...(q.tensorScale
      ? { tscale: [q.tensorScale.amax, q.tensorScale.encode, q.tensorScale.decode] }
      : {}),
  } as Record<string, ArrayLike<number>>;
}

const typed = (
  plan: { buffers: readonly { name: string; elem: string }[] },
  data: Record<string, ArrayLike<number>>,
) =>
  Object.fromEntries(
    Object.entries(data).map(([name, v]) => {
      const elem = plan.buffers.find((b) => b.name === name)?.elem;
      const T =
        elem === "f32"
          ? Float32Array
          : elem === "u16"
            ? Uint16Array
            : elem === "u32"
              ? Uint32Array
              : Uint8Array;
      return [name, T.from(v)];
    }),
  );

const SCHEMES = [
  "mxfp4",
  "nvfp4",
  "bench/onnx-int4.qs:onnx_int4_b32",
  "nf4",
  "mxfp8_e4m3",
  "mxfp8_e5m2",
  "mxint8",
  "int4_g128_asym",
];

describe("16-lane decode: taken, and bit-exact with the interpreter", () => {
  const cases = corpus();
  for (const name of SCHEMES) {
    const s = resolveScheme(name);
    const layouts: KernelSpec["layout"][] =
      formatBits(s.element) === 4 ? ["unpacked", "packed"] : ["unpacked"];
    for (const layout of layouts)
      it(`${s.name} (${layout}): dequantize and gemv`, async () => {
        for (const kind of ["dequantize", "gemv"] as const) {
          const { plan } = compile(spec(s, kind, layout));
          const artifact = emitWasm(plan.kernels);
          // the element kernel runs 16 codes per step (packed: one kernel reading the nibbles)
          if (layout === "packed") expect(plan.kernels).toHaveLength(1);
          for (const k of plan.kernels)
            expect(func(artifact.wat, k.name), `${k.name} 16 lanes`).toContain("$d16_");
          const main = plan.kernels.at(-1)!;
          if (kind === "gemv")
            expect(func(artifact.wat, main.name), "two rows per step").toContain("$rows_");
          else
            expect(func(artifact.wat, main.name), "blocks as one element loop").toContain(
              "$#flat.k",
            );
          if (s.element.kind !== "int" && formatBits(s.element) === 4)
            expect(func(artifact.wat, main.name), `${main.name} swizzles`).toContain(
              "i8x16.swizzle",
            );
          const wasm = await WasmKernels.load(artifact, plan.kernels);
          for (const c of cases) {
            const shape = [c.rows, c.cols];
            const q = quantize(s, { dtype: "f32", shape, data: c.data });
            const xv = Float32Array.from({ length: c.cols }, (_, i) => Math.cos(i) * 3);
            const data = typed(plan, {
              ...inputs(q, layout === "packed"),
              ...(kind === "gemv" ? { x: xv } : {}),
            });
            const y = runPlan(plan, shape, data, wasm.execute).y as Float32Array;
            const want = kind === "gemv" ? gemv(q, xv) : dequantize(q);
            expect(bits(y), `${c.name} ${kind}`).toEqual(bits(want));
          }
        }
      });
  }
});

describe("16-lane decode: bf16 activations", () => {
  it("GEMV with bf16 x (u16 lanes widened, shifted, bitcast) equals the interpreter on the same values", async () => {
    for (const name of ["mxfp4", "nvfp4"]) {
      const s = resolveScheme(name);
      const { plan } = compile({ ...spec(s, "gemv", "unpacked"), input: "bf16" });
      const artifact = emitWasm(plan.kernels);
      expect(func(artifact.wat, plan.kernels.at(-1)!.name)).toContain("$rows_");
      const wasm = await WasmKernels.load(artifact, plan.kernels);
      for (const c of corpus()) {
        const shape = [c.rows, c.cols];
        const q = quantize(s, { dtype: "f32", shape, data: c.data });
        const xb = Uint16Array.from({ length: c.cols }, (_, i) => (0x3f80 + i * 37) & 0xffff);
        const xf = new Float32Array(new Uint32Array(Array.from(xb, (b) => b << 16)).buffer);
        const data = typed(plan, inputs(q, false));
        const y = runPlan(plan, shape, { ...data, x: xb }, wasm.execute).y as Float32Array;
        expect(bits(y), `${name} ${c.name}`).toEqual(bits(gemv(q, xf)));
      }
    }
  });
});

describe("16-lane decode: refusals and bail-outs stay exact", () => {
  const scalarAndSimd = async (kernels: readonly Kernel[]) => ({
    simd: await WasmKernels.compile(kernels),
    scalar: await WasmKernels.compile(kernels, { simd: false }),
  });

  it("6-bit codes (a 64-entry table) keep the generic path", () => {
    const { plan } = compile(spec(resolveScheme("mxfp6_e2m3"), "dequantize", "unpacked"));
    expect(emitWasm(plan.kernels).wat).not.toContain("$d16_");
  });

  it("derives decoders from the table and refuses one it cannot reproduce", () => {
    const table = (values: number[]) => ({ name: "t", type: "f32" as const, values });
    const kinds = ["mxfp8_e4m3", "mxfp8_e5m2", "mxint8"].map((n) => {
      const k = compile(spec(resolveScheme(n), "dequantize", "unpacked")).plan.kernels[0];
      const t = k.tables.find((x) => x.values.length === 256)!;
      return tableDecoder(t)?.kind;
    });
    expect(kinds).toEqual(["float", "float", "int"]);
    const e5m2 = tableDecoder(
      compile(
        spec(resolveScheme("mxfp8_e5m2"), "dequantize", "unpacked"),
      ).plan.kernels[0].tables.find((x) => x.values.length === 256)!,
    );
    expect(e5m2?.kind === "float" && e5m2.fixups.length).toBe(4); // +-Inf and three NaN magnitudes
    const scrambled = Array.from({ length: 256 }, (_, i) => Math.fround(Math.sin(i) * 100));
    expect(tableDecoder(table(scrambled))).toBeUndefined();
  });

  it("codes past a 4-bit table leave the 16-lane loop and match the scalar module", async () => {
    const s = resolveScheme("mxfp4");
    const rows = 3;
    const cols = 256;
    for (const kind of ["dequantize", "gemv"] as const) {
      const { plan } = compile(spec(s, kind, "unpacked"));
      const { simd, scalar } = await scalarAndSimd(plan.kernels);
      const codes = Uint8Array.from({ length: rows * cols }, (_, i) => (i * 7) % 16);
      codes[cols + 40] = 0x9c; // not a 4-bit code: the step and the rest of the row run as scalar code
      const data = {
        codes,
        scales: Uint8Array.from({ length: (rows * cols) / 32 }, (_, i) => 120 + (i % 9)),
        x: Float32Array.from({ length: cols }, (_, i) => i / 7 - 3),
      };
      const a = runPlan(plan, [rows, cols], data, simd.execute).y as Float32Array;
      const b = runPlan(plan, [rows, cols], data, scalar.execute).y as Float32Array;
      expect(bits(a)).toEqual(bits(b));
    }
  });

  it("GEMV with y and x one array (rows are not independent) fails the alias guard, exactly", async () => {
    const s = resolveScheme("mxfp4");
    const { plan } = compile(spec(s, "gemv", "unpacked"));
    const dot = plan.kernels.at(-1)!;
    const both = await scalarAndSimd([dot]);
    const n = 64;
    const run = (w: WasmKernels) => {
      const xy = Float32Array.from({ length: n }, (_, i) => Math.sin(i) + 1);
      const codes = Uint8Array.from({ length: n * n }, (_, i) => (i * 5 + (i >> 6)) % 16);
      const scales = Uint8Array.from({ length: (n * n) / 32 }, (_, i) => 125 + (i % 5));
      w.execute(dot, { codes, scales, x: xy, y: xy }, { N: n, K: n });
      return xy;
    };
    expect(bits(run(both.simd))).toEqual(bits(run(both.scalar)));
  });

  it("blocks along the other axis (a stride that is not 1) fail the run-time guard, exactly", async () => {
    const base = resolveScheme("mxfp4");
    const s = scheme({ ...base, name: "mxfp4_axis0", block: { kind: "axis", size: 32, axis: 0 } });
    const { plan } = compile(spec(s, "dequantize", "unpacked"));
    const wasm = await WasmKernels.compile(plan.kernels);
    const shape = [64, 48];
    const data = Float32Array.from({ length: 64 * 48 }, (_, i) => Math.sin(i) * 2 ** (i % 11));
    const q = quantize(s, { dtype: "f32", shape, data });
    const y = runPlan(plan, shape, typed(plan, inputs(q, false)), wasm.execute).y as Float32Array;
    expect(bits(y)).toEqual(bits(dequantize(q)));
  });
});

describe("16-lane decode: packed nibbles read in place", () => {
  const ORDERS: NibbleOrder[] = ["low_first", "high_first"];

  it("the interleave shuffle puts codes in element order, for both orders and both parities", () => {
    const codes = Uint8Array.from({ length: 18 }, (_, i) => (i * 7 + 3) & 15);
    for (const order of ORDERS) {
      const bytes = packNibbles(codes, order);
      const lo = Array.from(bytes, (b) => b & 15);
      const hi = Array.from(bytes, (b) => b >> 4);
      const pick = (mask: number[]) => mask.map((j) => (j < 16 ? lo[j] : hi[j - 16]));
      for (const skip of [0, 1] as const)
        expect(pick(nibbleShuffle(order, skip)), `${order} +${skip}`).toEqual(
          Array.from(unpackNibbles(bytes, 18, order).slice(skip, skip + 16)),
        );
      // the other order's mask reads different codes: the check above can fail
      const other = order === "low_first" ? "high_first" : "low_first";
      expect(pick(nibbleShuffle(other, 0))).not.toEqual(Array.from(codes.slice(0, 16)));
    }
  });

  /** the plan of `kind` with its one kernel lowered for nibbles in `order` */
  const planFor = (s: Scheme, kind: "dequantize" | "gemv", order: NibbleOrder) => {
    const { plan } = compile(spec(s, kind, "packed"));
    const name = plan.kernels[0].name;
    const layout = { kind: "nibbles", order } as const;
    const kernel =
      kind === "gemv"
        ? lowerGemv(name, s, "f32", layout)
        : lowerKernel(name, "dequantize", s, "f32", layout);
    return { ...plan, kernels: [kernel] };
  };

  /** the 16-lane steps of a function's WAT (the text of each `$d16_` loop) */
  const steps = (wat: string) =>
    [...wat.matchAll(/\(block \$(d16_\d+)\n[\s\S]*?\(br \$\1\.next\)/g)].map((m) => m[0]);

  // odd K: rows (and dequantize's blocks) start on odd codes every other row
  const shapes = [
    [5, 301],
    [3, 300],
    [2, 33],
    [4, 17],
  ];
  /** NaN and Inf scale codes of the scale formats the schemes below use */
  const specialScales: Record<string, number[]> = {
    mxfp4: [0xff],
    nvfp4: [0x7f, 0xff],
    onnx_int4_b32: [0x7fc00000, 0x7f800000, 0xff800000],
    int4_g128_asym: [0x7e00, 0x7c00, 0xfc00],
  };

  for (const name of ["mxfp4", "nvfp4", "bench/onnx-int4.qs:onnx_int4_b32", "int4_g128_asym"])
    for (const order of ORDERS)
      it(`${name.split(":").at(-1)} (${order}): dequantize and gemv, odd K, NaN/Inf scales`, async () => {
        const s = resolveScheme(name);
        for (const kind of ["dequantize", "gemv"] as const) {
          const plan = planFor(s, kind, order);
          const artifact = emitWasm(plan.kernels);
          const wat = func(artifact.wat, plan.kernels[0].name);
          const loops = steps(wat);
          expect(loops.length, "a 16-lane loop").toBeGreaterThan(0);
          for (const step of loops) {
            expect(step, "8 packed bytes per step").toContain("v128.load64_splat");
            expect(step, "the odd start's ninth byte").toContain("v128.load8_lane offset=8 8");
            expect(step, "the odd start interleaved in element order").toContain(
              `i8x16.shuffle ${nibbleShuffle(order, 1).join(" ")}`,
            );
            // INT4 tables take the shift decoder (test/wasm-nibble-words.test.ts), from words
            if (s.name === "onnx_int4_b32")
              expect(step, "words: the low nibbles times 16").toContain("i16x8.mul");
            else
              expect(step, "interleaved in element order").toContain(
                `i8x16.shuffle ${nibbleShuffle(order, 0).join(" ")}`,
              );
            expect(step, "no division in a step").not.toContain("div_s");
            expect(step, "no scalar code load").not.toMatch(
              /i32\.load8_u[\s(]+i32\.add[\s(]+local\.get \$codes/,
            );
          }
          if (kind === "gemv") expect(wat, "two rows per step").toContain("$rows_");
          else expect(wat, "blocks run as one element loop").toContain("$#flat.k");
          const wasm = await WasmKernels.load(artifact, plan.kernels);
          for (const [rows, cols] of shapes) {
            const data = Float32Array.from(
              { length: rows * cols },
              (_, i) => Math.sin(i * 1.7) * 2 ** ((i % 13) - 6),
            );
            const q0 = quantize(s, { dtype: "f32", shape: [rows, cols], data });
            const scales = Array.from(q0.scales);
            (specialScales[s.name] ?? []).forEach((c, j) => {
              scales[(j * 5 + 1) % scales.length] = c;
            });
            const q: QuantizedTensor = { ...q0, scales: Uint32Array.from(scales) };
            const xv = Float32Array.from({ length: cols }, (_, i) => Math.cos(i) * 3);
            const inputs = typed(plan, {
              codes: packNibbles(Uint8Array.from(q.codes), order),
              scales: q.scales,
              ...(q.zeros ? { zeros: q.zeros } : {}),
              ...(q.tensorScale
                ? { tscale: [q.tensorScale.amax, q.tensorScale.encode, q.tensorScale.decode] }
                : {}),
              ...(kind === "gemv" ? { x: xv } : {}),
            });
            const y = runPlan(plan, [rows, cols], inputs, wasm.execute).y as Float32Array;
            const want = kind === "gemv" ? gemv(q, xv) : dequantize(q);
            expect(bits(y), `${kind} ${rows}x${cols}`).toEqual(bits(want));
            // a deliberately broken variant (the bytes packed in the other order) fails the check
            // (on the larger shapes: in the small ones NaN scales cover nearly every block)
            if (rows * cols < 900) continue;
            const swapped = {
              ...inputs,
              codes: packNibbles(
                Uint8Array.from(q.codes),
                order === "low_first" ? "high_first" : "low_first",
              ),
            };
            const bad = runPlan(plan, [rows, cols], swapped, wasm.execute).y as Float32Array;
            expect(bits(bad), `${kind} ${rows}x${cols}: swapped nibbles`).not.toEqual(bits(want));
          }
        }
      });
});

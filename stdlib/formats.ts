/**
 * Built-in number formats (SEMANTICS.md section 1). They move into stdlib/*.qs
 * when the DSL lands; until then they are plain data here.
 */
import { bf16, f16, f32, floatFormat, intFormat, tableFormat, type Format } from "../ir/formats/index.js";

// OCP MX v1.0 element formats
export const e2m1 = floatFormat("e2m1", { exponent: 2, mantissa: 1, bias: 1 });
export const e2m3 = floatFormat("e2m3", { exponent: 2, mantissa: 3, bias: 1 });
export const e3m2 = floatFormat("e3m2", { exponent: 3, mantissa: 2, bias: 3 });
export const e4m3 = floatFormat("e4m3", { exponent: 4, mantissa: 3, bias: 7, specials: "nan_only" });
export const e5m2 = floatFormat("e5m2", { exponent: 5, mantissa: 2, bias: 15, specials: "ieee" });
// OCP MX v1.0 shared scale
export const e8m0 = floatFormat("e8m0", {
  exponent: 8,
  mantissa: 0,
  bias: 127,
  signed: false,
  specials: "e8m0",
});
// IEEE 754 binary16 / bfloat16 / binary32 are primitives of ir/formats
export { f16, bf16, f32 };

export const int8 = intFormat("int8", { bits: 8, range: "symmetric" });
// OCP MX v1.0 MXINT8 element: two's complement int8 x 2^-6, encoded to [-127, 127]
export const int8_q6 = intFormat("int8_q6", { bits: 8, range: "symmetric", shift: 6 });
// MXINT4 as in "INT v.s. FP" (arXiv 2510.25602): int4 x 2^-2, [-7, 7]
export const int4_q2 = intFormat("int4_q2", { bits: 4, range: "symmetric", shift: 2 });
export const int4 = intFormat("int4", { bits: 4, range: "symmetric" });
export const uint4 = intFormat("uint4", { bits: 4, signed: false });

// QLoRA NormalFloat4 (bitsandbytes `nf4`), index order = code order
export const nf4 = tableFormat("nf4", [
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
  -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
  0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
  0.7229568362236023, 1.0,
]);

export const BUILTIN_FORMATS: readonly Format[] = [
  e2m1,
  e2m3,
  e3m2,
  e4m3,
  e5m2,
  e8m0,
  f16,
  bf16,
  f32,
  int8,
  int8_q6,
  int4_q2,
  int4,
  uint4,
  nf4,
];

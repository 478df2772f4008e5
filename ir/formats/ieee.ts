/** The IEEE 754 types every tensor and scale can be stored in; primitives, not stdlib entries. */
import { floatFormat } from "./format.js";

export const f16 = floatFormat("f16", { exponent: 5, mantissa: 10, bias: 15, specials: "ieee" });
export const bf16 = floatFormat("bf16", { exponent: 8, mantissa: 7, bias: 127, specials: "ieee" });
export const f32 = floatFormat("f32", { exponent: 8, mantissa: 23, bias: 127, specials: "ieee" });

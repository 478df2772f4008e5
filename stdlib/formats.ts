/** Named handles on the built-in formats of stdlib/*.qs, for code and tests that use them directly. */
import type { Format } from "../ir/formats/index.js";
import { builtinFormat } from "./index.js";

const get = (name: string): Format => {
  const f = builtinFormat(name);
  if (!f) throw new Error(`qkc internal error: stdlib has no format ${name}`);
  return f;
};

export const e2m1 = get("e2m1");
export const e2m3 = get("e2m3");
export const e3m2 = get("e3m2");
export const e4m3 = get("e4m3");
export const e5m2 = get("e5m2");
export const e8m0 = get("e8m0");
export const f16 = get("f16");
export const bf16 = get("bf16");
export const f32 = get("f32");
export const int8 = get("int8");
export const int8_q6 = get("int8_q6");
export const int4_q2 = get("int4_q2");
export const int4 = get("int4");
export const uint4 = get("uint4");
export const nf4v = get("nf4v");

/** Named handles on the built-in schemes of stdlib/*.qs, for code and tests that use them directly. */
import type { Scheme } from "../ir/scheme.js";
import { builtinScheme } from "./index.js";

const get = (name: string): Scheme => {
  const s = builtinScheme(name);
  if (!s) throw new Error(`qkc internal error: stdlib has no scheme ${name}`);
  return s;
};

export const mxfp8_e4m3 = get("mxfp8_e4m3");
export const mxfp8_e4m3_rceil = get("mxfp8_e4m3_rceil");
export const mxfp8_e5m2 = get("mxfp8_e5m2");
export const mxfp6_e2m3 = get("mxfp6_e2m3");
export const mxfp6_e3m2 = get("mxfp6_e3m2");
export const mxfp4 = get("mxfp4");
export const mxfp4_rceil = get("mxfp4_rceil");
export const mxint8 = get("mxint8");
export const mxint4 = get("mxint4");
export const nvfp4 = get("nvfp4");
export const nvint4 = get("nvint4");
export const nf4 = get("nf4");
export const nf4_dq = get("nf4_dq");
export const int4_g128_asym = get("int4_g128_asym");
export const int8_channel = get("int8_channel");

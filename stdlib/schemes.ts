/**
 * Built-in schemes (SEMANTICS.md section 2). Plain data until the DSL lands.
 */
import { scheme, type Scheme } from "../ir/scheme.js";
import * as F from "./formats.js";

const mx = (name: string, element: typeof F.e2m1 | typeof F.int8_q6, rule: "floor" | "rceil", doc: string) =>
  scheme({ name, doc, element, block: { kind: "axis", axis: -1, size: 32 }, scale: { format: F.e8m0, rule } });

const OCP = "OCP Microscaling Formats (MX) v1.0";
const RCEIL = "OCP MX elements with the round-up scale of cuBLAS / TransformerEngine (PTX cvt.rp.ue8m0x2)";

export const mxfp8_e4m3 = mx("mxfp8_e4m3", F.e4m3, "floor", OCP);
export const mxfp8_e4m3_rceil = mx("mxfp8_e4m3_rceil", F.e4m3, "rceil", RCEIL);
export const mxfp8_e5m2 = mx("mxfp8_e5m2", F.e5m2, "floor", OCP);
export const mxfp6_e2m3 = mx("mxfp6_e2m3", F.e2m3, "floor", OCP);
export const mxfp6_e3m2 = mx("mxfp6_e3m2", F.e3m2, "floor", OCP);
export const mxfp4 = mx("mxfp4", F.e2m1, "floor", OCP);
export const mxfp4_rceil = mx("mxfp4_rceil", F.e2m1, "rceil", RCEIL);
export const mxint8 = mx("mxint8", F.int8_q6, "floor", OCP);
export const mxint4 = mx("mxint4", F.int4_q2, "floor", "MXINT4 of \"INT v.s. FP\" (arXiv 2510.25602)");

export const nvfp4 = scheme({
  name: "nvfp4",
  doc: "NVIDIA NVFP4 (TransformerEngine core_nvfp4.cuh, ModelOpt export)",
  element: F.e2m1,
  block: { kind: "axis", axis: -1, size: 16 },
  scale: { format: F.e4m3, rule: "amax" },
  tensorScale: F.f32,
});

export const nvint4 = scheme({
  name: "nvint4",
  doc: "NVINT4 of \"INT v.s. FP\" (arXiv 2510.25602): NVFP4's scaling with INT4 [-7, 7] elements",
  element: F.int4,
  block: { kind: "axis", axis: -1, size: 16 },
  scale: { format: F.e4m3, rule: "amax" },
  tensorScale: F.f32,
});

export const nf4 = scheme({
  name: "nf4",
  doc: "QLoRA NormalFloat4 (bitsandbytes quantize_4bit, quant_type nf4)",
  element: F.nf4,
  block: { kind: "axis", axis: -1, size: 64 },
  scale: { format: F.f32, rule: "amax" },
  rounding: { mode: "nearest_lower", randomBits: 8 },
});

export const nf4_dq = scheme({
  ...nf4,
  name: "nf4_dq",
  doc: "QLoRA NF4 with double quantization of the absmax (8-bit, block 256, mean offset)",
  doubleQuant: {
    offset: "mean",
    scheme: scheme({
      name: "nf4_dq.absmax",
      element: F.int8,
      block: { kind: "axis", axis: -1, size: 256 },
      scale: { format: F.f32, rule: "amax" },
    }),
  },
});

export const int4_g128_asym = scheme({
  name: "int4_g128_asym",
  doc: "GPTQ / AWQ style asymmetric UINT4 with a zero point, group 128, FP16 scales",
  element: F.uint4,
  block: { kind: "axis", axis: -1, size: 128 },
  scale: { format: F.f16, rule: "minmax" },
});

export const int8_channel = scheme({
  name: "int8_channel",
  doc: "Symmetric INT8 with one FP32 scale per row (per output channel of a [N, K] weight)",
  element: F.int8,
  block: { kind: "axis", axis: -1, size: "all" },
  scale: { format: F.f32, rule: "amax" },
});

export const BUILTIN_SCHEMES: readonly Scheme[] = [
  mxfp8_e4m3,
  mxfp8_e4m3_rceil,
  mxfp8_e5m2,
  mxfp6_e2m3,
  mxfp6_e3m2,
  mxfp4,
  mxfp4_rceil,
  mxint8,
  mxint4,
  nvfp4,
  nvint4,
  nf4,
  nf4_dq,
  int4_g128_asym,
  int8_channel,
];

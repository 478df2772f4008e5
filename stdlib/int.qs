// Integer schemes: MXINT4, GPTQ/AWQ-style asymmetric INT4, per-channel INT8.

// int8 symmetric [-127, 127]
format int8 = int { bits: 8, signed: true, range: symmetric }
// MXINT4 element of "INT v.s. FP" (arXiv 2510.25602): int4 x 2^-2, [-7, 7]
format int4_q2 = int { bits: 4, signed: true, range: symmetric, shift: 2 }
// unsigned 4-bit codes 0..15, used with a zero point
format uint4 = int { bits: 4, signed: false }

// MXINT4 of "INT v.s. FP" (arXiv 2510.25602)
scheme mxint4 extends mxfp4 {
  element: int4_q2
}

// GPTQ / AWQ style asymmetric UINT4 with a zero point, group 128, FP16 scales
scheme int4_g128_asym {
  element: uint4
  block: 128
  scale: f16 { rule: minmax }
}

// Symmetric INT8 with one FP32 scale per row (per output channel of a [N, K] weight)
scheme int8_channel {
  element: int8
  block: all
  scale: f32 { rule: amax }
}

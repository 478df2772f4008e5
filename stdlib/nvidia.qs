// NVIDIA two-level block formats: E4M3 block scales under an FP32 per-tensor scale.

// INT4 symmetric element [-7, 7]
format int4 = int { bits: 4, signed: true, range: symmetric }

// NVIDIA NVFP4 (TransformerEngine core_nvfp4.cuh, ModelOpt export)
scheme nvfp4 {
  element: e2m1
  block: 16
  scale: e4m3 { rule: amax }
  tensor_scale: f32
}

// NVINT4 of "INT v.s. FP" (arXiv 2510.25602): NVFP4's scaling with INT4 [-7, 7] elements
scheme nvint4 extends nvfp4 {
  element: int4
}

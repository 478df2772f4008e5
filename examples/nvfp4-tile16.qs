// NVFP4 with one E4M3 scale per 16x16 weight tile instead of per 16 values
// along a row: 16x fewer scales, the same tile can serve W and W^T.

// NVFP4 elements and scales on 16x16 tiles, with the FP32 tensor scale
scheme nvfp4_tile16 extends nvfp4 {
  block: 16 x 16
}

// the tile scheme without the second-level tensor scale
scheme nvfp4_tile16_single extends nvfp4_tile16 {
  tensor_scale: none
}

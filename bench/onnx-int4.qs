// The 4-bit weights of onnxruntime's MatMulNBits (bits 4, block_size 32, no
// zero-point input): an unsigned code q in 0..15 with the fixed zero point 8
// and one f32 scale per 32 weights, w = (q - 8) * scale. As a qkc scheme that
// is a two's-complement int4 (q - 8, in -8..7) times an f32 amax scale; the
// bench's ONNX model stores q = code ^ 8.
format int4_zp8 = int { bits: 4, signed: true }

scheme onnx_int4_b32 {
  element: int4_zp8
  block: 32
  scale: f32 { rule: amax }
}

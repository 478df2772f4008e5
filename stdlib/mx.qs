// OCP Microscaling Formats (MX) v1.0: element formats, the E8M0 shared scale, and the MX schemes.

// OCP MX v1.0 FP4 element: 0, 0.5, 1, 1.5, 2, 3, 4, 6
format e2m1 = float { exponent: 2, mantissa: 1, bias: 1, specials: none }
// OCP MX v1.0 FP6 element, max 7.5
format e2m3 = float { exponent: 2, mantissa: 3, bias: 1, specials: none }
// OCP MX v1.0 FP6 element, max 28
format e3m2 = float { exponent: 3, mantissa: 2, bias: 3, specials: none }
// OCP 8-bit float E4M3 "fn": max 448, only S.1111.111 is NaN, no Inf
format e4m3 = float { exponent: 4, mantissa: 3, bias: 7, specials: nan_only }
// OCP 8-bit float E5M2: IEEE-style Inf and NaN, max 57344
format e5m2 = float { exponent: 5, mantissa: 2, bias: 15, specials: ieee }
// OCP MX v1.0 shared scale: 2^(b - 127), 0x00 = 2^-127, 0xFF = NaN
format e8m0 = float { exponent: 8, mantissa: 0, bias: 127, signed: false, specials: e8m0 }
// OCP MX v1.0 MXINT8 element: two's complement int8 x 2^-6, encoded to [-127, 127]
format int8_q6 = int { bits: 8, signed: true, range: symmetric, shift: 6 }

// OCP MX v1.0 MXFP8 (E4M3), OCP floor scale
scheme mxfp8_e4m3 {
  element: e4m3
  block: 32
  scale: e8m0 { rule: floor }
}

// MXFP8 (E4M3) with the round-up scale of cuBLAS / TransformerEngine (PTX cvt.rp.ue8m0x2)
scheme mxfp8_e4m3_rceil extends mxfp8_e4m3 {
  scale: e8m0 { rule: rceil }
}

// OCP MX v1.0 MXFP8 (E5M2)
scheme mxfp8_e5m2 extends mxfp8_e4m3 {
  element: e5m2
}

// OCP MX v1.0 MXFP6 (E2M3)
scheme mxfp6_e2m3 extends mxfp8_e4m3 {
  element: e2m3
}

// OCP MX v1.0 MXFP6 (E3M2)
scheme mxfp6_e3m2 extends mxfp8_e4m3 {
  element: e3m2
}

// OCP MX v1.0 MXFP4 (E2M1), OCP floor scale
scheme mxfp4 extends mxfp8_e4m3 {
  element: e2m1
}

// MXFP4 with the round-up scale of cuBLAS / TransformerEngine (PTX cvt.rp.ue8m0x2)
scheme mxfp4_rceil extends mxfp4 {
  scale: e8m0 { rule: rceil }
}

// OCP MX v1.0 MXINT8
scheme mxint8 extends mxfp8_e4m3 {
  element: int8_q6
}

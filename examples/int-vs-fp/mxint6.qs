// MXINT6 element of "INT v.s. FP" (arXiv 2510.25602): int6 x 2^-4, [-31, 31]
format int6_q4 = int { bits: 6, signed: true, range: symmetric, shift: 4 }

// MXINT6: the MX block of 32 with an E8M0 scale over 6-bit integers
scheme mxint6 extends mxint8 {
  element: int6_q4
}

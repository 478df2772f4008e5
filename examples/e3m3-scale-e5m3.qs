// A 7-bit element with a finer, non-power-of-two scale: E3M3 elements (max 15.5)
// under an unsigned E5M3 block scale chosen by the amax rule, block 32.

// E3M3: 3 exponent bits, 3 mantissa bits, every code finite
format e3m3 = float { exponent: 3, mantissa: 3, bias: 3, specials: none }

// E5M3 scale: unsigned, IEEE-style Inf/NaN so NaN blocks stay marked
format ue5m3 = float { exponent: 5, mantissa: 3, bias: 15, signed: false, specials: ieee }

// E3M3 elements, E5M3 block scales (amax / Qmax rounded to E5M3)
scheme e3m3_ue5m3 {
  element: e3m3
  block: 32
  scale: ue5m3 { rule: amax }
}

// the same elements under the OCP power-of-two scale, for comparison
scheme mx_e3m3 extends mxfp6_e2m3 {
  element: e3m3
}

// QLoRA NormalFloat4 (Dettmers et al. 2023; bitsandbytes quant_type "nf4").

// bitsandbytes NF4 code book, index order = code order
format nf4v = table {
  values: [
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
    -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
    0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
    0.7229568362236023, 1.0,
  ]
}

// QLoRA NF4 (bitsandbytes quantize_4bit): absmax per 64, ties to the lower value
scheme nf4 {
  element: nf4v
  block: 64
  scale: f32 { rule: amax }
  rounding: nearest_lower
}

// the 8-bit compression of NF4 absmax values (QLoRA double quantization), block 256
scheme nf4_absmax8 {
  element: int8
  block: 256
  scale: f32 { rule: amax }
}

// QLoRA NF4 with double quantization of the absmax (8-bit, block 256, mean offset)
scheme nf4_dq extends nf4 {
  double_quant: nf4_absmax8 { offset: mean }
}

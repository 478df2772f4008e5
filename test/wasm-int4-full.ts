/**
 * A test scheme: onnxruntime's 4-bit weights as bench/onnx-int4.qs writes
 * them, a two's complement INT4 on its full range -8..7 (so -7.5 rounds to
 * -8 where +7.5 saturates to 7) with one f32 amax scale per 32 elements.
 */
import { intFormat, f32 } from "../ir/formats/index.js";
import { scheme } from "../ir/scheme.js";
import { builtinScheme } from "../stdlib/index.js";

export const int4Full = scheme({
  name: "int4_full_f32",
  rounding: builtinScheme("int8_channel")!.rounding,
  overflow: "saturate",
  element: intFormat("int4_full", { bits: 4 }),
  block: { kind: "axis", axis: -1, size: 32 },
  scale: { format: f32, rule: "amax" },
});

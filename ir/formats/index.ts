export * from "./format.js";
export * from "./rounding.js";
export * from "./codec.js";
export { floorLog2, pow2, isNegative } from "./bits.js";
export { f16, bf16, f32 } from "./ieee.js";
export { roundToInteger } from "./int.js";
export { intLayout } from "./int.js";

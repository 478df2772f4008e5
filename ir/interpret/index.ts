export * from "./quantize.js";
export * from "./blocks.js";
export * from "./scales.js";
export * from "./rotate.js";
export * from "./gemv.js";
export * from "./backward.js";

export * from "./quantize.js";
export * from "./blocks.js";
export * from "./scales.js";

export * from "./pack.js";
export * from "./swizzle.js";

/** The qkc library: formats, schemes, the .qs front end, the reference interpreter and the WASM runtime. */
export * from "./ir/formats/index.js";
export * from "./ir/scheme.js";
export * from "./ir/program.js";
export * from "./ir/tensor.js";
export * from "./ir/layout/index.js";
export { philox4x32, randomBits } from "./ir/philox.js";
export { quantize, dequantize, qdq, scaleValues, type QuantizedTensor, type QuantizeOptions } from "./ir/interpret/index.js";
export { parseQs } from "./dsl/parser.js";
export { loadProgram, standardLibrary, hasErrors, renderAll, type LoadResult } from "./dsl/load.js";
export { Diagnostic, renderDiagnostic } from "./dsl/diagnostics.js";
export { resolveScheme, SpecError } from "./dsl/resolve.js";
export { BUILTIN_FORMATS, BUILTIN_SCHEMES, builtinFormat, builtinScheme } from "./stdlib/index.js";
export { errorMetrics, qsnrDb, type ErrorMetrics } from "./tune/metrics.js";
// the WASM runtime behind the generated bindings (pages import these through the bindings, not index.js, which loads .qs files with node:fs)
export { WasmKernels } from "./backends/wasm/runtime.js";
export { KernelThreads, type ThreadedResult } from "./backends/wasm/threaded.js";
export { WebPlanRunner, type WebRunResult } from "./backends/wasm/web-threads.js";

/**
 * Test helper: a scheme's quantize or qdq plan (unpacked codes) emitted as
 * one WASM module and loaded: the plan, its executor and the module text.
 */
import { emitWasm } from "../backends/wasm/emit.js";
import { WasmKernels } from "../backends/wasm/runtime.js";
import { compile } from "../passes/pipeline.js";
import type { Scheme } from "../ir/scheme.js";

export async function wasmPlan(s: Scheme, kind: "quantize" | "qdq") {
  const { plan } = compile({
    name: `${kind}_${s.name}`,
    kind,
    scheme: s,
    input: "f32",
    output: "f32",
    layout: "unpacked",
  });
  const artifact = emitWasm(plan.kernels);
  const wasm = await WasmKernels.load(artifact, plan.kernels);
  return { plan, exec: wasm.execute, wat: artifact.wat };
}

/**
 * WASM kernel sets emitted once in the main thread and shipped to the tuner's
 * workers as bytes. Emitting needs binaryen, which takes over a GB and many
 * seconds to load; loading it in every worker cost more than the parallelism
 * gained. A worker only instantiates the module (WebAssembly.compile of a few
 * KB), which needs no binaryen.
 */
import type { KernelSpec } from "../ir/program.js";
import { compile } from "../passes/pipeline.js";
import type { Plan } from "../passes/lower.js";
import type { Execute } from "../backends/host.js";
import { WasmKernels } from "../backends/wasm/runtime.js";

export interface ShippedKernels {
  readonly plan: Plan;
  readonly binary: Uint8Array;
  readonly reservedBytes: number;
}

/** The plan of `spec` and its emitted module (the same defaults as the runner's kernel sets). */
export async function emitKernels(spec: KernelSpec): Promise<ShippedKernels> {
  const { plan } = compile(spec);
  const { emitWasm } = await import("../backends/wasm/emit.js");
  const artifact = emitWasm(plan.kernels);
  return { plan, binary: artifact.binary, reservedBytes: artifact.reservedBytes };
}

export async function loadKernels(k: ShippedKernels): Promise<{ plan: Plan; execute: Execute }> {
  const wasm = await WasmKernels.load({ binary: k.binary, reservedBytes: k.reservedBytes }, k.plan.kernels);
  return { plan: k.plan, execute: wasm.execute };
}

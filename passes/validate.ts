/** Pass 1: can this kernel be compiled? One clear error naming what is missing, before any work. */
import type { KernelSpec } from "../ir/program.js";
import { checkLowerable, LoweringError } from "./lower/kernels.js";

export class CompileError extends Error {
  override name = "CompileError";
}

export function validate(spec: KernelSpec): KernelSpec {
  const where = `kernel ${spec.name}`;
  if (spec.kind === "gemv" || spec.kind === "qdq_backward")
    throw new CompileError(
      `${where}: ${spec.kind} kernels are not lowered yet (quantize, dequantize and qdq are)`,
    );
  if (spec.rotate) throw new CompileError(`${where}: rotate: hadamard(...) is not lowered yet`);
  if (spec.output !== "f32")
    throw new CompileError(`${where}: output ${spec.output} is not lowered yet; use output: f32`);
  try {
    checkLowerable(spec.scheme);
  } catch (e) {
    if (e instanceof LoweringError) throw new CompileError(`${where}: ${e.message}`);
    throw e;
  }
  return spec;
}

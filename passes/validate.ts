/** Pass 1: can this kernel be compiled? One clear error naming what is missing, before any work. */
import type { KernelSpec } from "../ir/program.js";
import { checkLowerable, LoweringError } from "./lower/kernels.js";
import { scaleLayoutProblem } from "../ir/layout/scale-placement.js";

export class CompileError extends Error {
  override name = "CompileError";
}

export function validate(spec: KernelSpec): KernelSpec {
  const where = `kernel ${spec.name}`;
  if (spec.kind === "gemv" && spec.scheme.block.kind === "tile")
    throw new CompileError(
      `${where}: gemv needs blocks along K (the last axis of W), not 2-D tiles`,
    );
  if (
    spec.kind === "gemv" &&
    spec.scheme.block.kind === "axis" &&
    ![-1, 1].includes(spec.scheme.block.axis)
  )
    throw new CompileError(
      `${where}: gemv needs blocks along K (the last axis of W), not axis ${spec.scheme.block.axis}`,
    );
  if (spec.kind === "gemv" && spec.scheme.doubleQuant)
    throw new CompileError(
      `${where}: gemv with double quantization is not lowered yet; quantize the weights with ${spec.scheme.name} and run gemv on a scheme without it`,
    );
  if (spec.rotate && spec.input !== "f32")
    throw new CompileError(
      `${where}: rotation reads f32 input; ${spec.input} input with rotate is not lowered yet`,
    );
  if (spec.output !== "f32")
    throw new CompileError(`${where}: output ${spec.output} is not lowered yet; use output: f32`);
  const placement = scaleLayoutProblem(spec);
  if (placement) throw new CompileError(`${where}: ${placement}`);
  try {
    checkLowerable(spec.scheme);
  } catch (e) {
    if (e instanceof LoweringError) throw new CompileError(`${where}: ${e.message}`);
    throw e;
  }
  return spec;
}

/** The kernel request the backend tests compile: packed codes, f32 in and out, GEMV in its fixed order. */
import type { KernelSpec } from "../ir/program.js";
import type { Scheme } from "../ir/scheme.js";

export const kernelRequest = (
  s: Scheme,
  kind: KernelSpec["kind"],
  extra: Partial<KernelSpec> = {},
): KernelSpec => ({
  name: `${kind}_${s.name}${extra.rotate ? "_rot" : ""}`,
  kind,
  scheme: s,
  input: "f32",
  output: "f32",
  layout: "packed",
  ...(kind === "gemv" ? { order: "fixed" as const } : {}),
  ...extra,
});

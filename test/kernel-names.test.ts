/**
 * uniqueKernelNames (backends/kernel-names.ts): across the plans of one
 * artifact no name stands for two different kernels, also when the name a
 * renamed kernel would get (`<plan>__<kernel>`) is already taken; each plan
 * keeps its kernels and steps, under the new names.
 */
import { describe, expect, it } from "vitest";
import { distinctKernels, uniqueKernelNames } from "../backends/kernel-names.js";
import { compile } from "../passes/pipeline.js";
import { builtinScheme } from "../stdlib/index.js";
import type { Kernel } from "../ir/kernel.js";
import type { KernelStep, Plan } from "../passes/lower.js";
import { kernelRequest } from "./kernel-request.js";

/** Kernels that differ from each other (quantize of different schemes). */
const [A, B, C, D] = ["mxfp4", "nf4", "int4_g128_asym", "mxfp6_e2m3"].map(
  (name) => compile(kernelRequest(builtinScheme(name)!, "quantize")).plan.kernels[0],
);
const base = compile(kernelRequest(builtinScheme("mxfp4")!, "quantize")).plan;

/** A plan named `name` whose steps run `kernels` (given as [kernel name, kernel]) in order. */
function plan(name: string, kernels: [string, Kernel][]): Plan {
  return {
    ...base,
    spec: { ...base.spec, name },
    kernels: kernels.map(([n, k]) => ({ ...k, name: n })),
    steps: kernels.map(([n]) => ({ kernel: n, bind: {}, scalars: "geometry" as const })),
  };
}

/** What must hold of any renaming: one kernel per name, the plans' kernels and steps kept. */
function expectSound(before: Plan[], after: Plan[]) {
  const byName = new Map<string, string>();
  after.forEach((p, j) => {
    p.kernels.forEach((k, i) => {
      const text = JSON.stringify({ ...k, name: "" });
      expect(text, `${p.spec.name}: kernel ${i} kept`).toBe(
        JSON.stringify({ ...before[j].kernels[i], name: "" }),
      );
      const other = byName.get(k.name);
      expect(other === undefined || other === text, `${k.name} names one kernel`).toBe(true);
      byName.set(k.name, text);
    });
    // step i ran kernel i before; it runs the same kernel, by its new name
    expect((p.steps as KernelStep[]).map((s) => s.kernel)).toEqual(p.kernels.map((k) => k.name));
  });
  expect(distinctKernels(after)).toHaveLength(byName.size);
}

describe("uniqueKernelNames", () => {
  it("renames a kernel whose name an earlier plan gave to another, and keeps shared kernels once", () => {
    const before = [plan("q", [["k", A]]), plan("r", [["k", B]]), plan("s", [["k", A]])];
    const after = uniqueKernelNames(before);
    expect(after.map((p) => p.kernels[0].name)).toEqual(["k", "r__k", "k"]);
    expectSound(before, after);
  });

  it("never reuses a taken name: two requests of one name, and a kernel already called <plan>__<kernel>", () => {
    const before = [
      plan("q", [
        ["k", A],
        ["r__k", D],
      ]),
      plan("r", [["k", B]]), // r__k is D's: not free
      plan("r", [["k", C]]), // nor r__k_2 (B's now)
      plan("t", [["r__k_2", B]]), // B's body under a taken name (its name is part of its text)
    ];
    const after = uniqueKernelNames(before);
    expect(after.map((p) => p.kernels.map((k) => k.name))).toEqual([
      ["k", "r__k"],
      ["r__k_2"],
      ["r__k_3"],
      ["t__r__k_2"],
    ]);
    expectSound(before, after);
  });
});

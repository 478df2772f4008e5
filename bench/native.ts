/**
 * The native reference of the benches: a plan printed as C (backends/c),
 * compiled with gcc -O3 -march=native -ffp-contract=off, run on the same input,
 * median of repeated runs as reported by the program itself. Returns undefined
 * when gcc is missing (the bench says so).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { planProgram } from "../backends/c/program.js";
import type { BufferData } from "../ir/kernel-eval.js";
import type { KernelSpec } from "../ir/program.js";
import { compile } from "../passes/pipeline.js";

export const hasGcc = spawnSync("gcc", ["--version"]).status === 0;

export function nativeMs(
  spec: KernelSpec,
  shape: number[],
  inputs: Record<string, BufferData>,
  reps = 5,
): number | undefined {
  if (!hasGcc) return undefined;
  const dir = mkdtempSync(join(tmpdir(), "qkc-native-"));
  const { plan } = compile(spec);
  writeFileSync(join(dir, "k.c"), planProgram(plan, shape));
  execFileSync("gcc", [
    "-O3",
    "-march=native",
    "-ffp-contract=off",
    "-std=c99",
    "-D_POSIX_C_SOURCE=199309L",
    "-o",
    join(dir, "k"),
    join(dir, "k.c"),
    "-lm",
  ]);
  for (const [name, data] of Object.entries(inputs))
    writeFileSync(
      join(dir, `${name}.bin`),
      new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    );
  return Number(execFileSync(join(dir, "k"), [dir, String(reps)], { encoding: "utf8" }).trim());
}

import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { planProgram } from "../backends/c/program.js";
import { compile } from "../passes/pipeline.js";
import { qdq, quantize } from "../ir/interpret/index.js";
import { builtinScheme } from "../stdlib/index.js";
import { scheme } from "../ir/scheme.js";
import type { KernelSpec } from "../ir/program.js";
import { corpus } from "./corpus/corpus.js";

const gcc = spawnSync("gcc", ["--version"]).status === 0;
if (!gcc) console.warn("gcc not found: the native C checks are skipped (apt-get install gcc)");
const dir = mkdtempSync(join(tmpdir(), "qkc-c-"));

function runC(
  sp: KernelSpec,
  shape: number[],
  inputs: Record<string, ArrayBufferView>,
  seed: number,
): string {
  const { plan } = compile(sp);
  const src = join(dir, `${sp.name}.c`);
  writeFileSync(src, planProgram(plan, shape, seed));
  const exe = join(dir, sp.name);
  execFileSync("gcc", [
    "-O2",
    "-std=c99",
    "-D_POSIX_C_SOURCE=199309L",
    "-ffp-contract=off",
    "-fno-fast-math",
    "-o",
    exe,
    src,
    "-lm",
  ]);
  for (const [name, data] of Object.entries(inputs))
    writeFileSync(
      join(dir, `${name}.bin`),
      new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    );
  execFileSync(exe, [dir, "1"]);
  return dir;
}

describe.skipIf(!gcc)(
  "KernelIR printed as C (gcc -ffp-contract=off) equals the interpreter",
  () => {
    const cases = corpus().filter((c) => ["ties", "nan-inf", "subnormal", "top"].includes(c.name));
    const names = ["mxfp4", "mxfp8_e4m3", "nvfp4", "nf4", "int4_g128_asym"];
    for (const name of names) {
      it(`${name}: qdq and packed quantize`, () => {
        const s =
          name === "mxfp4"
            ? scheme({ ...builtinScheme(name)!, rounding: { mode: "stochastic", randomBits: 8 } })
            : builtinScheme(name)!;
        for (const c of cases) {
          const shape = [c.rows, c.cols];
          const base = { scheme: s, input: "f32" as const, output: "f32" as const };
          const out = runC(
            { ...base, name: "qdq_k", kind: "qdq", layout: "unpacked" },
            shape,
            { x: c.data },
            5,
          );
          const yb = readFileSync(join(out, "y.bin"));
          const y = new Uint32Array(yb.buffer.slice(yb.byteOffset, yb.byteOffset + yb.byteLength));
          const want = qdq(s, { dtype: "f32", shape, data: c.data }, { seed: 5 });
          expect(y, `${c.name} qdq`).toEqual(new Uint32Array(want.buffer));
          runC(
            { ...base, name: "q_k", kind: "quantize", layout: "unpacked" },
            shape,
            { x: c.data },
            5,
          );
          const ref = quantize(s, { dtype: "f32", shape, data: c.data }, { seed: 5 });
          const codes = readFileSync(join(out, "codes.bin"));
          expect(
            Array.from(new Uint8Array(codes.buffer, codes.byteOffset, codes.byteLength)),
            `${c.name} codes`,
          ).toEqual(Array.from(new Uint8Array(ref.codes.buffer)));
        }
      });
    }
  },
);

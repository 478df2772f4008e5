/**
 * Test helper: `qkc compile --target wasm` of a few kernel requests into a temp
 * folder, with a copy of the generated kernels.ts (kernels.local.ts) whose
 * `qkc/dist/...` imports point at this checkout's sources, so tests run the
 * artifact without `npm run build`.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../cli/main.js";
import { sourceOf } from "./wgsl-artifact.js";
import { gemv, quantize } from "../ir/interpret/index.js";
import { packNibbles } from "../ir/layout/index.js";
import { builtinScheme } from "../stdlib/index.js";

/** MXFP4 quantize and GEMV on packed codes: the pair the threaded bindings tests run. */
export const MXFP4_PAIR = `kernel quantize_mxfp4 = quantize(mxfp4) { layout: packed }
kernel gemv_mxfp4 = gemv(weights: mxfp4, activations: f32) { accumulate: f32, layout: packed }
`;

/** Compiles the kernels of `qs` (the text of a .qs file) to WASM; returns the output folder. */
export async function compileWasm(qs: string): Promise<string> {
  const out = mkdtempSync(join(tmpdir(), "qkc-wasm-"));
  const source = join(out, "kernels.qs");
  writeFileSync(source, qs);
  let err = "";
  const code = await main(["compile", source, "--target", "wasm", "--out", out], {
    stdout: () => {},
    stderr: (t) => void (err += t),
  });
  if (code !== 0) throw new Error(`qkc compile --target wasm failed: ${err}`);
  const ts = readFileSync(join(out, "kernels.ts"), "utf8");
  writeFileSync(
    join(out, "kernels.local.ts"),
    ts.replace(/"(qkc\/dist\/[^"]+)"/g, (_, s: string) => JSON.stringify(sourceOf(s))),
  );
  return out;
}

/**
 * What the threaded tests run: a tensor of `shape` ([2048, 32]: 64K elements,
 * the least that bands() splits) with NaN and -Inf among its values, GEMV
 * activations, and the interpreter's bytes of packed codes, scales and y = W v.
 */
export function mxfp4Case(shape = [2048, 32]) {
  const x = Float32Array.from({ length: shape[0] * shape[1] }, (_, j) =>
    j % 1009 === 7 ? NaN : j % 4099 === 3 ? -Infinity : Math.sin(j * 0.61) * 2 ** ((j % 17) - 8),
  );
  const v = Float32Array.from({ length: shape[1] }, (_, i) => Math.cos(i) * (i % 3));
  const ref = quantize(builtinScheme("mxfp4")!, { dtype: "f32", shape, data: x });
  const want = {
    codes: packNibbles(Uint8Array.from(ref.codes), "low_first"),
    scales: Uint8Array.from(ref.scales),
    y: new Uint8Array(gemv(ref, v).buffer),
  };
  return { shape, x, v, want };
}

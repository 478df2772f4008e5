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

/**
 * Test helper: `qkc compile SCHEME --target wgsl` into a temp folder, with the
 * generated module's `qkc/dist/...` imports pointed at this checkout's sources,
 * so the tests run the artifact without `npm run build`.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../cli/main.js";

export const ROOT = join(import.meta.dirname, "..");

/** Where `qkc/dist/a/b.js` lives in the sources. */
export const sourceOf = (specifier: string) =>
  join(ROOT, specifier.replace(/^qkc\/dist\//, "").replace(/\.js$/, ".ts"));

export async function compileWgsl(scheme: string): Promise<string> {
  const out = mkdtempSync(join(tmpdir(), "qkc-wgsl-"));
  let err = "";
  const code = await main(["compile", scheme, "--target", "wgsl", "--out", out], {
    stdout: () => {},
    stderr: (t) => void (err += t),
  });
  if (code !== 0) throw new Error(`qkc compile ${scheme} --target wgsl failed: ${err}`);
  const ts = readFileSync(join(out, "kernels.ts"), "utf8");
  writeFileSync(
    join(out, "kernels.local.ts"),
    ts.replace(/"(qkc\/dist\/[^"]+)"/g, (_, s: string) => JSON.stringify(sourceOf(s))),
  );
  return out;
}

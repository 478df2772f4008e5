/**
 * End to end in a real browser: `qkc compile mxfp4 --target wgsl`, the generated
 * kernels.js bundled with esbuild, served on 127.0.0.1 and run in Debian's
 * headless Chromium (WebGPU on its SwiftShader Vulkan driver) through
 * playwright-core; quantize, dequantize and a GEMV compared with the interpreter.
 *
 * SwiftShader flushes subnormals (WGSL allows it); the compiled shaders do
 * their f32 arithmetic flush-proof (backends/wgsl/subnormal.ts), so every
 * corpus case, the subnormal one included, must match there too. The page's
 * exactness probe is printed, to show which kind of engine ran.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dequantize, gemv, quantize } from "../ir/interpret/index.js";
import { builtinScheme } from "../stdlib/index.js";
import { packNibbles } from "../ir/layout/index.js";
import { corpus } from "./corpus/corpus.js";
import { compileWgsl, ROOT, sourceOf } from "./wgsl-artifact.js";
import { openBrowser, type Browser } from "./browser.js";

const FLAGS = [
  "--no-sandbox",
  "--enable-unsafe-webgpu",
  "--enable-features=Vulkan",
  "--use-vulkan=swiftshader",
  "--use-webgpu-adapter=swiftshader",
  "--disable-vulkan-surface",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

/** The page: runs the generated kernels on the inputs the test passes, returns codes, scales, bits of y. */
const PAGE = `<!doctype html><title>qkc wgsl</title>
<script type="module">
import { load, probeExactness } from "/qkc.js";
window.qkcRun = async (inputs) => {
  if (!navigator.gpu) return { error: "navigator.gpu is missing (WebGPU disabled?)" };
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) return { error: "no WebGPU adapter" };
  const device = await adapter.requestDevice();
  const k = await load(device, await (await fetch("/kernels.tables.bin")).arrayBuffer());
  const cases = [];
  for (const c of inputs) {
    const q = await k.quantize_mxfp4({ x: new Float32Array(c.data) }, c.shape);
    const y = await k.dequantize_mxfp4(q, c.shape);
    const g = await k.gemv_mxfp4({ codes: q.codes, scales: q.scales, x: new Float32Array(c.x) }, c.shape);
    cases.push({
      codes: Array.from(q.codes),
      scales: Array.from(q.scales),
      y: Array.from(new Uint32Array(y.y.buffer)),
      gemv: Array.from(new Uint32Array(g.y.buffer)),
    });
  }
  return { probe: await probeExactness(device), cases };
};
</script>`;

interface PageResult {
  error?: string;
  probe?: { subnormals: boolean; division: boolean; separateRounding: boolean };
  cases?: { codes: number[]; scales: number[]; y: number[]; gemv: number[] }[];
}

let browser: Browser | undefined;

beforeAll(async () => {
  const out = await compileWgsl("mxfp4");
  const bundle = await build({
    stdin: {
      contents: `export { load } from ${JSON.stringify(join(out, "kernels.js"))};
export { probeExactness } from ${JSON.stringify(join(ROOT, "backends/wgsl/runtime.ts"))};`,
      resolveDir: out,
      loader: "js",
    },
    bundle: true,
    format: "esm",
    platform: "browser",
    write: false,
    logLevel: "silent",
    plugins: [
      {
        name: "qkc-sources",
        setup(b) {
          b.onResolve({ filter: /^qkc\/dist\// }, (a) => ({ path: sourceOf(a.path) }));
        },
      },
    ],
  });
  const files: Record<string, [string, string | Uint8Array]> = {
    "/": ["text/html", PAGE],
    "/qkc.js": ["text/javascript", bundle.outputFiles[0].text],
    "/kernels.tables.bin": [
      "application/octet-stream",
      readFileSync(join(out, "kernels.tables.bin")),
    ],
  };
  browser = await openBrowser((req, res) => {
    const f = files[req.url ?? ""];
    res.writeHead(f ? 200 : 404, { "content-type": f?.[0] ?? "text/plain" });
    res.end(f?.[1] ?? "not found");
  }, FLAGS);
}, 120_000);

afterAll(async () => {
  await browser?.close();
});

describe("WGSL in headless Chromium", () => {
  it("quantize, dequantize and gemv of the corpus through the generated module equal the interpreter", async () => {
    const s = builtinScheme("mxfp4")!;
    const cases = corpus();
    // activations for y = W x, W the quantized case: signs and magnitudes vary, all finite
    const xs = cases.map((c) =>
      Float32Array.from({ length: c.cols }, (_, i) => Math.sin(i + 1) * 3),
    );
    const page = await browser!.context.newPage();
    await page.goto(browser!.origin + "/");
    await page.waitForFunction(() => "qkcRun" in window);
    const result = (await page.evaluate(
      (inputs) =>
        (window as unknown as { qkcRun: (i: unknown) => Promise<unknown> }).qkcRun(inputs),
      cases.map((c, j) => ({
        data: Array.from(c.data),
        shape: [c.rows, c.cols],
        x: Array.from(xs[j]),
      })),
    )) as PageResult;
    expect(result.error).toBeUndefined();
    console.info("Chromium WebGPU exactness:", JSON.stringify(result.probe));
    cases.forEach((c, j) => {
      const ref = quantize(s, { dtype: "f32", shape: [c.rows, c.cols], data: c.data });
      const got = result.cases![j];
      expect(got.codes, `${c.name} codes`).toEqual(
        Array.from(packNibbles(Uint8Array.from(ref.codes), "low_first")),
      );
      expect(got.scales, `${c.name} scales`).toEqual(Array.from(ref.scales));
      expect(got.y, `${c.name} dequantize`).toEqual(
        Array.from(new Uint32Array(dequantize(ref).buffer)),
      );
      expect(got.gemv, `${c.name} gemv`).toEqual(
        Array.from(new Uint32Array(gemv(ref, xs[j]).buffer)),
      );
    });
    expect(cases.map((c) => c.name)).toContain("subnormal");
  }, 120_000);
});

/**
 * The generated WASM module in a browser, used as a web developer would: the
 * kernels.ts that `qkc compile --target wasm` writes, bundled with esbuild for
 * the browser (its `qkc/dist/...` imports resolved to this checkout's sources),
 * served with kernels.wasm on 127.0.0.1 and run in Debian's headless Chromium
 * through playwright-core. `loadThreaded` runs MXFP4 quantize and a GEMV on the
 * quantized weights: on 2 Web Workers plus the page when the page is
 * cross-origin isolated, on one thread (saying why) when it is not or when one
 * thread is asked; every result byte for byte the interpreter's.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openBrowser, type Browser } from "./browser.js";
import { compileWasm, mxfp4Case, MXFP4_PAIR } from "./wasm-artifact.js";
import { sourceOf } from "./wgsl-artifact.js";

const ISOLATION = {
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-embedder-policy": "require-corp",
};

/** The page: loads kernels.wasm through the bundled bindings, runs quantize then GEMV, returns the bytes. */
const PAGE = `<!doctype html><title>qkc wasm bindings</title>
<script type="module">
import { loadThreaded } from "./kernels.js";
const unbase64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const bytesOf = (a) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const base64 = (a) => { const b = bytesOf(a); let s = ""; for (let j = 0; j < b.length; j += 8192) s += String.fromCharCode(...b.subarray(j, j + 8192)); return btoa(s); };
window.qkcRun = async ({ threads, shape, x, v }) => {
  const wasm = await (await fetch("./kernels.wasm")).arrayBuffer();
  const t = await loadThreaded(wasm, threads);
  const q = await t.quantize_mxfp4({ x: new Float32Array(unbase64(x).buffer) }, shape);
  const g = await t.gemv_mxfp4({ ...q.outputs, x: new Float32Array(unbase64(v).buffer) }, shape);
  await t.close();
  return {
    isolated: self.crossOriginIsolated,
    quantize: { threads: q.threads, why: q.why, codes: base64(q.outputs.codes), scales: base64(q.outputs.scales) },
    gemv: { threads: g.threads, why: g.why, y: base64(g.outputs.y) },
  };
};
</script>`;

interface PageResult {
  isolated: boolean;
  quantize: { threads: number; why?: string; codes: string; scales: string };
  gemv: { threads: number; why?: string; y: string };
}

const { shape: SHAPE, x, v, want: bytes } = mxfp4Case();
const base64 = (a: ArrayBufferView) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("base64");
const want = { codes: base64(bytes.codes), scales: base64(bytes.scales), y: base64(bytes.y) };

let browser: Browser | undefined;

beforeAll(async () => {
  const out = await compileWasm(MXFP4_PAIR);
  const bundle = await build({
    entryPoints: [join(out, "kernels.ts")],
    bundle: true,
    format: "esm",
    platform: "browser",
    write: false,
    logLevel: "silent",
    metafile: true,
    plugins: [
      {
        name: "qkc-sources",
        setup(b) {
          b.onResolve({ filter: /^qkc\/dist\// }, (a) => ({ path: sourceOf(a.path) }));
        },
      },
    ],
  });
  const inputs = Object.keys(bundle.metafile.inputs);
  if (inputs.some((f) => /binaryen|emit\.ts|node:/.test(f)))
    throw new Error(`the browser bundle pulls in the emitter: ${inputs.join(", ")}`);
  const files: Record<string, [string, string | Uint8Array]> = {
    "/": ["text/html", PAGE],
    "/kernels.js": ["text/javascript", bundle.outputFiles[0].text],
    "/kernels.wasm": ["application/wasm", readFileSync(join(out, "kernels.wasm"))],
  };
  browser = await openBrowser(
    (req, res) => {
      const [, mode, path] = /^\/(isolated|plain)(\/.*)$/.exec(req.url ?? "") ?? [];
      const f = files[path ?? ""];
      res.writeHead(f ? 200 : 404, {
        "content-type": f?.[0] ?? "text/plain",
        ...(mode === "isolated" ? ISOLATION : {}),
      });
      res.end(f?.[1] ?? "not found");
    },
    ["--no-sandbox", "--disable-background-networking", "--disable-component-update"],
  );
}, 240_000);

afterAll(async () => {
  await browser?.close();
});

async function runPage(mode: "isolated" | "plain", threads: number): Promise<PageResult> {
  const page = await browser!.context.newPage();
  try {
    await page.goto(`${browser!.origin}/${mode}/`);
    await page.waitForFunction(() => "qkcRun" in window);
    return (await page.evaluate(
      (arg) => (window as unknown as { qkcRun: (a: unknown) => Promise<unknown> }).qkcRun(arg),
      { threads, shape: SHAPE, x: base64(x), v: base64(v) },
    )) as PageResult;
  } finally {
    await page.close();
  }
}

const bytesOf = (r: PageResult) => ({
  codes: r.quantize.codes,
  scales: r.quantize.scales,
  y: r.gemv.y,
});

describe("generated WASM bindings in headless Chromium", () => {
  it("cross-origin isolated: quantize and GEMV on 2 workers plus the page equal the interpreter", async () => {
    const r = await runPage("isolated", 3);
    expect(r.isolated).toBe(true);
    expect([r.quantize.threads, r.quantize.why, r.gemv.threads, r.gemv.why]).toEqual([
      3,
      undefined,
      3,
      undefined,
    ]);
    expect(bytesOf(r)).toEqual(want);
  }, 90_000);

  it("one thread asked, or a page without the isolation headers: one thread, the reason, the same bytes", async () => {
    const one = await runPage("isolated", 1);
    expect([one.quantize.threads, one.quantize.why, one.gemv.why]).toEqual([
      1,
      "1 thread asked",
      "1 thread asked",
    ]);
    expect(bytesOf(one)).toEqual(want);
    const plain = await runPage("plain", 3);
    expect(plain.isolated).toBe(false);
    expect([plain.quantize.threads, plain.gemv.threads]).toEqual([1, 1]);
    expect(plain.quantize.why).toMatch(/not cross-origin isolated.*Cross-Origin-Opener-Policy/);
    expect(bytesOf(plain)).toEqual(want);
  }, 90_000);
});

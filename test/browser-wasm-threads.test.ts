/**
 * WebPlanRunner (backends/wasm/web-threads.ts) in Debian's headless Chromium
 * through playwright-core: a page served cross-origin isolated runs MXFP4
 * quantize and qdq on 2 Web Workers plus the page's thread over one shared
 * memory; a page served without the isolation headers falls back to one
 * thread. Both must give the interpreter's bytes. The modules are emitted
 * here (binaryen stays out of the page) and the plan is passed to the page.
 */
import { join } from "node:path";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compile } from "../passes/pipeline.js";
import { emitWasm } from "../backends/wasm/emit.js";
import { builtinScheme } from "../stdlib/index.js";
import { qdq, quantize } from "../ir/interpret/index.js";
import { packNibbles } from "../ir/layout/index.js";
import type { KernelSpec } from "../ir/program.js";
import type { Plan } from "../passes/lower.js";
import { openBrowser, type Browser } from "./browser.js";

const ROOT = join(import.meta.dirname, "..");
const SHAPE = [2048, 32]; // 64k elements, the least bands() splits; 3 bands of whole rows
const ISOLATION = {
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-embedder-policy": "require-corp",
};

/** The page: builds a runner from the plan and the prebuilt modules, runs it, returns the outputs' bits. */
const PAGE = `<!doctype html><title>qkc wasm threads</title>
<script type="module">
import { WebPlanRunner } from "/qkc.js";
const unbase64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const base64 = (b) => { let s = ""; for (let j = 0; j < b.length; j += 8192) s += String.fromCharCode(...b.subarray(j, j + 8192)); return btoa(s); };
const bytesOf = (a) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
window.qkcRun = async ({ plan, shape, modules, inputs, outputs, threads, next }) => {
  const emit = (_plan, shared) => {
    const m = modules[shared ? "shared" : "single"];
    return { binary: unbase64(m.binary), reservedBytes: m.reservedBytes };
  };
  const r = await WebPlanRunner.create(plan, shape, threads, emit);
  for (const [name, data] of Object.entries(inputs)) bytesOf(r.buffers[name]).set(unbase64(data));
  const result = await r.run();
  const out = {};
  for (const name of outputs) out[name] = base64(bytesOf(r.buffers[name]));
  let reshaped;
  if (next) {
    r.reshape(next.shape); // the same workers, the shared memory grown in place
    for (const [name, data] of Object.entries(next.inputs)) bytesOf(r.buffers[name]).set(unbase64(data));
    const again = await r.run();
    const nextOut = {};
    for (const name of outputs) nextOut[name] = base64(bytesOf(r.buffers[name]));
    // a shape too big for wasm memory (and 3-D: one band) is refused; the runner keeps next.shape
    let refused;
    try { r.reshape([65536, 2, 8192]); } catch (e) { refused = e.message; }
    reshaped = { result: again, out: nextOut, refused, shape: r.shape, after: await r.run() };
  }
  r.close();
  return { isolated: self.crossOriginIsolated, result, out, reshaped, workersStarted: r.workersStarted };
};
</script>`;

interface PageResult {
  isolated: boolean;
  result: { threads: number; why?: string };
  out: Record<string, string>;
  /** the run after reshaping to `next.shape`, when given */
  reshaped?: {
    result: { threads: number; why?: string };
    out: Record<string, string>;
    /** the error of a reshape to a shape too big for wasm memory, then the shape and a run after it */
    refused?: string;
    shape: number[];
    after: { threads: number; why?: string };
  };
  workersStarted: number;
}

let browser: Browser | undefined;

beforeAll(async () => {
  const bundle = await build({
    entryPoints: [join(ROOT, "backends/wasm/web-threads.ts")],
    bundle: true,
    format: "esm",
    platform: "browser",
    write: false,
    logLevel: "silent",
    // the page is handed prebuilt modules; binaryen stays out of the bundle (load-emitter.ts)
  });
  const js = bundle.outputFiles[0].text;
  browser = await openBrowser(
    (req, res) => {
      const isolated = (req.url ?? "").startsWith("/isolated/");
      const file = (req.url ?? "").replace(/^\/(isolated|plain)/, "");
      const headers = isolated ? ISOLATION : {};
      if (file === "/") res.writeHead(200, { "content-type": "text/html", ...headers }).end(PAGE);
      else if (file === "/qkc.js")
        res.writeHead(200, { "content-type": "text/javascript", ...headers }).end(js);
      else res.writeHead(404).end("not found");
    },
    ["--no-sandbox", "--disable-background-networking", "--disable-component-update"],
  );
}, 120_000);

afterAll(async () => {
  await browser?.close();
});

const spec = (kind: KernelSpec["kind"]): KernelSpec => ({
  name: `${kind}_mxfp4`,
  kind,
  scheme: builtinScheme("mxfp4")!,
  input: "f32",
  output: "f32",
  layout: "packed",
});
const data = Float32Array.from({ length: SHAPE[0] * SHAPE[1] }, (_, j) =>
  j % 1009 === 7 ? NaN : j % 4099 === 3 ? -Infinity : Math.sin(j * 0.61) * 2 ** ((j % 17) - 8),
);
const base64 = (a: ArrayBufferView) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("base64");
const bytes = (a: ArrayBufferView) =>
  Array.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));

async function runPage(
  path: string,
  plan: Plan,
  outputs: string[],
  next?: { shape: number[]; data: Float32Array },
): Promise<PageResult> {
  const modules = Object.fromEntries(
    (["shared", "single"] as const).map((m) => {
      const a = emitWasm(plan.kernels, { sharedMemory: m === "shared" });
      return [m, { binary: base64(a.binary), reservedBytes: a.reservedBytes }];
    }),
  );
  const page = await browser!.context.newPage();
  await page.goto(`${browser!.origin}/${path}/`);
  await page.waitForFunction(() => "qkcRun" in window);
  const result = (await page.evaluate(
    (arg) => (window as unknown as { qkcRun: (a: unknown) => Promise<unknown> }).qkcRun(arg),
    {
      plan,
      shape: SHAPE,
      modules,
      inputs: { x: base64(data) },
      outputs,
      threads: 3,
      next: next && { shape: next.shape, inputs: { x: base64(next.data) } },
    },
  )) as PageResult;
  await page.close();
  return result;
}

describe("WASM plans on Web Workers in headless Chromium", () => {
  const s = builtinScheme("mxfp4")!;
  const x = { dtype: "f32" as const, shape: SHAPE, data };
  const ref = quantize(s, x);
  const codes = Array.from(packNibbles(Uint8Array.from(ref.codes), "low_first"));

  it("cross-origin isolated: quantize and qdq on 3 threads (2 workers) equal the interpreter, before and after a reshape", async () => {
    const next = {
      shape: [4096, 48], // more memory than the first shape: it grows under the workers
      data: Float32Array.from(
        { length: 4096 * 48 },
        (_, j) => data[j % data.length] * ((j % 5) - 2),
      ),
    };
    const q = await runPage("isolated", compile(spec("quantize")).plan, ["codes", "scales"], next);
    expect(q.isolated).toBe(true);
    expect(q.result).toEqual({ threads: 3 });
    expect([...Buffer.from(q.out.codes, "base64")]).toEqual(codes);
    expect([...Buffer.from(q.out.scales, "base64")]).toEqual(Array.from(ref.scales));
    const big = quantize(s, { dtype: "f32", shape: next.shape, data: next.data });
    expect(q.reshaped!.result).toEqual({ threads: 3 });
    expect([...Buffer.from(q.reshaped!.out.codes, "base64")]).toEqual(
      Array.from(packNibbles(Uint8Array.from(big.codes), "low_first")),
    );
    expect([...Buffer.from(q.reshaped!.out.scales, "base64")]).toEqual(Array.from(big.scales));
    expect(q.reshaped!.refused).toMatch(/need \d+ bytes of wasm memory, more than it can grow to/);
    expect(q.reshaped!.shape).toEqual(next.shape);
    expect(q.reshaped!.after).toEqual({ threads: 3 });
    expect(q.workersStarted).toBe(2);
    const f = await runPage("isolated", compile(spec("qdq")).plan, ["y"]);
    expect(f.result.threads).toBe(3);
    expect([...Buffer.from(f.out.y, "base64")]).toEqual(bytes(qdq(s, x)));
  }, 60_000);

  it("without the isolation headers: one thread, says why, same bytes", async () => {
    const q = await runPage("plain", compile(spec("quantize")).plan, ["codes", "scales"]);
    expect(q.isolated).toBe(false);
    expect(q.result.threads).toBe(1);
    expect(q.result.why).toMatch(/cross-origin isolated/);
    expect([...Buffer.from(q.out.codes, "base64")]).toEqual(codes);
    expect([...Buffer.from(q.out.scales, "base64")]).toEqual(Array.from(ref.scales));
  }, 60_000);
});

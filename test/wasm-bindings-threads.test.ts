/**
 * The generated WASM module's `loadThreaded` in Node: MXFP4 quantize and GEMV
 * from `qkc compile --target wasm` on worker_threads and on one thread, bit for
 * bit against the interpreter, with the reason whenever one thread ran; input
 * errors; and the module's types as a user's TypeScript sees them (kernels.d.ts
 * checked by tsc: right calls compile, wrong ones do not). The module's shared
 * twin made from the plain bytes equals what the emitter makes itself.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { beforeAll, describe, expect, it } from "vitest";
import { builtinScheme } from "../stdlib/index.js";
import { compile } from "../passes/pipeline.js";
import { emitWasm } from "../backends/wasm/emit.js";
import { withSharedMemory } from "../backends/wasm/shared-memory.js";
import type { KernelSpec } from "../ir/program.js";
import type { Scheme } from "../ir/scheme.js";
import type { Plan } from "../passes/lower.js";
import { bands, whyOneBand } from "../backends/wasm/plan-bands.js";
import { KernelThreads } from "../backends/wasm/threaded.js";
import { compileWasm, mxfp4Case, MXFP4_PAIR } from "./wasm-artifact.js";
import { ROOT } from "./wgsl-artifact.js";
import { kernelRequest } from "./kernel-request.js";

interface Threaded {
  threads: number;
  close(): Promise<void>;
  [name: string]: unknown;
}
type Call = (
  inputs: object,
  shape: readonly number[],
) => Promise<{ outputs: Record<string, ArrayBufferView>; threads: number; why?: string }>;

const { shape: SHAPE, x, v, want } = mxfp4Case();
const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

let out: string;
let loadThreaded: (wasm: Uint8Array, threads?: number) => Promise<Threaded>;
let wasm: Uint8Array;

beforeAll(async () => {
  out = await compileWasm(MXFP4_PAIR);
  ({ loadThreaded } = await import(join(out, "kernels.local.ts")));
  wasm = readFileSync(join(out, "kernels.wasm"));
}, 240_000);

/** Quantize then GEMV on the quantized weights, through `t`. */
async function pair(t: Threaded) {
  const q = await (t.quantize_mxfp4 as Call)({ x }, SHAPE);
  const g = await (t.gemv_mxfp4 as Call)({ ...q.outputs, x: v }, SHAPE);
  return { q, g };
}

describe("generated WASM bindings on threads (Node)", () => {
  it("quantize and GEMV on 3 worker threads equal the interpreter", async () => {
    const t = await loadThreaded(wasm, 3);
    const { q, g } = await pair(t);
    await t.close();
    expect(t.threads).toBe(3);
    expect([q.threads, q.why, g.threads, g.why]).toEqual([3, undefined, 3, undefined]);
    expect(bytes(q.outputs.codes)).toEqual(bytes(want.codes));
    expect(bytes(q.outputs.scales)).toEqual(bytes(want.scales));
    expect(bytes(g.outputs.y)).toEqual(bytes(want.y));
  }, 60_000);

  it("rows of 30 (15 bytes of nibbles, blocks cut short) split on 3 threads, equal to the interpreter", async () => {
    const c = mxfp4Case([2200, 30]);
    const t = await loadThreaded(wasm, 3);
    const q = await (t.quantize_mxfp4 as Call)({ x: c.x }, c.shape);
    const g = await (t.gemv_mxfp4 as Call)({ ...q.outputs, x: c.v }, c.shape);
    await t.close();
    expect([q.threads, q.why, g.threads, g.why]).toEqual([3, undefined, 3, undefined]);
    expect(bytes(q.outputs.codes)).toEqual(bytes(c.want.codes));
    expect(bytes(q.outputs.scales)).toEqual(bytes(c.want.scales));
    expect(bytes(g.outputs.y)).toEqual(bytes(c.want.y));
  }, 60_000);

  it("a call uses one thread per band: 2 rows on 3 threads run on 2", async () => {
    const c = mxfp4Case([2, 32768]);
    const t = await loadThreaded(wasm, 3);
    const q = await (t.quantize_mxfp4 as Call)({ x: c.x }, c.shape);
    await t.close();
    expect([t.threads, q.threads, q.why]).toEqual([3, 2, undefined]);
    expect(bytes(q.outputs.codes)).toEqual(bytes(c.want.codes));
    expect(bytes(q.outputs.scales)).toEqual(bytes(c.want.scales));
  }, 60_000);

  it("on one thread: the same bytes, and the reason", async () => {
    const t = await loadThreaded(wasm, 1);
    const { q, g } = await pair(t);
    expect([q.threads, q.why, g.threads, g.why]).toEqual([
      1,
      "1 thread asked",
      1,
      "1 thread asked",
    ]);
    expect(bytes(q.outputs.codes)).toEqual(bytes(want.codes));
    expect(bytes(q.outputs.scales)).toEqual(bytes(want.scales));
    expect(bytes(g.outputs.y)).toEqual(bytes(want.y));
    const threaded = await loadThreaded(wasm, 3);
    const small = await (threaded.quantize_mxfp4 as Call)({ x: x.subarray(0, 64) }, [2, 32]);
    expect(small.threads).toBe(1);
    expect(small.why).toMatch(/64 elements are too few/);
    await threaded.close();
  }, 60_000);

  it("bad inputs are one-line errors naming the fix", async () => {
    const t = await loadThreaded(wasm, 3);
    const quantizeCall = t.quantize_mxfp4 as Call;
    await expect(quantizeCall({}, SHAPE)).rejects.toThrow(/input 'x' is missing/);
    await expect(quantizeCall({ x: new Float64Array(x.length) }, SHAPE)).rejects.toThrow(
      /pass a Float32Array, not a Float64Array/,
    );
    await expect(quantizeCall({ x: x.subarray(1) }, SHAPE)).rejects.toThrow(
      /has 65535 values, the shape needs 65536/,
    );
    expect((await quantizeCall({ x }, SHAPE)).threads).toBe(3); // a failed call leaves it usable
    await t.close();
    await expect(loadThreaded(wasm, -1)).rejects.toThrow(/whole number >= 0/);
  }, 60_000);

  it("kernels.ts compiles under strict tsc, and it and kernels.d.ts type a user's calls: right ones compile, wrong ones are errors", () => {
    // dts/ holds what a JavaScript package ships (kernels.js + kernels.d.ts), out/ the TypeScript source too
    const dts = join(out, "dts");
    mkdirSync(dts, { recursive: true });
    for (const f of ["kernels.js", "kernels.d.ts"]) copyFileSync(join(out, f), join(dts, f));
    const user = (body: string) =>
      `import { loadThreaded, load } from "./kernels.js";\nexport async function f(bytes: Uint8Array) {\n${body}\n}\n`;
    writeFileSync(
      join(out, "good.ts"),
      user(`const t = await loadThreaded(bytes, 2);
const q = await t.quantize_mxfp4({ x: new Float32Array(64) }, [2, 32], 7);
const codes: Uint8Array = q.outputs.codes;
const n: number = q.threads;
const why: string | undefined = q.why;
const g = await t.gemv_mxfp4({ codes, scales: q.outputs.scales, x: new Float32Array(32) }, [2, 32]);
const y: Float32Array = g.outputs.y;
await t.close();
const k = await load(bytes);
const z: Float32Array = k.gemv_mxfp4({ ...k.quantize_mxfp4({ x: y }, [1, 32]), x: y }, [1, 32]).y;
return [n, why, z];`),
    );
    writeFileSync(
      join(out, "bad.ts"),
      user(`const t = await loadThreaded(bytes);
await t.gemv_mxfp4({ codes: new Float32Array(1), scales: new Uint8Array(1), x: new Float32Array(1) }, [1, 1]);
await t.quantize_mxfp4({ y: new Float32Array(1) }, [1, 1]);
const s: string = (await t.quantize_mxfp4({ x: new Float32Array(1) }, [1, 1])).threads;
return s;`),
    );
    copyFileSync(join(out, "good.ts"), join(dts, "good.ts"));
    copyFileSync(join(out, "bad.ts"), join(dts, "bad.ts"));
    const checked = [
      join(out, "kernels.ts"),
      ...[out, dts].flatMap((d) => [join(d, "good.ts"), join(d, "bad.ts")]),
    ];
    const program = ts.createProgram(checked, {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: ["node"],
      typeRoots: [join(ROOT, "node_modules/@types")],
      baseUrl: out,
      paths: { "qkc/dist/*": [`${ROOT}/*`] },
    });
    // the user's files only (the checker resolves what they use, not all of qkc)
    const files = checked.map((f) => program.getSourceFile(f)!);
    expect(program.getSourceFile(join(dts, "kernels.d.ts"))).toBeDefined(); // dts/ really checks the .d.ts
    const diagnostics = [
      ...program.getOptionsDiagnostics(),
      ...files.flatMap((f) => [
        ...program.getSyntacticDiagnostics(f),
        ...program.getSemanticDiagnostics(f),
      ]),
    ];
    const errors = diagnostics.map((d) => ({
      file: d.file?.fileName.slice(out.length + 1),
      line: d.file ? d.file.getLineAndCharacterOfPosition(d.start ?? 0).line : -1,
      text: ts.flattenDiagnosticMessageText(d.messageText, " "),
    }));
    expect(errors.filter((e) => !e.file?.endsWith("bad.ts"))).toEqual([]);
    for (const bad of ["bad.ts", "dts/bad.ts"]) {
      const found = errors.filter((e) => e.file === bad);
      expect(found.map((e) => e.line).sort()).toEqual([3, 4, 5]);
      expect(found[0].text).toMatch(/Float32Array.*not assignable to type 'Uint8Array/);
    }
  }, 120_000);
});

describe("KernelThreads shape checks", () => {
  it("a Hadamard-rotated plan on rows that are not whole rotation blocks is the one-line error on threads too", async () => {
    const { plan } = compile({
      name: "q",
      kind: "quantize",
      scheme: builtinScheme("mxfp4")!,
      input: "f32",
      output: "f32",
      layout: "packed",
      rotate: { kind: "hadamard", size: 32 },
    });
    const binary = emitWasm(plan.kernels).binary;
    const x = Float32Array.from({ length: 2200 * 32 }, (_, j) => Math.sin(j * 0.7));
    const runs = [];
    for (const n of [1, 3]) {
      const t = await KernelThreads.load(binary, { q: plan }, n);
      await expect(t.run("q", { x: x.subarray(0, 2200 * 30) }, [2200, 30])).rejects.toThrow(
        "kernel q: the last axis has 30 elements, not a multiple of the Hadamard size 32",
      );
      runs.push(await t.run("q", { x }, [2200, 32]));
      await t.close();
    }
    expect(runs.map((r) => r.threads)).toEqual([1, 3]);
    for (const name of ["codes", "scales"])
      expect(bytes(runs[1].outputs[name]), name).toEqual(bytes(runs[0].outputs[name]));
  }, 60_000);
});

describe("KernelThreads on calls whose shapes change", () => {
  it("keeps each plan's runner and its workers (the memory grows in place), and every call equals one thread and the interpreter", async () => {
    const request = (kind: "quantize" | "gemv") => kernelRequest(builtinScheme("mxfp4")!, kind);
    const plans = {
      quantize_mxfp4: compile(request("quantize")).plan,
      gemv_mxfp4: compile(request("gemv")).plan,
    };
    const binary = emitWasm(Object.values(plans).flatMap((p) => p.kernels)).binary;
    const [one, three] = await Promise.all([1, 3].map((n) => KernelThreads.load(binary, plans, n)));
    // grows, shrinks, fewer rows than threads, too few elements to share (one thread), grows past all before
    const shapes = [
      [2048, 32],
      [2200, 30],
      [512, 256],
      [2, 32768],
      [1024, 32],
      [2048, 32],
      [3000, 96],
    ];
    const threadsRan = [];
    for (const shape of shapes) {
      const c = mxfp4Case(shape);
      for (const t of [one, three]) {
        const q = await t.run("quantize_mxfp4", { x: c.x }, shape);
        const g = await t.run("gemv_mxfp4", { ...q.outputs, x: c.v }, shape);
        const where = `[${shape}] on ${t.threads}`;
        expect(bytes(q.outputs.codes), where).toEqual(bytes(c.want.codes));
        expect(bytes(q.outputs.scales), where).toEqual(bytes(c.want.scales));
        expect(bytes(g.outputs.y), where).toEqual(bytes(c.want.y));
        if (t === three) threadsRan.push(q.threads, g.threads);
      }
    }
    expect(threadsRan).toEqual([3, 3, 3, 3, 3, 3, 2, 2, 1, 1, 3, 3, 3, 3]);
    expect(three.runnersStarted).toBe(1); // one for both kernel requests and every shape
    expect(await three.workersStarted()).toBe(2); // started by the first shape, shared by both
    await Promise.all([one.close(), three.close()]);
  }, 120_000);
});

describe("whyOneBand", () => {
  const plan = (
    scheme: Scheme,
    kind: KernelSpec["kind"] = "quantize",
    layout: KernelSpec["layout"] = "packed",
  ) => compile({ name: `${kind}_x`, kind, scheme, input: "f32", output: "f32", layout }).plan;
  const mx = builtinScheme("mxfp4")!;
  const swizzled = compile(kernelRequest(mx, "quantize", { scaleLayout: "nvidia_128x4" })).plan;

  it("names the rule that keeps a call on one thread, and none when the rows split", () => {
    const cases: [Plan, number[], number, string | undefined][] = [
      [plan(mx), [2048, 32], 3, undefined],
      [plan(mx, "gemv"), [2048, 32], 3, undefined],
      [plan(mx), [2048, 32], 1, "1 thread asked"],
      [plan(mx), [64, 32, 32], 3, "the tensor is 3-D; bands split the rows of 2-D tensors"],
      [plan(mx), [2048, 36], 3, undefined], // ragged blocks in each row
      [plan(mx), [2200, 30], 3, undefined], // 15 bytes of nibbles a row
      [plan(mx), [2200, 31], 3, "rows of 31 elements could split a packed byte"],
      [plan(mx, "gemv"), [2200, 31], 3, "rows of 31 elements could split a packed byte"],
      [plan(mx, "quantize", "unpacked"), [2200, 31], 3, undefined], // no packed bytes
      [
        plan(builtinScheme("mxfp6_e2m3")!, "dequantize"),
        [2200, 30],
        3,
        "rows of 30 elements could split a packed byte",
      ],
      [plan(builtinScheme("mxfp6_e2m3")!, "dequantize"), [2048, 36], 3, undefined],
      [plan(mx), [1024, 32], 3, "32768 elements are too few to share (64K at least)"],
      [swizzled, [130, 520], 3, undefined], // bands of whole 128-row tiles
      [
        swizzled,
        [128, 1024],
        3,
        "128 rows are one tile of the 128x4 scale layout (bands are whole tiles)",
      ],
      [plan(builtinScheme("nvfp4")!), [2048, 32], 3, "a tensor scale depends on every row"],
      [
        plan(builtinScheme("nf4_dq")!),
        [2048, 64],
        3,
        "double quantization's scales depend on every row",
      ],
      [
        plan({ ...mx, rounding: { mode: "stochastic", randomBits: 8 } }),
        [2048, 32],
        3,
        "stochastic rounding draws by absolute element index",
      ],
      [
        plan({ ...mx, block: { kind: "axis", axis: 0, size: 32 } }),
        [2048, 32],
        3,
        "blocks do not lie along the last axis, so a block spans rows",
      ],
    ];
    for (const [p, shape, threads, why] of cases) {
      expect(whyOneBand(p, shape, threads), `${p.spec.scheme.name} [${shape}]`).toBe(why);
      expect(bands(p, shape, threads).length > 1).toBe(why === undefined);
    }
  });
});

describe("withSharedMemory", () => {
  const nvfp4 = (kind: "dequantize" | "gemv"): KernelSpec => ({
    name: `${kind}_nvfp4`,
    kind,
    scheme: builtinScheme("nvfp4")!,
    input: "f32",
    output: "f32",
    layout: "packed",
  });

  it("makes from the plain module the bytes the emitter makes with sharedMemory: true", () => {
    for (const kind of ["dequantize", "gemv"] as const) {
      const { kernels } = compile(nvfp4(kind)).plan;
      const plain = emitWasm(kernels).binary;
      const shared = emitWasm(kernels, { sharedMemory: true }).binary;
      expect(Buffer.from(plain)).not.toEqual(Buffer.from(shared));
      expect(Buffer.from(withSharedMemory(plain))).toEqual(Buffer.from(shared));
      expect(Buffer.from(withSharedMemory(shared))).toEqual(Buffer.from(shared));
    }
  });

  it("refuses bytes that are not a qkc module, and a module cut short (never reads past its end)", () => {
    expect(() => withSharedMemory(new Uint8Array([1, 2, 3, 4, 1, 0, 0, 0]))).toThrow(
      /not a WebAssembly module/,
    );
    const empty = Uint8Array.of(0, 0x61, 0x73, 0x6d, 1, 0, 0, 0);
    expect(() => withSharedMemory(empty)).toThrow(/imports no memory/);
    const plain = emitWasm(compile(nvfp4("dequantize")).plan.kernels).binary;
    const memoryAt = Buffer.from(plain).indexOf(Buffer.from("memory")); // the import's field name
    expect(memoryAt).toBeGreaterThan(0);
    for (const cut of [9, 10, memoryAt, memoryAt + 7])
      expect(() => withSharedMemory(plain.subarray(0, cut)), `cut at ${cut}`).toThrow(/cut short/);
  });
});

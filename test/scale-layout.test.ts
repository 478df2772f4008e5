/**
 * Scales in the NVIDIA 128x4 layout (docs/layouts.md) on the KernelIR
 * evaluator, WASM and the CUDA CPU execution layer (test/scale-layout-cases.ts);
 * the offset helper against the host reference; the compile-time and run-time
 * refusals; the graph and plan that record the choice.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { runPlan, type Execute } from "../backends/host.js";
import { WasmKernels } from "../backends/wasm/runtime.js";
import { emitWasm } from "../backends/wasm/emit.js";
import { emitCudaPlans } from "../backends/cuda/plans.js";
import { buildCpuAsync, cpuExecute, hasHostCompiler } from "../backends/cuda/cpu.js";
import { evaluateKernel } from "../ir/kernel-eval.js";
import { K, type Kernel } from "../ir/kernel.js";
import { nvidia128x4Offset } from "../ir/layout/index.js";
import type { KernelSpec } from "../ir/program.js";
import type { Scheme } from "../ir/scheme.js";
import { compile, CompileError } from "../passes/pipeline.js";
import type { Plan } from "../passes/lower.js";
import { scaleIndex } from "../passes/lower/scale-place.js";
import { BUILTIN_SCHEMES } from "../stdlib/index.js";
import { kernelRequest } from "./kernel-request.js";
import { loadProgram, type LoadResult } from "../dsl/load.js";
import { main } from "../cli/main.js";
import { readNpy, writeNpy } from "../cli/npy.js";
import {
  bits,
  byName,
  reference,
  scaleLayoutCases,
  SPECS,
  swizzled,
  tensor,
  tscaleOf,
} from "./scale-layout-cases.js";
import { planProgram } from "../backends/c/program.js";
import { gemv } from "../ir/interpret/index.js";

describe("128x4 scales on the KernelIR evaluator (the reference executor)", () => {
  scaleLayoutCases(() => ({ plan: (spec) => compile(spec).plan, execute: evaluateKernel }));

  it("scaleIndex equals nvidia128x4Offset, with the SEMANTICS.md vectors", () => {
    const i = K.i32;
    const offsets = (rows: number, cols: number): Uint32Array => {
      const [r, c] = [K.v("r", "i32"), K.v("c", "i32")];
      const at = scaleIndex("nvidia_128x4", r, c, i(cols));
      const store = K.store("out", K.bin("add", K.bin("mul", r, i(cols)), c), K.convert(at, "u32"));
      const kernel: Kernel = {
        name: "offsets",
        params: [{ kind: "buffer", name: "out", elem: "u32", access: "write" }],
        tables: [],
        body: [K.for("r", i(0), i(rows), [K.for("c", i(0), i(cols), [store])])],
      };
      const out = new Uint32Array(rows * cols);
      evaluateKernel(kernel, { out });
      return out;
    };
    const at = offsets(128, 8);
    expect([at[5 * 8 + 2], at[5 * 8 + 5]]).toEqual([82, 593]);
    for (const [rows, cols] of [
      [300, 10],
      [129, 3],
    ]) {
      const got = offsets(rows, cols);
      const want = Uint32Array.from({ length: rows * cols }, (_, j) =>
        nvidia128x4Offset(Math.floor(j / cols), j % cols, cols),
      );
      expect(got).toEqual(want);
    }
  });
});

describe("128x4 scales on WebAssembly", () => {
  const modules = new Map<string, { plan: Plan; execute: Execute }>();
  beforeAll(async () => {
    for (const spec of SPECS) {
      const { plan } = compile(spec);
      modules.set(spec.name, { plan, execute: (await WasmKernels.compile(plan.kernels)).execute });
    }
  }, 120_000);
  // one module per plan: a kernel runs in the module of the plan it belongs to
  const execute: Execute = (kernel, buffers, scalars) =>
    [...modules.values()]
      .find((m) => m.plan.kernels.includes(kernel))!
      .execute(kernel, buffers, scalars);
  scaleLayoutCases(() => ({ plan: (spec) => modules.get(spec.name)!.plan, execute }));
  it("quantize runs four blocks per step (blocks4.ts): the scale index has no division", () => {
    for (const spec of SPECS.filter((sp) => sp.kind === "quantize"))
      expect(emitWasm(compile(spec).plan.kernels).wat, spec.name).toMatch(
        /\$s16step\d+\.(model|lanes)\b/,
      );
  });
});

describe.skipIf(!hasHostCompiler())("128x4 scales on the CUDA CPU execution layer", () => {
  const plans = new Map<string, Plan>();
  let execute: Execute;
  beforeAll(async () => {
    const { artifact, plans: renamed } = emitCudaPlans(SPECS.map((sp) => compile(sp).plan));
    // a grid of at most 3 blocks: every thread group loops over many items
    const dir = join(mkdtempSync(join(tmpdir(), "qkc-128x4-")), "cu");
    execute = cpuExecute(await buildCpuAsync(artifact, dir, "-O0", ["QKC_MAX_BLOCKS=3"]));
    for (const p of renamed) plans.set(p.spec.name, p);
  }, 240_000);
  scaleLayoutCases(() => ({ plan: (spec) => plans.get(spec.name)!, execute }));
});

const gcc = spawnSync("gcc", ["--version"]).status === 0;

describe.skipIf(!gcc)("128x4 scales in the C program of a plan (gcc)", () => {
  /** Builds and runs the C program of `spec` on `shape`; returns its output buffers' bytes. */
  const runC = (spec: KernelSpec, shape: number[], inputs: Record<string, ArrayBufferView>) => {
    const dir = mkdtempSync(join(tmpdir(), "qkc-128x4-c-"));
    const { plan } = compile(spec);
    writeFileSync(join(dir, "k.c"), planProgram(plan, shape));
    const cc = ["-O1", "-std=c99", "-D_POSIX_C_SOURCE=199309L", "-ffp-contract=off"];
    execFileSync("gcc", [...cc, "-o", join(dir, "k"), join(dir, "k.c"), "-lm"]);
    for (const [name, data] of Object.entries(inputs))
      writeFileSync(
        join(dir, `${name}.bin`),
        new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      );
    execFileSync(join(dir, "k"), [dir, "1"]);
    return (name: string) => new Uint8Array(readFileSync(join(dir, `${name}.bin`)));
  };

  it("nvfp4 quantize writes the swizzled scales, gemv reads them", () => {
    const s = byName("nvfp4");
    const shape = [130, 167];
    const x = tensor(shape[0], shape[1], 3);
    const ref = reference(s, shape, x);
    const q = runC(swizzled(s, "quantize"), shape, { x });
    expect(Array.from(q("scales"))).toEqual(Array.from(ref.scales));
    expect(Array.from(q("codes"))).toEqual(Array.from(ref.codes));
    const xv = Float32Array.from({ length: shape[1] }, (_, i) => Math.sin(i) * 2);
    const inputs = { codes: ref.codes, scales: ref.scales, ...tscaleOf(ref.q), x: xv };
    const y = new Float32Array(runC(swizzled(s, "gemv"), shape, inputs)("y").buffer);
    expect(bits(y)).toEqual(bits(gemv(ref.q, xv)));
  });
});

describe("128x4 scales: refusals, the graph and the plan", () => {
  const refusal = (spec: KernelSpec): string => {
    try {
      compile(spec);
    } catch (e) {
      expect(e).toBeInstanceOf(CompileError);
      return (e as Error).message;
    }
    throw new Error(`kernel ${spec.name} compiled`);
  };

  it("refuses what the layout cannot hold, in one line naming the fix", () => {
    const int4 = BUILTIN_SCHEMES.find((s) => s.scale.rule === "minmax")!;
    const tile = { ...byName("nvfp4"), name: "tile", block: { kind: "tile", rows: 16, cols: 16 } };
    const messages = [
      refusal(swizzled(byName("mxfp4"), "qdq")),
      refusal(swizzled(byName("nf4_dq"), "quantize")),
      refusal(swizzled(int4, "dequantize")),
      refusal(swizzled(tile as Scheme, "quantize")),
    ];
    expect(messages[0]).toMatch(
      /keeps its scales to itself.*quantize, dequantize and gemv \(drop scale_layout from this kernel\)$/,
    );
    expect(messages[1]).toMatch(/double quantization/);
    expect(messages[2]).toMatch(/16-bit f16 scales/);
    expect(messages[3]).toMatch(/blocks along the last axis/);
    for (const m of messages) expect(m).toMatch(/^kernel \S+: [^\n]+$/);
    for (const m of messages.slice(1)) expect(m).toMatch(/\(use scale layout plain\)$/);
  });

  it("refuses a tensor that is not 2-D when it runs", () => {
    const { plan } = compile(swizzled(byName("mxfp4"), "quantize"));
    const x = new Float32Array(2 * 3 * 64);
    expect(() => runPlan(plan, [2, 3, 64], { x }, evaluateKernel)).toThrow(
      /^kernel \S+: nvidia_128x4 scales need a 2-D tensor \[rows, K\]; the tensor has shape \[2, 3, 64\] \(reshape it to 2-D, or use scale layout plain\)$/,
    );
  });

  it("the layout pass records the choice in the graph, the plan in its buffers", () => {
    const q = compile(swizzled(byName("nvfp4"), "quantize"), { dump: ["layout"] });
    expect(q.dumps.layout).toMatch(
      /= swizzle\(%\d+\) layout="nvidia_128x4"\n\s+%\d+ = output\(%\d+\) role="scales"/,
    );
    expect(q.plan.scaleLayout).toBe("nvidia_128x4");
    expect(q.plan.buffers.find((b) => b.name === "scales")?.length).toBe("blocks_128x4");
    expect(q.plan.steps.map((s) => ("kernel" in s ? s.kernel : s.host))).toContain(
      "quantize_nvfp4_128x4_scales_pad",
    );
    const g = compile(swizzled(byName("nvfp4"), "gemv"), { dump: ["layout"] });
    expect(g.dumps.layout).toMatch(/= unswizzle\(%\d+\) layout="nvidia_128x4"/);
    const plain = compile(kernelRequest(byName("nvfp4"), "quantize"), { dump: ["layout"] });
    expect(plain.dumps.layout).not.toMatch(/swizzle/);
    expect(plain.plan.buffers.find((b) => b.name === "scales")?.length).toBe("blocks");
  });
});

describe("the .qs kernel field scale_layout", () => {
  const load = (text: string): LoadResult =>
    loadProgram([{ file: "/m/main.qs" }], { readFile: () => text });
  const errors = (r: LoadResult) =>
    r.diagnostics
      .filter((d) => d.severity === "error")
      .map((d) => `${d.loc.line}:${d.loc.column} ${d.message}`);

  it("sets the request's scale layout on quantize, dequantize and gemv", () => {
    const r = load(`
kernel q = quantize(nvfp4) { scale_layout: nvidia_128x4 }
kernel d = dequantize(mxfp4) { layout: packed, scale_layout: nvidia_128x4 }
kernel y = gemv(weights: nvfp4, activations: f32) { scale_layout: nvidia_128x4 }
kernel p = quantize(nvfp4) { scale_layout: plain }
kernel n = quantize(nvfp4)
`);
    expect(errors(r)).toEqual([]);
    const k = r.program.kernels;
    expect(["q", "d", "y", "p", "n"].map((name) => k.get(name)!.scaleLayout)).toEqual([
      "nvidia_128x4",
      "nvidia_128x4",
      "nvidia_128x4",
      "plain",
      undefined,
    ]);
  });

  it("reports a layout the kernel cannot take at the field", () => {
    const r = load(`
kernel a = quantize(int4_g128_asym) { scale_layout: nvidia_128x4 }
kernel b = qdq(mxfp4) { scale_layout: nvidia_128x4 }
kernel c = quantize(mxfp4) { scale_layout: swizzled }
`);
    const e = errors(r);
    expect(e[0]).toMatch(/^2:53 nvidia_128x4 holds 8-bit scales .* 16-bit f16 scales/);
    expect(e[1]).toMatch(/^3:39 a qdq kernel keeps its scales to itself/);
    expect(e[2]).toMatch(/^4:44 unknown scale layout 'swizzled'/);
    expect(e).toHaveLength(3);
  });
});

const run = async (...argv: string[]) => {
  let out = "";
  let err = "";
  const code = await main(argv, { stdout: (t) => void (out += t), stderr: (t) => void (err += t) });
  return { code, out, err };
};

describe("qkc compile --scale-layout", () => {
  it("prints the swizzle in the layout dump and the manifest", async () => {
    const dump = await run(
      "compile",
      "nvfp4",
      "--scale-layout",
      "nvidia_128x4",
      "--dump-ir=layout",
    );
    expect(dump.code).toBe(0);
    expect(dump.out).toMatch(
      /quantize_nvfp4 after layout[^]*swizzle\(%\d+\) layout="nvidia_128x4"/,
    );
    expect(dump.out).toMatch(/gemv_nvfp4 after layout[^]*unswizzle\(%\d+\) layout="nvidia_128x4"/);
    const out = mkdtempSync(join(tmpdir(), "qkc-128x4-cli-"));
    const r = await run(
      "compile",
      "mxfp4",
      "--target",
      "ir",
      "--scale-layout",
      "nvidia_128x4",
      "--out",
      out,
    );
    expect(r.code, r.err).toBe(0);
    const manifest = JSON.parse(readFileSync(join(out, "manifest.json"), "utf8")) as {
      kernels: {
        name: string;
        scaleLayout: { kind: string; offset?: string };
        buffers: { name: string; length: string }[];
      }[];
    };
    const byKernel = Object.fromEntries(manifest.kernels.map((k) => [k.name, k]));
    expect(byKernel.quantize_mxfp4.scaleLayout).toMatchObject({
      kind: "nvidia_128x4",
      tile: [128, 4],
    });
    expect(byKernel.gemv_mxfp4.buffers.find((b) => b.name === "scales")!.length).toBe(
      "blocks_128x4",
    );
    expect(byKernel.qdq_mxfp4.scaleLayout.kind).toBe("row_major_block_grid");
    // the manifest's offset formula, in integer arithmetic, is the layout's offset
    const formula = byKernel.quantize_mxfp4.scaleLayout.offset!;
    const offset = new Function("r", "c", "C_pad", `return ${formula.replace(/\d+/g, "$&n")};`) as (
      ...v: bigint[]
    ) => bigint;
    for (const cols of [1, 6, 10])
      for (let r = 0; r < 300; r += 7)
        for (let c = 0; c < cols; c++)
          expect(offset(BigInt(r), BigInt(c), BigInt(Math.ceil(cols / 4) * 4))).toBe(
            BigInt(nvidia128x4Offset(r, c, cols)),
          );
  });

  it("refuses a scheme the layout cannot hold and a kernel that declares another layout", async () => {
    const nf4 = await run("compile", "nf4", "--scale-layout", "nvidia_128x4", "--dump-ir=layout");
    expect(nf4.code).not.toBe(0);
    expect(nf4.err).toMatch(/nvidia_128x4 holds 8-bit scales.*\(use scale layout plain\)/);
    const dir = mkdtempSync(join(tmpdir(), "qkc-128x4-qs-"));
    const file = join(dir, "k.qs");
    writeFileSync(file, "kernel q = quantize(mxfp4) { scale_layout: plain }\n");
    const clash = await run("compile", file, "--scale-layout", "nvidia_128x4", "--dump-ir=layout");
    expect(clash.code).not.toBe(0);
    expect(clash.err).toMatch(
      /kernel q declares scale_layout: plain; drop --scale-layout nvidia_128x4 or the field/,
    );
  });
});

describe("qkc quantize --scale-layout nvidia_128x4", () => {
  const dir = mkdtempSync(join(tmpdir(), "qkc-128x4-quantize-"));
  const shape = [130, 167];
  const x = tensor(shape[0], shape[1], 7);
  const input = join(dir, "w.npy");
  beforeAll(() => writeNpy(input, { dtype: "f32", shape, data: x }));

  for (const backend of ["interp", "wasm"])
    it(`writes the swizzled scales (${backend})`, async () => {
      const out = join(dir, backend);
      const argv = ["quantize", "nvfp4", "--in", input, "--out", out, "--backend", backend];
      const r = await run(...argv, "--scale-layout", "nvidia_128x4");
      expect(r.code, r.err).toBe(0);
      const ref = reference(byName("nvfp4"), shape, x);
      const scales = await readNpy(join(out, "scales.npy"));
      expect([scales.dtype, ...scales.shape]).toEqual(["u8", 256, 12]);
      expect(Array.from(scales.data as Uint8Array)).toEqual(Array.from(ref.scales));
      const codes = await readNpy(join(out, "codes.npy"));
      expect(Array.from(codes.data as Uint8Array)).toEqual(Array.from(ref.q.codes));
      const manifest = JSON.parse(readFileSync(join(out, "manifest.json"), "utf8")) as {
        scaleLayout: { kind: string };
        tensorScale: { decode: number };
      };
      expect(manifest.scaleLayout.kind).toBe("nvidia_128x4");
      expect(manifest.tensorScale.decode).toBe(ref.q.tensorScale!.decode);
    });

  it("refuses a tensor that is not 2-D and a scheme without 8-bit scales, in one line", async () => {
    const flat = join(dir, "flat.npy");
    await writeNpy(flat, { dtype: "f32", shape: [shape[0] * shape[1]], data: x });
    const out = join(dir, "refused");
    const oneD = await run(
      "quantize",
      "nvfp4",
      "--in",
      flat,
      "--out",
      out,
      "--scale-layout",
      "nvidia_128x4",
    );
    expect(oneD.code).not.toBe(0);
    expect(oneD.err.trim()).toMatch(
      /^error: nvidia_128x4 scales need a 2-D tensor \[rows, K\]; the tensor has shape \[21710\] \(reshape it to 2-D, or use scale layout plain\)$/,
    );
    const nf4 = await run(
      "quantize",
      "nf4",
      "--in",
      input,
      "--out",
      out,
      "--scale-layout",
      "nvidia_128x4",
    );
    expect(nf4.err.trim()).toMatch(/8-bit scales.*\(use scale layout plain\)$/);
  });
});

/**
 * qkc compile: kernel requests (a .qs file's kernels, or every kernel kind of
 * a scheme) through the pass pipeline to a target, with a manifest.
 */
import { createHash } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { loadForCommand, resolveScheme } from "../../dsl/resolve.js";
import { printKernel } from "../../ir/kernel-print.js";
import { SCALE_LAYOUTS, type KernelSpec, type ScaleLayout } from "../../ir/program.js";
import { describeScaleLayout } from "../../ir/layout/scale-placement.js";
import type { Scheme } from "../../ir/scheme.js";
import { compile, CompileError, PASS_NAMES, type PassName } from "../../passes/pipeline.js";
import { distinctKernels, uniqueKernelNames } from "../../backends/kernel-names.js";
import { writeFileAtomic } from "../atomic.js";
import { UserError } from "../errors.js";
import type { Io } from "../io.js";
import { qkcVersion } from "../version.js";
import { NVCC_FLAGS } from "../../backends/cuda/nvcc.js";

export const TARGETS = ["ir", "wasm", "wgsl", "cuda"] as const;
/** --relaxed-simd's second module, and its text */
const RELAXED_FILE = "kernels.relaxed.wasm";
const RELAXED_WAT = "kernels.relaxed.wat";
export { SCALE_LAYOUTS };
export type Target = (typeof TARGETS)[number];

export interface CompileOptions {
  target: Target;
  /** --target cuda: the GPU architecture recorded in the manifest and its nvcc line (default sm_90a) */
  arch?: string;
  /** --target cuda: `torch` adds a PyTorch extension (backends/cuda/torch.ts) */
  emit?: string;
  out?: string;
  dumpIr?: string;
  kernel?: string;
  /** the scale layout of every quantize, dequantize and gemv kernel (a .qs field may say the same) */
  scaleLayout?: ScaleLayout;
  /** --target wasm: relaxed SIMD's fused multiply-add in order: any GEMV (backends/wasm/emit.ts) */
  relaxedSimd?: boolean;
}

/** Every kernel kind of one scheme, f32 in and out, packed codes. */
export function defaultKernels(s: Scheme): KernelSpec[] {
  const base = { scheme: s, input: "f32", output: "f32", layout: "packed" } as const;
  const kinds: KernelSpec["kind"][] = ["quantize", "dequantize", "qdq", "qdq_backward"];
  if (!s.doubleQuant && s.block.kind === "axis" && [-1, 1].includes(s.block.axis))
    kinds.push("gemv");
  return kinds.map((kind) => ({
    ...base,
    kind,
    name: `${kind}_${s.name}`,
    ...(kind === "gemv" ? { order: "fixed", accumulate: "f32" } : {}),
  }));
}

async function kernelsOf(source: string): Promise<{ specs: KernelSpec[]; text: string }> {
  if (/\.qs$/.test(source)) {
    const r = loadForCommand([source]);
    const specs = [...r.program.kernels.values()];
    if (specs.length === 0) {
      const own = [...r.program.schemes.values()];
      if (own.length === 0)
        throw new UserError(
          `${source} declares no kernel and no scheme; add \`kernel k = quantize(SCHEME)\``,
        );
      return { specs: own.flatMap(defaultKernels), text: [...r.sources.values()].join("\n") };
    }
    return { specs, text: [...r.sources.values()].join("\n") };
  }
  const s = resolveScheme(source);
  return { specs: defaultKernels(s), text: JSON.stringify(s) };
}

export async function runCompile(source: string, opts: CompileOptions, io: Io): Promise<void> {
  const dump = opts.dumpIr?.split(",").map((p) => p.trim()) ?? [];
  for (const p of dump)
    if (!PASS_NAMES.includes(p as PassName))
      throw new UserError(`--dump-ir=${p}: no such pass; passes: ${PASS_NAMES.join(", ")}`);
  if (!opts.out && dump.length === 0)
    throw new UserError("give --out DIR for the artifacts, or --dump-ir=PASS to print a stage");
  const found = await kernelsOf(source);
  const text = found.text;
  let specs = found.specs;
  if (opts.kernel) {
    specs = specs.filter((k) => k.name === opts.kernel);
    if (specs.length === 0) throw new UserError(`no kernel named '${opts.kernel}' in ${source}`);
  }
  if (opts.scaleLayout) specs = specs.map((spec) => withScaleLayout(spec, opts.scaleLayout!));
  const results = specs.map((spec) => {
    try {
      return compile(spec, { dump: dump as PassName[] });
    } catch (e) {
      if (e instanceof CompileError) throw new UserError(e.message);
      throw e;
    }
  });
  for (const [j, r] of results.entries())
    for (const pass of dump as PassName[])
      io.stdout(`// ${specs[j].name} after ${pass}\n${r.dumps[pass]}\n\n`);
  if (!opts.out) return;
  await mkdir(opts.out, { recursive: true }).catch((e: Error) => {
    throw new UserError(`${opts.out}: cannot create the folder: ${e.message}`);
  });
  if (opts.arch && opts.target !== "cuda")
    throw new UserError(`--arch is for --target cuda; drop it or add --target cuda`);
  if (opts.relaxedSimd && opts.target !== "wasm")
    throw new UserError(`--relaxed-simd is for --target wasm; drop it or add --target wasm`);
  if (opts.emit !== undefined && opts.emit !== "torch")
    throw new UserError(
      `--emit ${opts.emit}: the only extra output is torch (a PyTorch extension)`,
    );
  if (opts.emit && opts.target !== "cuda")
    throw new UserError(`--emit torch is for --target cuda; add --target cuda`);
  const files: string[] = [];
  let artifact: { reservedBytes: number } | undefined;
  let cuda: Record<string, unknown> | undefined;
  let torch: Record<string, unknown> | undefined;
  const cudaLaunchers: Record<string, unknown> = {};
  const wgslFiles: Record<string, { file: string; entryPoint: string; workgroupSize: number }> = {};
  // emitters load on demand: binaryen and ts-morph take seconds to load, and
  // every other qkc command imports this module
  // one module or shader set holds every plan's kernels: kernels that share a
  // name across plans are renamed apart (emitCudaPlans does this for CUDA)
  const outPlans =
    opts.target === "wasm" || opts.target === "wgsl"
      ? uniqueKernelNames(results.map((r) => r.plan))
      : results.map((r) => r.plan);
  if (opts.target === "wgsl") {
    const { emitWgsl } = await import("../../backends/wgsl/emit.js");
    const { generateWgslBindings } = await import("../../backends/wgsl/bindings.js");
    const { writeBindingFiles } = await import("../../backends/typed-bindings.js");
    const plans = outPlans;
    const shaders = distinctKernels(plans).map((k) => emitWgsl(k));
    for (const s of shaders) {
      const file = `${s.name}.wgsl`;
      await writeFileAtomic(join(opts.out, file), s.code);
      wgslFiles[s.name] = { file, entryPoint: s.entryPoint, workgroupSize: s.workgroupSize };
      files.push(file);
    }
    const bindings = await generateWgslBindings(plans, shaders);
    await writeFileAtomic(join(opts.out, "kernels.tables.bin"), bindings.tables);
    files.push("kernels.tables.bin", ...(await writeBindingFiles(opts.out, bindings)));
  } else if (opts.target === "cuda") {
    const { emitCudaPlans } = await import("../../backends/cuda/plans.js");
    const { THREADS } = await import("../../backends/cuda/emit.js");
    const emitted = emitCudaPlans(
      results.map((r) => r.plan),
      { title: `qkc CUDA kernels for ${source}` },
    );
    await writeFileAtomic(join(opts.out, "kernels.cu"), emitted.artifact.cu);
    await writeFileAtomic(join(opts.out, "kernels.h"), emitted.artifact.header);
    files.push("kernels.cu", "kernels.h");
    emitted.plans.forEach((p, j) =>
      p.kernels.forEach((k, i) => {
        const info = emitted.artifact.kernels.find((x) => x.name === k.name)!;
        cudaLaunchers[`${j}:${results[j].plan.kernels[i].name}`] = {
          launcher: info.launcher,
          schedule: `${info.mode}, ${info.schedule}`,
          lanes: info.lanes,
          chunk: info.chunk,
          workspaceBytes: info.workspaceBytes,
          globals: info.globals,
        };
      }),
    );
    const arch = opts.arch ?? "sm_90a";
    cuda = {
      file: "kernels.cu",
      header: "kernels.h",
      arch,
      build: `nvcc ${NVCC_FLAGS.join(" ")} -arch=${arch} -c kernels.cu`,
      threadsPerBlock: THREADS,
      contraction:
        "none: f32 ops are __fadd_rn/__fsub_rn/__fmul_rn/__fdiv_rn, built with -fmad=false",
    };
    if (opts.emit === "torch") {
      const { emitTorch } = await import("../../backends/cuda/torch.js");
      const pkg = emitTorch(emitted.plans, emitted.artifact, {
        source,
        arch,
        title: `qkc CUDA kernels for ${source}`,
      });
      for (const [file, text] of pkg.files) {
        await mkdir(join(opts.out, dirname(file)), { recursive: true });
        await writeFileAtomic(join(opts.out, file), text);
        files.push(file);
      }
      torch = pkg.manifest;
    }
  } else if (opts.target === "ir") {
    for (const { plan } of results) {
      const file = `${plan.spec.name}.kir`;
      await writeFileAtomic(
        join(opts.out, file),
        plan.kernels.map(printKernel).join("\n\n") + "\n",
      );
      files.push(file);
    }
  } else {
    const { emitWasm } = await import("../../backends/wasm/emit.js");
    const { generateBindings } = await import("../../backends/wasm/bindings.js");
    const { writeBindingFiles } = await import("../../backends/typed-bindings.js");
    const plans = outPlans;
    const kernels = distinctKernels(plans);
    const wasm = emitWasm(kernels);
    artifact = wasm;
    const bindings = await generateBindings(plans, wasm.reservedBytes);
    await writeFileAtomic(join(opts.out, "kernels.wasm"), wasm.binary);
    await writeFileAtomic(join(opts.out, "kernels.wat"), wasm.wat);
    files.push("kernels.wasm", "kernels.wat");
    if (opts.relaxedSimd) {
      // beside the portable module: the bindings load either (relaxedSimdSupported() picks)
      const relaxed = emitWasm(kernels, { relaxedSimd: true });
      await writeFileAtomic(join(opts.out, RELAXED_FILE), relaxed.binary);
      await writeFileAtomic(join(opts.out, RELAXED_WAT), relaxed.wat);
      files.push(RELAXED_FILE, RELAXED_WAT);
    }
    files.push(...(await writeBindingFiles(opts.out, bindings)));
  }
  const manifest = {
    qkc: qkcVersion(),
    target: opts.target,
    source,
    sourceSha256: createHash("sha256").update(text).digest("hex"),
    kernels: outPlans.map((plan, j) => ({
      name: plan.spec.name,
      kind: plan.spec.kind,
      scheme: plan.spec.scheme,
      input: plan.spec.input,
      output: plan.spec.output,
      rotate: plan.spec.rotate ?? null,
      // gemv: `fixed` is bit-exact across backends, `any` held to the error bound (docs/semantics.md)
      ...(plan.spec.kind === "gemv" ? { order: plan.spec.order ?? "fixed" } : {}),
      codeLayout: plan.codeLayout,
      scaleLayout: describeScaleLayout(plan.scaleLayout ?? "plain"),
      buffers: plan.buffers,
      steps: plan.steps,
      functions: plan.kernels.map((k) => ({
        name: k.name,
        params: k.params,
        ...(wgslFiles[k.name] ? { wgsl: wgslFiles[k.name] } : {}),
        ...(cudaLaunchers[`${j}:${k.name}`] ? { cuda: cudaLaunchers[`${j}:${k.name}`] } : {}),
      })),
      file:
        opts.target === "ir"
          ? files[j]
          : opts.target === "wgsl"
            ? "kernels.js"
            : opts.target === "cuda"
              ? "kernels.cu"
              : "kernels.wasm",
    })),
    ...(cuda ? { cuda } : {}),
    ...(torch ? { torch } : {}),
    ...(artifact
      ? {
          wasm: {
            file: "kernels.wasm",
            reservedBytes: artifact.reservedBytes,
            memory: "imported as env.memory",
            // the same kernels with order: any GEMV's multiply-adds fused (needs relaxed SIMD)
            ...(opts.relaxedSimd ? { relaxedSimdFile: RELAXED_FILE } : {}),
          },
        }
      : {}),
  };
  await writeFileAtomic(join(opts.out, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
  io.stdout(
    `${results.length} kernel(s) for target ${opts.target} in ${opts.out}: ${files.join(", ")}, manifest.json\n`,
  );
}

/** --scale-layout on one kernel: kernels that keep their scales inside (qdq) are left as they are. */
function withScaleLayout(spec: KernelSpec, layout: ScaleLayout): KernelSpec {
  if (spec.kind === "qdq" || spec.kind === "qdq_backward") return spec;
  if (spec.scaleLayout && spec.scaleLayout !== layout)
    throw new UserError(
      `kernel ${spec.name} declares scale_layout: ${spec.scaleLayout}; drop --scale-layout ${layout} or the field`,
    );
  return { ...spec, scaleLayout: layout };
}

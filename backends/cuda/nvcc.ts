/**
 * The nvcc checks of generated CUDA: one nvcc run per .cu builds every kernel
 * for several archs with `-Xptxas -v,-warn-spills,-warn-lmem-usage`, keeps
 * the PTX, and reads back per kernel and arch: registers, stack, spills,
 * shared memory, warnings, and the widths of the global loads and stores.
 */
import { execFile, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import type { CudaArtifact } from "./emit.js";

/** The archs every generated kernel must build for (DESIGN.md). */
export const CHECK_ARCHS = ["sm_80", "sm_89", "sm_90a", "sm_100a"] as const;
/** Archs `--arch` accepts. */
export const ARCHS = ["sm_80", "sm_89", "sm_90a", "sm_100a", "sm_120a"] as const;
export type Arch = (typeof ARCHS)[number];

/** nvcc on PATH, in $CUDA_HOME/bin, /usr/local/cuda/bin or /usr/local/bin; undefined if none. */
export function findNvcc(): string | undefined {
  const candidates = [
    "nvcc",
    ...(process.env.CUDA_HOME ? [join(process.env.CUDA_HOME, "bin/nvcc")] : []),
    "/usr/local/cuda/bin/nvcc",
    "/usr/local/bin/nvcc",
  ];
  return candidates.find((c) => spawnSync(c, ["--version"]).status === 0);
}

/** The flags of every nvcc build: no contraction (the source spells __f*_rn anyway), warnings are errors. */
export const NVCC_FLAGS = ["-fmad=false", "-Werror", "all-warnings", "-std=c++17"];

export interface PtxasReport {
  /** the __global__ function (demangled base name) */
  readonly kernel: string;
  /** the index width of the template instance: 32 below 2^30 elements, else 64 */
  readonly indexBits: 32 | 64 | undefined;
  readonly arch: string;
  readonly registers: number;
  readonly stackBytes: number;
  readonly spillStores: number;
  readonly spillLoads: number;
  readonly sharedBytes: number;
  /** ptxas warnings about this kernel (spills, local memory, anything else) */
  readonly warnings: readonly string[];
  /** global loads and stores in the PTX by width in bits (8, 16, 32, 64, 128) */
  readonly loads: Readonly<Record<string, number>>;
  readonly stores: Readonly<Record<string, number>>;
  /** PTX instructions in the kernel's body */
  readonly instructions: number;
}

export interface NvccResult {
  readonly ok: boolean;
  /** nvcc's diagnostics when it failed, or warnings it printed */
  readonly log: string;
  readonly reports: readonly PtxasReport[];
}

function gencode(arch: string): string[] {
  const n = arch.replace("sm_", "");
  return ["-gencode", `arch=compute_${n},code=sm_${n}`];
}

/** `_Z24name_kernelIiEv...` -> name_kernel and the index width of the instance (i: int32, l: int64). */
export function demangle(symbol: string): { kernel: string; indexBits: 32 | 64 | undefined } {
  const m = /^_Z(\d+)/.exec(symbol);
  if (!m) return { kernel: symbol, indexBits: undefined };
  const start = m[0].length;
  const kernel = symbol.slice(start, start + Number(m[1]));
  const arg = symbol.slice(start + Number(m[1]), start + Number(m[1]) + 3);
  return { kernel, indexBits: arg === "IiE" ? 32 : arg === "IlE" ? 64 : undefined };
}

/** Parses `ptxas -v` output into per-kernel numbers (warnings attached to the kernel they follow). */
export function parsePtxas(
  log: string,
): (Omit<PtxasReport, "loads" | "stores" | "instructions"> & { symbol: string })[] {
  const out: {
    symbol: string;
    kernel: string;
    indexBits: 32 | 64 | undefined;
    arch: string;
    registers: number;
    stackBytes: number;
    spillStores: number;
    spillLoads: number;
    sharedBytes: number;
    warnings: string[];
  }[] = [];
  let cur: (typeof out)[number] | undefined;
  for (const line of log.split("\n")) {
    const entry = /Compiling entry function '([^']+)' for '([^']+)'/.exec(line);
    if (entry) {
      cur = {
        symbol: entry[1],
        ...demangle(entry[1]),
        arch: entry[2],
        registers: 0,
        stackBytes: 0,
        spillStores: 0,
        spillLoads: 0,
        sharedBytes: 0,
        warnings: [],
      };
      out.push(cur);
      continue;
    }
    if (!cur) continue;
    const frame = /(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads/.exec(
      line,
    );
    if (frame) {
      cur.stackBytes = +frame[1];
      cur.spillStores = +frame[2];
      cur.spillLoads = +frame[3];
    }
    const regs = /Used (\d+) registers/.exec(line);
    if (regs) cur.registers = +regs[1];
    const smem = /(\d+) bytes smem/.exec(line);
    if (smem) cur.sharedBytes = +smem[1];
    if (/ptxas warning/i.test(line)) cur.warnings.push(line.trim());
  }
  return out;
}

const WIDTH: Record<string, number> = { 8: 8, 16: 16, 32: 32, 64: 64 };

export interface PtxScan {
  loads: Record<string, number>;
  stores: Record<string, number>;
  instructions: number;
}

/** Global load/store widths and instruction count of each `.entry` in a PTX file. */
export function scanPtx(ptx: string): Map<string, PtxScan> {
  const out = new Map<string, PtxScan>();
  const entries = ptx.split(/^\.(?:visible\s+)?\.entry\s+/m).slice(1);
  for (const e of entries) {
    const name = /^([\w$]+)/.exec(e)?.[1];
    if (!name) continue;
    const loads: Record<string, number> = {};
    const stores: Record<string, number> = {};
    let instructions = 0;
    for (const raw of e.split("\n")) {
      const line = raw.trim();
      if (
        /^(ld|st|add|sub|mul|div|mad|fma|setp|selp|and|or|xor|shl|shr|cvt|mov|bra|shfl|vote|atom|min|max|abs|neg|not|clz|bar|ret|cvta)\b/.test(
          line,
        ) ||
        /^@%p\d+\s+\w/.test(line)
      )
        instructions++;
      const m = /\b(ld|st)\.global(?:\.nc)?(?:\.v(\d))?\.(?:[bsuf])(\d+)/.exec(line);
      if (!m) continue;
      const bitsEach = WIDTH[m[3]] ?? +m[3];
      const width = String(bitsEach * (m[2] ? +m[2] : 1));
      const into = m[1] === "ld" ? loads : stores;
      into[width] = (into[width] ?? 0) + 1;
    }
    out.set(name, { loads, stores, instructions });
  }
  return out;
}

/** The lines of an nvcc log that say what went wrong (errors, warnings, a killed compiler). */
export function problems(log: string): string {
  return log
    .split("\n")
    .filter((l) => /error|warning|killed|signal|died/i.test(l))
    .slice(0, 40)
    .join("\n");
}

/** Writes the artifact's files into `dir` and runs nvcc there: whether it succeeded, and its output. */
async function runNvcc(
  nvcc: string,
  artifact: CudaArtifact,
  dir: string,
  args: readonly string[],
): Promise<{ ok: boolean; log: string }> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "kernels.cu"), artifact.cu);
  writeFileSync(join(dir, "kernels.h"), artifact.header);
  try {
    const r = await promisify(execFile)(nvcc, args, { maxBuffer: 1 << 28, cwd: dir });
    return { ok: true, log: r.stdout + r.stderr };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    return { ok: false, log: (err.stdout ?? "") + (err.stderr ?? String(e)) };
  }
}

/** Builds `artifact` for `archs` with nvcc in `dir`; never throws for a compile error (see `ok`). */
export async function nvccCheck(
  nvcc: string,
  artifact: CudaArtifact,
  dir: string,
  archs: readonly string[] = CHECK_ARCHS,
): Promise<NvccResult> {
  mkdirSync(join(dir, "keep"), { recursive: true });
  const { ok, log } = await runNvcc(nvcc, artifact, dir, [
    "-c",
    "-x",
    "cu",
    ...NVCC_FLAGS,
    ...archs.flatMap(gencode),
    "-Xptxas",
    "-v,-warn-spills,-warn-lmem-usage",
    "--keep",
    "--keep-dir",
    join(dir, "keep"),
    join(dir, "kernels.cu"),
    "-o",
    join(dir, "kernels.o"),
  ]);
  const ptx = new Map<string, ReturnType<typeof scanPtx>>();
  for (const f of existsSync(join(dir, "keep")) ? readdirSync(join(dir, "keep")) : []) {
    // one PTX per arch (kernels.compute_90a.ptx), or kernels.ptx when there is one arch
    const n = /compute_(\d+a?)\.ptx$/.exec(f)?.[1];
    const arch = n ? `sm_${n}` : f === "kernels.ptx" && archs.length === 1 ? archs[0] : undefined;
    if (arch) ptx.set(arch, scanPtx(readFileSync(join(dir, "keep", f), "utf8")));
  }
  const reports = parsePtxas(log).map((r) => {
    const p = ptx.get(r.arch)?.get(r.symbol);
    return {
      ...r,
      loads: p?.loads ?? {},
      stores: p?.stores ?? {},
      instructions: p?.instructions ?? 0,
    };
  });
  return { ok, log, reports };
}

/**
 * The PTX of `artifact` for one arch (nvcc -ptx: no ptxas, so several times
 * faster than nvccCheck), scanned per `.entry` and with the entry's text;
 * keys are demangled kernel names with the index width (`name/32`,
 * `name/64`). Throws nvcc's problems.
 */
export async function nvccPtx(
  nvcc: string,
  artifact: CudaArtifact,
  dir: string,
  arch: string,
): Promise<Map<string, PtxScan & { text: string }>> {
  const { ok, log } = await runNvcc(nvcc, artifact, dir, [
    "-ptx",
    "-x",
    "cu",
    ...NVCC_FLAGS,
    `-arch=${arch}`,
    "kernels.cu",
    "-o",
    "kernels.ptx",
  ]);
  if (!ok) throw new Error(`nvcc -ptx failed:\n${problems(log)}`);
  const ptx = readFileSync(join(dir, "kernels.ptx"), "utf8");
  const texts = new Map(
    ptx
      .split(/^\.(?:visible\s+)?\.entry\s+/m)
      .slice(1)
      .map((e) => [/^([\w$]+)/.exec(e)?.[1] ?? "", e] as const),
  );
  const out = new Map<string, PtxScan & { text: string }>();
  for (const [symbol, scan] of scanPtx(ptx)) {
    const { kernel, indexBits } = demangle(symbol);
    out.set(`${kernel}/${indexBits}`, { ...scan, text: texts.get(symbol) ?? "" });
  }
  return out;
}

/**
 * Hardware conversions for element encoders, where the instruction computes
 * exactly what the kernel's own encoder computes.
 *
 * A lowered element encoder is a float32 memo lookup with the exact encoder
 * behind it (passes/lower/encode.ts lowerEncodeMemo):
 *     let m = memo[bits(v) >> 16]; if (m == 0xFFFF) { ...exact...; m = code }
 * On an arch with a matching PTX conversion the pair becomes one instruction:
 *   e2m1  cvt.rn.satfinite.e2m1x2.f32 (sm_100a, sm_120a)
 *   e2m3, e3m2  cvt.rn.satfinite.e2m3x2.f32 / .e3m2x2.f32 (sm_100a, sm_120a)
 *   e4m3  cvt.rn.satfinite.e4m3x2.f32 (sm_89 and later)
 *   e5m2  cvt.rn.satfinite.e5m2x2.f32 (sm_89 and later)
 * Their documented semantics: round to nearest, ties to even, on the format's
 * grid; a magnitude past the largest finite value (Inf too) gives that value
 * with the input's sign; the sign of zero is kept. Which, if any, of these a
 * kernel's encoder is, is decided here by running the encoder (ir/kernel-eval)
 * against that model on every 16-bit prefix with the low bits 0, 1, 0x8000
 * and 0xFFFF (every tie point, either side of it, and each memo bucket's
 * ends); an encoder with another rounding, overflow rule or format matches
 * none and keeps its software path. NaN is outside the model (the PTX text
 * gives no NaN rule for formats without a NaN): when every NaN input gets one
 * code from the software encoder, the hardware path selects that code for NaN.
 *
 * Not mapped: stochastic rounding (cvt.rs.satfinite.e2m1x4.f32 takes random
 * bits by a rule of its own, not qkc's Philox contract, SEMANTICS.md 4) and
 * the rceil scale byte (cvt.rp.satfinite.ue8m0x2.f32): the scale is computed
 * once per block from integer operations on the ratio's bits, which this
 * recognizer does not read.
 */
import type { Expr, Kernel, Stmt } from "../../ir/kernel.js";
import { evaluateKernel } from "../../ir/kernel-eval.js";
import { children, exprVars, walk, walkExprs } from "../../ir/kernel-walk.js";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { cacheRoot } from "./cache-dir.js";

export type HardwareFormat = "e2m1" | "e2m3" | "e3m2" | "e4m3" | "e5m2";

export interface HardwareEncoder {
  readonly format: HardwareFormat;
  /** the memo lookup (`let m = ...`) and the exact path (`if (m == 0xFFFF) ...`) it replaces */
  readonly lookup: Extract<Stmt, { op: "let" }>;
  readonly exact: Stmt;
  /** the f32 variable encoded */
  readonly input: string;
  /** the software encoder's code for every NaN */
  readonly nanCode: number;
}

/** The preprocessor test for the arch that has the conversion, and the device function doing it. */
export const HARDWARE: Record<
  HardwareFormat,
  { guard: string; fn: string; ptx: string; bits: number }
> = {
  e2m1: {
    guard: "defined(__CUDA_ARCH_FEAT_SM100_ALL) || defined(__CUDA_ARCH_FEAT_SM120_ALL)",
    fn: "qkc_cvt_e2m1",
    ptx: "cvt.rn.satfinite.e2m1x2.f32",
    bits: 4,
  },
  e2m3: {
    guard: "defined(__CUDA_ARCH_FEAT_SM100_ALL) || defined(__CUDA_ARCH_FEAT_SM120_ALL)",
    fn: "qkc_cvt_e2m3",
    ptx: "cvt.rn.satfinite.e2m3x2.f32",
    bits: 6,
  },
  e3m2: {
    guard: "defined(__CUDA_ARCH_FEAT_SM100_ALL) || defined(__CUDA_ARCH_FEAT_SM120_ALL)",
    fn: "qkc_cvt_e3m2",
    ptx: "cvt.rn.satfinite.e3m2x2.f32",
    bits: 6,
  },
  e4m3: {
    guard: "defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890",
    fn: "qkc_cvt_e4m3",
    ptx: "cvt.rn.satfinite.e4m3x2.f32",
    bits: 8,
  },
  e5m2: {
    guard: "defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890",
    fn: "qkc_cvt_e5m2",
    ptx: "cvt.rn.satfinite.e5m2x2.f32",
    bits: 8,
  },
};

/** The device function of a conversion: the pair's low part is the value, the high part converts 0. */
function deviceFunction(format: HardwareFormat): string {
  const { fn, ptx } = HARDWARE[format];
  // the e2m1 pair is a .b8 register; the others are 16 bits (6-bit codes zero-padded)
  const mask = `0x${((1 << HARDWARE[format].bits) - 1).toString(16)}u`;
  const [asm, out] =
    format === "e2m1"
      ? [`{\\n\\t.reg .b8 q;\\n\\t${ptx} q, %1, %2;\\n\\tcvt.u32.u8 %0, q;\\n\\t}`, "r"]
      : [`${ptx} %0, %1, %2;`, "h"];
  return [
    `[[maybe_unused]] static __device__ __forceinline__ uint32_t ${fn}(float v) {`,
    `  ${out === "r" ? "uint32_t" : "uint16_t"} d;`,
    `  asm("${asm}" : "=${out}"(d) : "f"(0.0f), "f"(v));`,
    `  return d & ${mask};`,
    `}`,
  ].join("\n");
}

/** Every conversion's device function, each under its arch's guard. */
export const HARDWARE_PRELUDE = [...new Set(Object.values(HARDWARE).map((h) => h.guard))]
  .map((guard) => {
    const formats = (Object.keys(HARDWARE) as HardwareFormat[]).filter(
      (f) => HARDWARE[f].guard === guard,
    );
    return [`#if ${guard}`, ...formats.map(deviceFunction), `#endif`, ``].join("\n");
  })
  .join("");

/** Finite non-negative values by code (code = index), from the bit layout; the sign is the top bit. */
function grid(format: HardwareFormat): { values: number[]; bits: number } {
  // exponent bits, mantissa bits, bias, largest finite code
  const [e, m, bias, last] = {
    e2m1: [2, 1, 1, 7],
    e2m3: [2, 3, 1, 0x1f],
    e3m2: [3, 2, 3, 0x1f],
    e4m3: [4, 3, 7, 0x7e],
    e5m2: [5, 2, 15, 0x7b],
  }[format];
  const values: number[] = [];
  for (let c = 0; c <= last; c++) {
    const exp = c >> m;
    const man = c & ((1 << m) - 1);
    values.push(
      exp === 0 ? (man / 2 ** m) * 2 ** (1 - bias) : (1 + man / 2 ** m) * 2 ** (exp - bias),
    );
  }
  return { values, bits: 1 + e + m };
}

/** The PTX conversion as documented: RNE on the grid, saturating to the largest finite, sign kept. */
export function hardwareModel(format: HardwareFormat): (x: number) => number {
  return (x) => modelCodes(format, Float32Array.of(x))[0];
}

/** hardwareModel of every element of `x`, in one loop (the check runs it on 2^18 samples). */
function modelCodes(format: HardwareFormat, x: Float32Array): Uint32Array {
  const { values: grid_, bits } = grid(format);
  const values = Float64Array.from(grid_);
  const max = values.length - 1;
  const top = values[max];
  const signBit = 1 << (bits - 1);
  const out = new Uint32Array(x.length);
  for (let j = 0; j < x.length; j++) {
    const v = x[j];
    const a = Math.abs(v);
    let c = max;
    if (a < top) {
      // the largest grid value <= a, by bisection (values ascend)
      let lo = 0;
      for (let hi = max; hi - lo > 1;) {
        const mid = (lo + hi) >> 1;
        if (values[mid] <= a) lo = mid;
        else hi = mid;
      }
      const dl = a - values[lo];
      const dh = values[lo + 1] - a;
      c = dl < dh ? lo : dh < dl ? lo + 1 : lo % 2 === 0 ? lo : lo + 1;
    }
    out[j] = v < 0 || (v === 0 && 1 / v < 0) ? c | signBit : c;
  }
  return out;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const fromBits = (b: number) => ((u32[0] = b), f32[0]);

/** Inputs of the check as bits: every 16-bit prefix with the low bits 0, 1, 0x8000, 0xFFFF, NaNs excluded. */
function samples(): Uint32Array {
  const out = new Uint32Array(4 * 0x10000);
  let n = 0;
  for (let hi = 0; hi < 0x10000; hi++)
    for (const lo of [0, 1, 0x8000, 0xffff]) {
      const b = ((hi << 16) | lo) >>> 0;
      if ((b & 0x7fffffff) <= 0x7f800000) out[n++] = b;
    }
  return out.subarray(0, n);
}
let sampleCache: Uint32Array | undefined;
const NANS = Float32Array.from(
  [0x7fc00000, 0x7f800001, 0xffc00000, 0xffffffff, 0x7fbfffff].map(fromBits),
);

/** The encoder pair as a kernel `name`: codes[i] = encode(x[i]), for n elements. */
function encoderKernel(
  lookup: Stmt & { op: "let" },
  exact: Stmt,
  input: string,
  name = "encoder",
): Kernel {
  const i = { op: "var", name: "qkc_i", type: "i32" } as const;
  return {
    name,
    params: [
      { kind: "buffer", name: "x", elem: "f32", access: "read" },
      { kind: "buffer", name: "codes", elem: "u32", access: "write" },
      { kind: "scalar", name: "n", type: "i32" },
    ],
    tables: [],
    body: [
      {
        op: "for",
        var: "qkc_i",
        start: { op: "const", type: "i32", value: 0 },
        end: { op: "var", name: "n", type: "i32" },
        body: [
          {
            op: "let",
            name: input,
            type: "f32",
            value: { op: "load", buffer: "x", index: i, type: "f32" },
          },
          lookup,
          exact,
          {
            op: "store",
            buffer: "codes",
            index: i,
            value: { op: "var", name: lookup.name, type: "u32" },
          },
        ],
      },
    ],
  };
}

type Verdict = { format: HardwareFormat; nanCode: number } | null;
const verdicts = new Map<string, Verdict>();

/**
 * Verdicts outlive the process (the check takes 0.1-0.4 s an encoder): one
 * file per encoder in the cache folder, named by the hash of the encoder's
 * key and of the check's own sources (this module and the evaluator it runs
 * the encoder on), so that editing either decides again. A folder that
 * cannot be read or written only costs the check.
 */
let sources: string | null | undefined;
const sha256 = (...parts: (string | Buffer)[]) => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest("hex");
};

/** The verdict file of an encoder key; undefined when the check's sources cannot be read. */
function verdictFile(key: string): string | undefined {
  if (sources === undefined)
    try {
      const here = fileURLToPath(import.meta.url);
      const evaluator = join(dirname(here), "../../ir", `kernel-eval${extname(here)}`);
      sources = sha256(readFileSync(here), readFileSync(evaluator));
    } catch {
      sources = null;
    }
  return sources === null
    ? undefined
    : join(cacheRoot(), "cvt", `${sha256(sources, key).slice(0, 32)}.json`);
}

function readVerdict(file: string | undefined): Verdict | undefined {
  if (!file) return undefined;
  try {
    const v = JSON.parse(readFileSync(file, "utf8")) as Verdict;
    if (v === null) return v;
    // a file of another shape (garbled, or written by hand) is no verdict
    const known = typeof v === "object" && Object.hasOwn(HARDWARE, v.format);
    const codes = known ? 2 ** HARDWARE[v.format].bits : 0;
    return known && Number.isInteger(v.nanCode) && v.nanCode >= 0 && v.nanCode < codes
      ? { format: v.format, nanCode: v.nanCode }
      : undefined;
  } catch {
    return undefined; // none yet, or unreadable: decide again
  }
}

function writeVerdict(file: string | undefined, v: Verdict): void {
  if (!file) return;
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(tmp, JSON.stringify(v));
    renameSync(tmp, file);
  } catch {
    // a read-only cache folder: decided again next time
  }
}

/** The tables an encoder pair reads, by name, with their contents. */
function tablesRead(k: Kernel, stmts: readonly Stmt[]): Kernel["tables"] {
  const names = new Set<string>();
  const visit = (e: Expr): void => {
    if (e.op === "table") names.add(e.table);
    children(e).forEach(visit);
  };
  walkExprs(stmts, visit);
  return k.tables.filter((t) => names.has(t.name));
}

/**
 * The hardware format an encoder pair computes exactly, and its NaN code; null
 * if none. A sample whose memo entry is a code takes that code without the
 * exact path (what the pair computes there), so the interpreter runs only on
 * the samples of the memo's open buckets.
 */
function classify(k: Kernel, lookup: Stmt & { op: "let" }, exact: Stmt, input: string): Verdict {
  const tables = tablesRead(k, [lookup, exact]);
  // the same encoder in another kernel differs only in its variables' numeric suffixes;
  // the tables it reads are part of it (one memo name can hold other codes)
  const names = new Map<string, number>();
  const key = sha256(
    JSON.stringify([lookup.value, exact, input, tables]).replace(
      /"([A-Za-z]\w*?_\d+)"/g,
      (_, v: string) => `"#${names.get(v) ?? names.set(v, names.size).get(v)}"`,
    ),
  );
  if (verdicts.has(key)) return verdicts.get(key)!;
  const file = verdictFile(key);
  const known = readVerdict(file);
  if (known !== undefined) {
    verdicts.set(key, known);
    return known;
  }
  const probe = { ...encoderKernel(lookup, exact, input), tables };
  const run = (x: Float32Array) => {
    const codes = new Uint32Array(x.length);
    evaluateKernel(probe, { x, codes }, { n: x.length });
    return codes;
  };
  const nan = run(NANS);
  let verdict: Verdict = null;
  if (nan.every((c) => c === nan[0])) {
    const bits = (sampleCache ??= samples());
    const memo = tables.find((t) => t.name === (lookup.value as { table: string }).table)!.values;
    const codes = new Uint32Array(bits.length);
    const open: number[] = [];
    for (let j = 0; j < bits.length; j++) {
      codes[j] = memo[bits[j] >>> 16] ?? 0xffff;
      if (codes[j] === 0xffff) open.push(j);
    }
    const exactCodes = run(Float32Array.from(open, (j) => fromBits(bits[j])));
    open.forEach((j, o) => (codes[j] = exactCodes[o]));
    const x = new Float32Array(bits.buffer, bits.byteOffset, bits.length);
    const format = (Object.keys(HARDWARE) as HardwareFormat[]).find((f) => {
      const model = modelCodes(f, x);
      return model.every((c, j) => c === codes[j]);
    });
    if (format) verdict = { format, nanCode: nan[0] };
  }
  verdicts.set(key, verdict);
  writeVerdict(file, verdict);
  return verdict;
}

const isMemoLookup = (s: Stmt): s is Extract<Stmt, { op: "let" }> & { value: Expr } => {
  if (s.op !== "let" || s.type !== "u32" || s.value.op !== "table") return false;
  const i = s.value.index;
  return (
    i.op === "binary" &&
    i.kind === "shr" &&
    i.a.op === "bitcast" &&
    i.a.a.op === "var" &&
    i.a.a.type === "f32" &&
    i.b.op === "const" &&
    i.b.value === 16
  );
};

/** The memo encoders of `k` that a PTX conversion computes exactly, by their lookup statement. */
export function hardwareEncoders(k: Kernel): Map<Stmt, HardwareEncoder> {
  const out = new Map<Stmt, HardwareEncoder>();
  const scan = (stmts: readonly Stmt[]) => {
    for (let j = 0; j + 1 < stmts.length; j++) {
      const lookup = stmts[j];
      const exact = stmts[j + 1];
      if (!isMemoLookup(lookup) || exact.op !== "if" || exact.else?.length) continue;
      const c = exact.cond;
      const guarded =
        c.op === "binary" &&
        c.kind === "eq" &&
        c.a.op === "var" &&
        c.a.name === lookup.name &&
        c.b.op === "const" &&
        c.b.value === 0xffff;
      if (!guarded) continue;
      const index = (lookup.value as Extract<Expr, { op: "table" }>).index;
      const input = (
        (index as Extract<Expr, { op: "binary" }>).a as Extract<Expr, { op: "bitcast" }>
      ).a as Extract<Expr, { op: "var" }>;
      // the exact path may read only the input and what it declares itself
      const declared = new Set<string>([lookup.name]);
      walk(exact.then, (s) => s.op === "let" && declared.add(s.name));
      const free = new Set<string>();
      walkExprs([exact], (e) => exprVars(e, free));
      if ([...free].some((v) => v !== input.name && !declared.has(v))) continue;
      const verdict = classify(k, lookup, exact, input.name);
      if (verdict) out.set(lookup, { ...verdict, lookup, exact, input: input.name });
    }
  };
  scan(k.body);
  walk(k.body, (s) => {
    if (s.op === "for") scan(s.body);
    if (s.op === "if") {
      scan(s.then);
      scan(s.else ?? []);
    }
  });
  return out;
}

/** A kernel of one hardware-mapped encoder of `k` alone, with `k`'s tables (for tests and benches). */
export function encoderProbe(k: Kernel, h: HardwareEncoder, name: string): Kernel {
  return { ...encoderKernel(h.lookup, h.exact, h.input, name), tables: k.tables };
}

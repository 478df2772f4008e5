/**
 * A block's scale rule as a small vector model, fitted to the kernel's own
 * KernelIR at compile time (for blocks4.ts). Between quantize's statistics
 * loop and its element loop, a chain of some 30 lets maps the block's amax to
 * what the rest reads: the scale code, the multiplier, qdq's scale value.
 * When the chain reads nothing but amax, the bad flag (false on the vector
 * path) and constants, it is a function of amax alone; for an E8M0 scale
 * rule it is constant on each binade. So:
 *   - for every binade (amax bits e << 23 ..= e << 23 | 0x7fffff, e = 0..254,
 *     the subnormal one included) scale-range.ts proves by an interval
 *     evaluation of the lets that the outputs are the same for every amax in
 *     it, or the binade is undecided; a decided binade's outputs are the
 *     evaluator's at amax bits e << 23. A rule that reads amax's mantissa (a
 *     ceiling, round-to-nearest) is undecided on every normal binade;
 *   - the decided binades must be one run [lo, hi]; on it each output (its
 *     32 bits) is fitted exactly as a few pieces a + b * e, in u32
 *     arithmetic; a lane whose binade is outside the run leaves the group to
 *     the scalar code.
 * The vector form is then e = amax bits >> 23 and, per output, the pieces
 * chosen by compares: about 4 ops per piece instead of the chain's ~300.
 * `fitScaleRule` says why when there is no model (the chain reads a run-time
 * value, as NVFP4's tensor scale; it is not constant per binade, as a ceiling
 * rule; or too many pieces); blocks4.ts then runs the chain itself in lanes.
 */
import type { Expr, Kernel, ScalarType, Stmt } from "../../ir/kernel.js";
import { evaluateKernel } from "../../ir/kernel-eval.js";
import { children, exprVars, walk, walkExprs } from "../../ir/kernel-walk.js";
import { constantLets } from "./scale-range.js";
import { splatI32, type ExpressionRef as Ref, type Module } from "./binaryen.js";

/** u32 value = a + b * e for e >= from (up to the next piece) */
export interface Piece {
  readonly from: number;
  readonly a: number;
  readonly b: number;
}

export interface ScaleFit {
  /** the decided binades */
  readonly lo: number;
  readonly hi: number;
  readonly outputs: readonly { readonly name: string; readonly pieces: readonly Piece[] }[];
}

const MAX_PIECES = 6;
const BINADES = 255;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const fromBits = (b: number): number => ((u32[0] = b >>> 0), f32[0]);

/** `e` as the u32 bits of its value */
const asBits = (e: Expr): Expr =>
  e.type === "f32" ? { op: "bitcast", a: e, type: "u32" } : { ...e, type: "u32" };

/** a kernel of one f32 scalar `input` and a u32 buffer `out`, to evaluate `body` at compile time */
export function probeKernel(
  name: string,
  input: string,
  tables: Kernel["tables"],
  body: readonly Stmt[],
): Kernel {
  return {
    name,
    params: [
      { kind: "scalar", name: input, type: "f32" },
      { kind: "buffer", name: "out", elem: "u32", access: "write" },
    ],
    tables,
    body: [...body],
  };
}

/**
 * The model of the chain `lets` (read after it: `outputs`) as a function of
 * the f32 `amax` (and `bad`, taken false), or why there is none.
 */
export function fitScaleRule(
  k: Kernel,
  lets: readonly Stmt[],
  amax: string,
  bad: string | undefined,
  outputs: readonly string[],
  constants: ReadonlyMap<string, number>,
): ScaleFit | string {
  const types = new Map<string, ScalarType>();
  walk(lets, (x) => {
    if (x.op === "let") types.set(x.name, x.type);
  });
  for (const o of outputs) {
    const t = types.get(o);
    if (!t || t === "bool") return `output ${o} is not a 32-bit let of the chain`;
  }
  // what else the chain reads (NVFP4's run-time tensor scale, a buffer): no model of amax alone
  const reads = new Set<string>();
  const buffers = new Set<string>();
  const loads = (e: Expr): void => {
    if (e.op === "load") buffers.add(e.buffer);
    children(e).forEach(loads);
  };
  walkExprs(lets, (e) => {
    exprVars(e, reads);
    loads(e);
  });
  const foreign = [
    ...[...reads].filter((v) => v !== amax && v !== bad && !types.has(v) && !constants.has(v)),
    ...[...buffers].map((b) => `buffer ${b}`),
  ];
  if (foreign.length)
    return `the scale rule reads ${foreign.join(", ")} besides the block's amax`;
  const prelude: Stmt[] = [...constants]
    .filter(([name]) => !types.has(name))
    .map(([name, value]) => ({
      op: "let",
      name,
      type: "i32",
      value: { op: "const", type: "i32", value },
    }));
  if (bad)
    prelude.push({
      op: "let",
      name: bad,
      type: "bool",
      value: { op: "const", type: "bool", value: false },
    });
  const probe = probeKernel(`${k.name}_scale_probe`, amax, k.tables, [
    ...prelude,
    ...lets,
    ...outputs.map((o, i): Stmt => ({
      op: "store",
      buffer: "out",
      index: { op: "const", type: "i32", value: i },
      value: asBits({ op: "var", name: o, type: types.get(o)! }),
    })),
  ]);
  const out = new Uint32Array(outputs.length);
  const run = (bits: number): string => {
    evaluateKernel(probe, { out }, { [amax]: fromBits(bits) });
    return out.join(",");
  };
  const decided: (number[] | undefined)[] = [];
  const chain = [...prelude, ...lets];
  try {
    for (let e = 0; e < BINADES; e++) {
      const at = run(e << 23);
      const constant = constantLets(probe, chain, amax, e << 23, ((e << 23) | 0x7fffff) >>> 0);
      decided.push(outputs.every((o) => constant.has(o)) ? at.split(",").map(Number) : undefined);
    }
  } catch (err) {
    return `the scale rule reads more than the block's amax: ${(err as Error).message}`;
  }
  let lo = 0;
  let best = [0, -1];
  for (let e = 0; e <= BINADES; e++)
    if (e === BINADES || !decided[e]) {
      if (e - 1 - lo > best[1] - best[0]) best = [lo, e - 1];
      lo = e + 1;
    }
  const [from, to] = best;
  if (to - from < 64) return "the scale rule is not constant on each binade of amax";
  const fitted: ScaleFit["outputs"][number][] = [];
  for (const [i, name] of outputs.entries()) {
    const value = (e: number) => decided[e]![i];
    const pieces: Piece[] = [];
    for (let e = from; e <= to;) {
      const b = e < to ? (value(e + 1) - value(e)) >>> 0 : 0;
      const a = (value(e) - Math.imul(b, e)) >>> 0;
      let end = e + 1;
      while (end <= to && value(end) === (a + Math.imul(b, end)) >>> 0) end++;
      pieces.push({ from: e, a, b });
      e = end;
    }
    if (pieces.length > MAX_PIECES)
      return `output ${name} needs ${pieces.length} pieces (at most ${MAX_PIECES})`;
    fitted.push({ name, pieces });
  }
  return { lo: from, hi: to, outputs: fitted };
}

/** The fitted model's value of `pieces` for the binades (i32x4 lanes, e = amax bits >> 23) in local `e`. */
export function emitPieces(m: Module, pieces: readonly Piece[], e: () => Ref): Ref {
  const line = (p: Piece) =>
    p.b === 0
      ? splatI32(m, p.a)
      : m.i32x4.add(m.i32x4.mul(e(), splatI32(m, p.b)), splatI32(m, p.a));
  let v = line(pieces[0]);
  for (const p of pieces.slice(1))
    v = m.v128.bitselect(line(p), v, m.i32x4.gt_s(e(), splatI32(m, p.from - 1)));
  return v;
}

/** the lanes of local `e` (binades) inside [lo, hi] */
export function inRun(m: Module, fit: ScaleFit, e: () => Ref): Ref {
  return m.v128.and(
    m.i32x4.gt_s(e(), splatI32(m, fit.lo - 1)),
    m.i32x4.lt_s(e(), splatI32(m, fit.hi + 1)),
  );
}

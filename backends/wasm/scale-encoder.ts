/**
 * The float encoder inside a block's scale rule, as rounding in integer
 * lanes (round-encoder.ts), for blocks4.ts when the rule has no fitted model
 * (scale-fit.ts). NVFP4's rule is
 *     let ratio = amax * s_enc / 6; ...17 lets: the E4M3 code of ratio...;
 *     let scale = e4m3_values[code]; let mult = ...s_enc / scale...
 * and those 17 lets (passes/lower/encode.ts lowerEncode: round to nearest
 * even, saturating) are most of its ops in lanes. `scaleEncoder` finds them:
 * a run of lets that starts with `bitcast<u32>(v)` of an f32 `v`, reads
 * nothing but `v`, its own lets and constants, and of which everything after
 * it reads one u32 let alone (the code). That run is a function of the bits
 * of `v`, evaluated here by the KernelIR evaluator; its grid is fitted as
 * for element encoders and verified on every finite float32 of both signs
 * and +-Inf: the run must be, statement for statement up to names,
 * lowerEncode's round to nearest even into a float format with the grid's
 * step and mantissa (a deterministic rounding: it sends an interval of
 * inputs to each code), and on each piece of the model (a maximal range of
 * bits with one model code) the run's code at both ends must be the model's,
 * so agreement at the ends of a piece is agreement on all of it; a sample
 * of points inside the pieces is a further check, not the proof. A run that
 * is not a lowered encoder is refused (its lets run in lanes). An f32 scale (onnxruntime's MatMulNBits, bench/onnx-int4.qs)
 * has no grid of steps to fit: its run, when it is statement for statement
 * passes/lower/encode.ts's encoder of f32 (round to nearest even, saturate),
 * is the identity on finite values and +-Inf to +-max (an f32 already is an
 * f32), checked at the f32 edges and 4096 random inputs. NaN inputs are left
 * to the scalar code (blocks4.ts checks).
 */
import type { Expr, Kernel, Stmt } from "../../ir/kernel.js";
import { evaluateKernel } from "../../ir/kernel-eval.js";
import { exprVars, walkExprs } from "../../ir/kernel-walk.js";
import { f32 } from "../../ir/formats/index.js";
import { fromBits, INF_BITS } from "./encoder-probe.js";
import { probeKernel } from "./scale-fit.js";
import { isLowered, isLoweredGrid } from "./lowered-encoder.js";
import { fitRoundEncoder, pieces, roundCode, type RoundEncoder } from "./round-encoder.js";

/** the code of an f32 scale: its bits, +-Inf saturated to +-max */
export const F32_IDENTITY: { readonly identity: "f32" } = { identity: "f32" };

export interface ScaleEncoder {
  /** the f32 value encoded */
  readonly input: string;
  /** the code: the one let of the run read after it */
  readonly output: string;
  /** the run: lets[from ..= to] of the chain */
  readonly from: number;
  readonly to: number;
  readonly encoder: RoundEncoder | typeof F32_IDENTITY;
}

const SAMPLES = 4096;

const readsOf = (list: readonly Stmt[]): Set<string> => {
  const out = new Set<string>();
  walkExprs(list, (e) => exprVars(e, out));
  return out;
};

/**
 * The encoder run of the chain `lets` (statements after it, `later`, read
 * the chain too), or why there is none.
 */
export function scaleEncoder(
  k: Kernel,
  lets: readonly Stmt[],
  later: readonly Stmt[],
): ScaleEncoder | string {
  let why: string | undefined;
  for (let from = 0; from < lets.length; from++) {
    const first = lets[from];
    if (first.op !== "let" || first.type !== "u32") continue;
    const v = first.value;
    if (v.op !== "bitcast" || v.a.op !== "var" || v.a.type !== "f32") continue;
    const input = v.a.name;
    // the run: lets that read only the input and the run's own lets
    const own = new Set([first.name]);
    let end = from;
    while (end + 1 < lets.length) {
      const s = lets[end + 1];
      if (s.op !== "let" || [...readsOf([s])].some((n) => n !== input && !own.has(n))) break;
      own.add(s.name);
      end++;
    }
    // its code: the last u32 let whose lets alone the rest reads
    for (let to = end; to > from; to--) {
      const out = lets[to];
      if (out.op !== "let" || out.type !== "u32") continue;
      const run = lets.slice(from, to + 1);
      const names = new Set(run.map((s) => (s as { name: string }).name));
      const after = readsOf([...lets.slice(to + 1), ...later]);
      if ([...after].some((n) => names.has(n) && n !== out.name)) continue;
      const found = fit(k, run, input, out.name);
      if (typeof found !== "string") return { input, output: out.name, from, to, encoder: found };
      why ??= `the encoder of ${input} in the scale rule: ${found}`;
      break;
    }
  }
  return why ?? "no float encoder in the scale rule";
}

function fit(
  k: Kernel,
  run: readonly Stmt[],
  input: string,
  output: string,
): ScaleEncoder["encoder"] | string {
  const store: Stmt = {
    op: "store",
    buffer: "out",
    index: { op: "const", type: "i32", value: 0 },
    value: { op: "var", name: output, type: "u32" } as Expr,
  };
  const probe = probeKernel(`${k.name}_scale_encoder`, input, k.tables, [...run, store]);
  const out = new Uint32Array(1);
  const exact = (bits: number): number => {
    evaluateKernel(probe, { out }, { [input]: fromBits(bits) });
    return out[0];
  };
  let e: RoundEncoder | string;
  try {
    e = fitRoundEncoder({ input, exact });
  } catch (err) {
    return `it reads more than its input (${(err as Error).message})`;
  }
  if (typeof e === "string") return isF32Encoder(run, input, output, exact) ? F32_IDENTITY : e;
  // the piece-end verification holds only for a deterministic rounding: the run must be one
  if (!isLoweredGrid(run, input, e, { output }))
    return "the run fits a grid but is not the lowered encoder of a format with that grid";
  return verify(e, exact) ?? e;
}

/** the code of the f32 bits `bits` (not NaN) as an f32 scale */
export const f32Code = (bits: number): number =>
  (bits & 0x7fffffff) === INF_BITS ? ((bits & 0x80000000) >>> 0) + 0x7f7fffff : bits >>> 0;

/** whether `run` is the lowered f32 encoder of `input` (statement for statement, up to names) */
function isF32Encoder(
  run: readonly Stmt[],
  input: string,
  output: string,
  exact: (bits: number) => number,
): boolean {
  if (!isLowered(run, input, f32, "saturate", { output })) return false;
  let seed = 0x2545f491;
  const random = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0), seed);
  const edges = [0, 1, 0x7fffff, 0x800000, 0x3f800000, 0x7f7fffff, INF_BITS];
  const points = [...edges, ...Array.from({ length: SAMPLES }, random)].flatMap((p) => [
    p & 0x7fffffff,
    (p | 0x80000000) >>> 0,
  ]);
  return points.every((p) => (p & 0x7fffffff) > INF_BITS || exact(p) === f32Code(p));
}

/** undefined when `e` is `exact` on every non-NaN float32 (see the file comment), else the first difference */
export function verify(e: RoundEncoder, exact: (bits: number) => number): string | undefined {
  const differs = (bits: number) =>
    `the grid differs at ${fromBits(bits)} (bits 0x${bits.toString(16)}): ${roundCode(e, bits)}, not ${exact(bits)}`;
  let seed = 0x9e3779b9;
  const random = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0), seed);
  const all = [
    ...pieces(e, 0, INF_BITS - 1),
    ...pieces(e, 0x80000000, (0x80000000 | (INF_BITS - 1)) >>> 0),
  ];
  for (const [x, y] of all) {
    if (roundCode(e, x) !== exact(x)) return differs(x);
    if (roundCode(e, y) !== exact(y)) return differs(y);
  }
  for (const bits of [INF_BITS, (INF_BITS | 0x80000000) >>> 0])
    if (roundCode(e, bits) !== exact(bits)) return differs(bits);
  for (let i = 0; i < SAMPLES; i++) {
    const [x, y] = all[random() % all.length];
    const bits = x + (random() % (y - x + 1));
    if (roundCode(e, bits) !== exact(bits)) return differs(bits);
  }
  return undefined;
}

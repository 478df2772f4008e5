/**
 * Whether a chain of lets is constant while the bits of one f32 input range
 * over an interval (for scale-fit.ts: amax over one binade). A proof, not a
 * sample: each let is evaluated over intervals. A value that is the same for
 * every input in the interval is a point, computed by the KernelIR evaluator
 * itself; an integer or bool that may vary is a range [lo, hi] that contains
 * every value it takes; anything else that may vary is unknown. Ranges pass
 * through the monotone ops a floor-of-log2 rule is made of (the bits, shifts
 * by a constant, clz, add, sub, min, max, masks, compares, selects); a mask,
 * a compare or a select can make a range a point again (the clamp of a
 * subnormal amax's exponent). A chain that reads the input any other way,
 * or whose output still varies, is not shown constant: sound, not complete.
 */
import type { Expr, Kernel, ScalarType, Stmt } from "../../ir/kernel.js";
import { evaluateKernel } from "../../ir/kernel-eval.js";
import { exprVars } from "../../ir/kernel-walk.js";

type Value = number | boolean;
/** a point, a range of integers (bools as 0 / 1), or unknown */
type Abs =
  | { readonly point: Value }
  | { readonly lo: number; readonly hi: number; readonly f32Bits?: true }
  | undefined;

const BOUNDS: Record<ScalarType, [number, number]> = {
  i32: [-(2 ** 31), 2 ** 31 - 1],
  u32: [0, 2 ** 32 - 1],
  bool: [0, 1],
  f32: [NaN, NaN],
};

const isPoint = (a: Abs): a is { point: Value } => a !== undefined && "point" in a;

/** [lo, hi] of type t as an Abs: a point when lo = hi, unknown when out of t's range */
function range(t: ScalarType, lo: number, hi: number): Abs {
  const [min, max] = BOUNDS[t];
  if (!(lo >= min && hi <= max && lo <= hi)) return undefined;
  if (lo === hi) return { point: t === "bool" ? lo !== 0 : lo };
  return { lo, hi };
}

/** the interval of an integer or bool Abs (a point is [v, v]) */
function bounds(a: Abs): [number, number] | undefined {
  if (a === undefined) return undefined;
  if ("point" in a) return typeof a.point === "boolean" ? [+a.point, +a.point] : [a.point, a.point];
  return a.f32Bits ? undefined : [a.lo, a.hi];
}

/** the lets of `chain` that are constant for every `input` whose bits lie in [lo, hi] */
export function constantLets(
  k: Kernel,
  chain: readonly Stmt[],
  input: string,
  lo: number,
  hi: number,
): Set<string> {
  const env = new Map<string, Abs>([[input, { lo, hi, f32Bits: true }]]);
  /** `e` with every variable its point: the evaluator's value of it */
  const fill = (e: Expr): Expr => {
    switch (e.op) {
      case "var":
        return { op: "const", type: e.type, value: (env.get(e.name) as { point: Value }).point };
      case "binary":
        return { ...e, a: fill(e.a), b: fill(e.b) };
      case "select":
        return { ...e, cond: fill(e.cond), a: fill(e.a), b: fill(e.b) };
      case "unary":
      case "bitcast":
      case "convert":
        return { ...e, a: fill(e.a) };
      case "table":
        return { ...e, index: fill(e.index) };
      default:
        return e;
    }
  };
  const out = new Uint32Array(1);
  const concrete = (e: Expr): Value => {
    const value: Expr =
      e.type === "bool"
        ? { op: "convert", a: fill(e), type: "u32" }
        : { op: "bitcast", a: fill(e), type: "u32" };
    const at: Expr = { op: "const", type: "i32", value: 0 };
    evaluateKernel(
      {
        name: `${k.name}_point`,
        params: [{ kind: "buffer", name: "out", elem: "u32", access: "write" }],
        tables: k.tables,
        body: [{ op: "store", buffer: "out", index: at, value }],
      },
      { out },
    );
    const bits = out[0];
    if (e.type === "bool") return bits !== 0;
    if (e.type === "i32") return bits | 0;
    if (e.type === "f32") return new Float32Array(new Uint32Array([bits]).buffer)[0];
    return bits;
  };
  const ev = (e: Expr): Abs => {
    if (e.op === "var") return env.get(e.name);
    if (e.op === "const") return { point: e.value };
    if (e.op === "load" || e.op === "random") return undefined;
    if ([...exprVars(e)].every((n) => isPoint(env.get(n)))) return { point: concrete(e) };
    const t = e.type;
    switch (e.op) {
      case "select": {
        const c = ev(e.cond);
        if (isPoint(c)) return ev(c.point ? e.a : e.b);
        const [a, b] = [bounds(ev(e.a)), bounds(ev(e.b))];
        return a && b && t !== "f32"
          ? range(t, Math.min(a[0], b[0]), Math.max(a[1], b[1]))
          : undefined;
      }
      case "bitcast":
      case "convert": {
        const a = ev(e.a);
        if (e.op === "bitcast" && a && "f32Bits" in a) return range(t, a.lo, a.hi);
        // bool -> int and i32 <-> u32 keep the value when it is in both types' range
        const b = bounds(a);
        return b && t !== "f32" && e.a.type !== "f32" ? range(t, b[0], b[1]) : undefined;
      }
      case "unary": {
        const a = bounds(ev(e.a));
        if (!a) return undefined;
        if (e.kind === "clz" && e.a.type === "u32")
          return range(t, Math.clz32(a[1]), Math.clz32(a[0]));
        if (e.kind === "not" && t === "bool") return range(t, 1 - a[1], 1 - a[0]);
        return undefined;
      }
      case "binary":
        return binary(e.kind, t, e.a.type, ev(e.a), ev(e.b));
      default:
        return undefined;
    }
  };
  const constant = new Set<string>();
  for (const s of chain) {
    if (s.op !== "let") return constant;
    const a = ev(s.value);
    env.set(s.name, a);
    if (isPoint(a)) constant.add(s.name);
  }
  return constant;
}

function binary(kind: string, t: ScalarType, operand: ScalarType, p: Abs, q: Abs): Abs {
  const a = bounds(p);
  const b = bounds(q);
  if (!a || !b || operand === "f32") return undefined;
  const [al, ah] = a;
  const [bl, bh] = b;
  switch (kind) {
    case "add":
      return range(t, al + bl, ah + bh);
    case "sub":
      return range(t, al - bh, ah - bl);
    case "min":
      return range(t, Math.min(al, bl), Math.min(ah, bh));
    case "max":
      return range(t, Math.max(al, bl), Math.max(ah, bh));
    case "shr":
      // by a constant in 0..31: monotone (logical on u32, arithmetic on i32)
      return bl === bh && bl >= 0 && bl < 32
        ? range(t, Math.floor(al / 2 ** bl), Math.floor(ah / 2 ** bl))
        : undefined;
    case "and":
      if (t === "bool") return range(t, Math.min(al, bl), Math.min(ah, bh));
      // x & m <= min(x, m) for non-negative x and m
      return al >= 0 && bl >= 0 ? range(t, 0, Math.min(ah, bh)) : undefined;
    case "or":
      return t === "bool" ? range(t, Math.max(al, bl), Math.max(ah, bh)) : undefined;
    case "eq":
    case "ne": {
      const apart = ah < bl || bh < al;
      if (!apart) return range("bool", 0, 1);
      return { point: kind === "ne" };
    }
    case "lt":
      return ah < bl ? { point: true } : al >= bh ? { point: false } : range("bool", 0, 1);
    case "le":
      return ah <= bl ? { point: true } : al > bh ? { point: false } : range("bool", 0, 1);
    case "gt":
      return al > bh ? { point: true } : ah <= bl ? { point: false } : range("bool", 0, 1);
    case "ge":
      return al >= bh ? { point: true } : ah < bl ? { point: false } : range("bool", 0, 1);
  }
  return undefined;
}

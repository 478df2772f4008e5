/**
 * The 16-lane block statistics loop of quantize and qdq, inside the
 * WebAssembly backend. `statsLoop` matches the loop lowered by
 * passes/lower/kernels.ts
 *     for t { let i = base + t * inner; let x = X[i]; let a = abs(x);
 *             let fin = bitcast<u32>(a) < 0x7f800000;
 *             bad = bad | not(fin); amax = select(fin & (a > amax), a, amax);
 *             mn = ...; mx = ... }     (min and max only when nothing reads them)
 * or NVFP4's tensor amax pass, `let x = X[t]; let a = abs(x)` with the
 * finite test written inline in the amax select, and emits its vector prefix, 16 elements per step (four f32x4 loads).
 * `a` is finite and non-negative where it counts, so `a > amax` is an
 * unsigned compare of the bits: each lane keeps max_u of its candidates
 * (a non-finite element counts as +0, which never raises a non-negative
 * amax), folded into amax after the loop; the result is the scalar loop's in
 * any order of iterations. The vector part runs only while amax's sign bit
 * is clear (then max_u of the bits is the scalar select, NaN and Inf
 * included), and `inner == 1`; everything else is the generic code's.
 */
import type { Expr, Stmt } from "../../ir/kernel.js";
import { children, sameExpr, walkExprs } from "../../ir/kernel-walk.js";
import { binaryen, splatI32, type ExpressionRef as Ref } from "./binaryen.js";
import { isVar, load16, loadPrefix, loop16, type For } from "./steps16.js";
import type { LoopContext } from "./vectorize.js";

const INF = 0x7f800000;

export interface StatsLoop {
  readonly form: { base?: Expr; inner?: string };
  readonly x: string;
  readonly amax?: string;
  readonly bad?: string;
}

// Object.is on constants: JSON prints NaN and +-Infinity as null, and -0 as 0
const same = sameExpr;

function reads(stmts: readonly Stmt[], name: string): number {
  let n = 0;
  const count = (e: Expr): void => {
    if (e.op === "var" && e.name === name) n++;
    children(e).forEach(count);
  };
  walkExprs(stmts, count);
  return n;
}

/** `let x = X[t]`, t the loop variable and X an f32 buffer */
function directLoad(ctx: LoopContext, s: For, lx: Stmt | undefined) {
  if (lx?.op !== "let" || lx.value.op !== "load" || lx.value.type !== "f32") return undefined;
  if (!isVar(lx.value.index, s.var) || ctx.buffer(lx.value.buffer)?.elem !== "f32")
    return undefined;
  return { form: {}, buffer: lx.value.buffer, x: lx.name };
}

/** the statistics loop `s`, or undefined */
export function matchStats(ctx: LoopContext, s: For): StatsLoop | undefined {
  const body = s.body.filter((x) => x.op !== "comment");
  // `let i = ...; let x = X[i]`, or `let x = X[t]` (the tensor amax pass)
  const prefix = loadPrefix(ctx, s, body[0], body[1]);
  const load = prefix ?? directLoad(ctx, s, body[0]);
  let at = prefix ? 2 : 1;
  const la = body[at++];
  if (!load || la?.op !== "let") return undefined;
  const X: Expr = { op: "var", name: load.x, type: "f32" };
  const A: Expr = { op: "var", name: la.name, type: "f32" };
  if (!same(la.value, { op: "unary", kind: "abs", a: X, type: "f32" })) return undefined;
  const fin: Expr = {
    op: "binary",
    kind: "lt",
    a: { op: "bitcast", a: A, type: "u32" },
    b: { op: "const", type: "u32", value: INF },
    type: "bool",
  };
  // the finite test as a let, or written inline where it is used
  const lf = body[at];
  const named = lf?.op === "let" && same(lf.value, fin);
  const F: Expr = named ? { op: "var", name: lf.name, type: "bool" } : fin;
  const rest = body.slice(named ? at + 1 : at);
  if (!rest.length) return undefined;
  let amax: string | undefined;
  let bad: string | undefined;
  for (const r of rest) {
    if (r.op !== "assign") return undefined;
    const acc: Expr = { op: "var", name: r.name, type: r.value.type };
    const pick = (v: Expr, kind: "gt" | "lt") =>
      same(r.value, {
        op: "select",
        cond: {
          op: "binary",
          kind: "and",
          a: F,
          b: { op: "binary", kind, a: v, b: acc, type: "bool" },
          type: "bool",
        },
        a: v,
        b: acc,
        type: "f32",
      });
    const isBad = same(r.value, {
      op: "binary",
      kind: "or",
      a: acc,
      b: { op: "unary", kind: "not", a: F, type: "bool" },
      type: "bool",
    });
    if (isBad && !bad) bad = r.name;
    else if (pick(A, "gt") && !amax) amax = r.name;
    else if (pick(X, "gt") || pick(X, "lt")) {
      // a min or max of x is order-dependent on -0 / +0: only when nothing reads it
      if (reads(ctx.kernel.body, r.name) !== reads([r], r.name)) return undefined;
    } else return undefined;
  }
  if (!amax && !bad) return undefined;
  return { form: load.form, x: load.buffer, amax, bad };
}

/** The 16-lane prefix of the block statistics loop `s`, or undefined when `s` is not that loop. */
export function statsLoop(
  ctx: LoopContext,
  s: For,
  startLocal: number,
  endLocal: number,
): Ref | undefined {
  const e = matchStats(ctx, s);
  if (!e) return undefined;
  const { m } = ctx;
  const i32 = binaryen.i32;
  const v128 = binaryen.v128;
  const amax = e.amax ? ctx.lookup(e.amax) : undefined;
  const bad = e.bad ? ctx.lookup(e.bad) : undefined;
  if ((e.amax && !amax) || (e.bad && !bad)) return undefined;
  const x = [0, 1, 2, 3].map(() => ctx.temp("v128"));
  const top = ctx.temp("v128");
  const any = ctx.temp("v128");
  const get = (l: number) => m.local.get(l, v128);
  const splat = (v: number) => splatI32(m, v);
  const amaxBits = () => m.i32.reinterpret(m.local.get(amax!.index, binaryen.f32));
  const before: Ref[] = [m.local.set(top, splat(0)), m.local.set(any, splat(0))];
  const after: Ref[] = [];
  if (amax) {
    // lanes' maxima folded: max_u of the four, then of that and amax
    const half = m.i32x4.max_u(
      get(top),
      m.i8x16.shuffle(get(top), get(top), [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7]),
    );
    const quarter = m.i32x4.max_u(
      half,
      m.i8x16.shuffle(half, half, [4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11]),
    );
    const lane = ctx.temp("i32");
    const l = () => m.local.get(lane, i32);
    after.push(
      m.local.set(lane, m.i32x4.extract_lane(quarter, 0)),
      m.local.set(
        amax.index,
        m.f32.reinterpret(m.select(m.i32.gt_u(l(), amaxBits()), l(), amaxBits())),
      ),
    );
  }
  if (bad)
    after.push(
      m.local.set(bad.index, m.i32.or(m.local.get(bad.index, i32), m.v128.any_true(get(any)))),
    );
  return loop16(ctx, s, startLocal, endLocal, e.form, {
    guard: amax ? m.i32.eqz(m.i32.shr_u(amaxBits(), m.i32.const(31))) : undefined,
    before,
    step: (at) => statsStep(ctx, e.x, at.index, x, amax ? top : undefined, bad ? any : undefined),
    after,
  });
}

/**
 * One step over X[index .. index + 15] (from `offset` bytes on), with four v128
 * temporaries `x`: `top` (when given) keeps per lane the max_u of the bits of
 * the finite |x|, `any` (when given) ORs in a mask of the non-finite ones.
 */
export function statsStep(
  ctx: LoopContext,
  X: string,
  index: number,
  x: readonly number[],
  top: number | undefined,
  any: number | undefined,
  offset = 0,
): Ref[] {
  const { m } = ctx;
  const get = (l: number) => m.local.get(l, binaryen.v128);
  const splat = (v: number) => splatI32(m, v);
  const abs = x.map((l) => m.v128.and(get(l), splat(0x7fffffff)));
  const out: Ref[] = [
    ...load16(ctx, X, index, x, offset),
    ...x.map((l, k) => m.local.set(l, abs[k])),
  ];
  for (const l of x) {
    const finite = m.i32x4.lt_u(get(l), splat(INF));
    if (top !== undefined)
      out.push(m.local.set(top, m.i32x4.max_u(get(top), m.v128.and(get(l), finite))));
    if (any !== undefined)
      out.push(m.local.set(any, m.v128.or(get(any), m.i32x4.ge_u(get(l), splat(INF)))));
  }
  return out;
}

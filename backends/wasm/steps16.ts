/**
 * What the 16-lane loops of quantize (encode16.ts: elements, stats16.ts: the
 * block statistics) share: the index form they accept, and the loop that runs
 * 16 iterations per step while a run-time guard holds, leaving the last
 * (end - start) % 16 iterations (or all of them) to the scalar loop.
 */
import type { Expr, Stmt } from "../../ir/kernel.js";
import { exprVars } from "../../ir/kernel-walk.js";
import { binaryen, type ExpressionRef as Ref } from "./binaryen.js";
import type { LoopContext } from "./vectorize.js";

export type For = Extract<Stmt, { op: "for" }>;
export const LANES = 16;

export const isVar = (e: Expr, name: string): boolean => e.op === "var" && e.name === name;

/** base + t, base + t * inner, t * inner, or t (base free of t) */
export function indexForm(e: Expr, t: string): { base?: Expr; inner?: string } | undefined {
  const stride = (x: Expr): { inner?: string } | undefined => {
    if (isVar(x, t)) return {};
    if (x.op !== "binary" || x.kind !== "mul") return undefined;
    if (isVar(x.a, t) && x.b.op === "var") return { inner: x.b.name };
    if (isVar(x.b, t) && x.a.op === "var") return { inner: x.a.name };
    return undefined;
  };
  const whole = stride(e);
  if (whole) return whole;
  if (e.op !== "binary" || e.kind !== "add") return undefined;
  const s = stride(e.b);
  return s && !exprVars(e.a).has(t) ? { base: e.a, ...s } : undefined;
}

/** `let i = <indexForm>; let x = X[i]` with X an f32 buffer: the form, X and x */
export function loadPrefix(
  ctx: LoopContext,
  s: For,
  li: Stmt | undefined,
  lx: Stmt | undefined,
): { form: { base?: Expr; inner?: string }; buffer: string; x: string } | undefined {
  if (li?.op !== "let" || lx?.op !== "let" || li.type !== "i32") return undefined;
  const form = indexForm(li.value, s.var);
  const x = lx.value;
  if (!form || x.op !== "load" || x.type !== "f32" || !isVar(x.index, li.name)) return undefined;
  if (ctx.buffer(x.buffer)?.elem !== "f32") return undefined;
  return { form, buffer: x.buffer, x: lx.name };
}

export interface Steps {
  /** the index of the step's first iteration (base + j) */
  readonly index: number;
  /** the step's first iteration */
  readonly j: number;
  /** break out of this step (after running it as scalar code, say) */
  readonly label: string;
}

/**
 * The 16-lane prefix of loop `s` over [start, end): `before` once, then `step`
 * per 16 iterations (or `width`, a power of two), then `after`; only while `inner` (when given) is 1 and
 * `guard` holds. Leaves `start` at the first iteration the scalar loop runs.
 */
export function loop16(
  ctx: LoopContext,
  s: For,
  startLocal: number,
  endLocal: number,
  form: { base?: Expr; inner?: string },
  parts: {
    guard?: Ref;
    /** iterations per step (16 unless given) */
    width?: number;
    before: Ref[];
    step: (at: Steps) => Ref[];
    after: Ref[];
  },
): Ref | undefined {
  const { m } = ctx;
  const i32 = binaryen.i32;
  const get = (l: number) => m.local.get(l, i32);
  const width = parts.width ?? LANES;
  let guard = m.i32.ge_s(m.i32.sub(get(endLocal), get(startLocal)), m.i32.const(width));
  if (form.inner) {
    const inner = ctx.lookup(form.inner);
    if (!inner) return undefined;
    guard = m.i32.and(guard, m.i32.eq(get(inner.index), m.i32.const(1)));
  }
  if (parts.guard) guard = m.i32.and(guard, parts.guard);
  const j = ctx.temp("i32");
  const vecEnd = ctx.temp("i32");
  const index = ctx.temp("i32");
  const n = ctx.label();
  const at: Steps = { index, j, label: `s16step${n}` };
  const loop = `s16loop${n}`;
  const t = ctx.declare(s.var, "i32");
  return m.block(null, [
    m.local.set(vecEnd, get(startLocal)),
    m.if(
      guard,
      m.block(null, [
        ...parts.before,
        m.local.set(
          vecEnd,
          m.i32.add(
            get(startLocal),
            m.i32.and(m.i32.sub(get(endLocal), get(startLocal)), m.i32.const(-width)),
          ),
        ),
        m.local.set(j, get(startLocal)),
        m.loop(
          loop,
          m.block(null, [
            m.block(at.label, [
              m.local.set(index, form.base ? m.i32.add(ctx.ex(form.base), get(j)) : get(j)),
              ...parts.step(at),
            ]),
            m.local.set(j, m.i32.add(get(j), m.i32.const(width))),
            m.br(loop, m.i32.lt_s(get(j), get(vecEnd))),
          ]),
        ),
        ...parts.after,
        m.local.set(t.index, m.i32.sub(get(vecEnd), m.i32.const(1))),
      ]),
    ),
    m.local.set(startLocal, get(vecEnd)),
  ]);
}

/** four f32x4 of buffer `x` (elements index .. index + 15, `offset` bytes on) into `into` */
export function load16(
  ctx: LoopContext,
  x: string,
  index: number,
  into: readonly number[],
  offset = 0,
): Ref[] {
  const { m } = ctx;
  const i32 = binaryen.i32;
  const ptr = () =>
    m.i32.add(
      m.local.get(ctx.buffer(x)!.param, i32),
      m.i32.shl(m.local.get(index, i32), m.i32.const(2)),
    );
  return into.map((l, k) => m.local.set(l, m.v128.load(offset + 16 * k, 1, ptr())));
}

/**
 * The 16-lane encode path: quantize's element loop, 16 elements per step,
 * inside the WebAssembly backend. `encodeLoop` matches the loop lowered by
 * passes/lower/kernels.ts
 *     for t { let i = base + t * inner; let x = X[i]; let v = x * mult;
 *             let m = memo[bitcast(v) >> 16]; if (m == S) {...exact...}; codes[i] = m }
 * (`mult`, the block's 2^-e or 1/scale, computed once per block outside the
 * loop) and emits its vector prefix, or refuses and leaves the loop to the
 * generic 4-lane vectorizer (vectorize.ts). One step: four f32x4 loads and
 * products (IEEE binary32, as the scalar code), one NaN test for the 16
 * lanes (a step with a NaN runs as the scalar body), the element encoder of
 * lane-encoder.ts over the 16 lanes (E2M1's key-and-swizzle narrows the four
 * key vectors first, so its swizzles run once per 16 codes), and one 16-byte
 * store. It runs while `inner == 1` (a run-time guard); the last
 * (end - start) % 16 iterations are the scalar loop's.
 *
 * qdq's element loop is the same up to the codes, then
 *     let y = T[m] * s1 (* s2); Y[i] = select(y != y, NaN, y)
 * with T a table of at most 16 f32 (E2M1, NF4 values) holding every code the
 * encoder yields, and s1, s2 uniform: the 16 code bytes index T's four byte
 * planes (one swizzle per plane that is not all zeros), a 4x4 byte transpose
 * (eight shuffles) makes four f32x4 of values, then the products in the
 * scalar order and four 16-byte stores. x and y may be one array: a step
 * reads its 16 inputs before it writes the 16 outputs.
 */
import type { Expr, Stmt } from "../../ir/kernel.js";
import { exprVars } from "../../ir/kernel-walk.js";
import { binaryen, type ExpressionRef as Ref } from "./binaryen.js";
import { emitLaneEncoder16, laneEncoder, type LaneEncoder } from "./lane-encoder.js";
import { nanLanes } from "./swizzle.js";
import { isVar, LANES, load16, loadPrefix, loop16, type For } from "./steps16.js";
import type { LoopContext } from "./vectorize.js";

export interface EncodeLoop {
  readonly form: { base?: Expr; inner?: string };
  readonly x: string;
  readonly mult: Expr;
  readonly encoder: LaneEncoder;
  /** quantize: the u8 buffer of codes */
  readonly codes?: string;
  /** qdq: the f32 output, the value table and the uniform factors, in order */
  readonly qdq?: {
    readonly y: string;
    readonly table: readonly number[];
    readonly factors: readonly Expr[];
  };
}

/** the largest code the encoder yields */
function maxCode(e: LaneEncoder): number {
  if (e.kind === "key") return Math.max(...e.codes.map((c) => c | e.signXor));
  const top = Math.max(e.maxCode, e.negMax, e.infCode, e.negInf);
  return "xor" in e.sign ? top | e.sign.xor : e.sign.mask;
}

/** `let y = T[m] * s1 (* s2 ...)` and `Y[i] = select(y != y, NaN, y)`: Y, T and the factors */
function qdqTail(
  ctx: LoopContext,
  ly: Stmt,
  st: Stmt,
  i: string,
  code: string,
  locals: Set<string>,
  top: number,
): EncodeLoop["qdq"] {
  if (ly.op !== "let" || ly.type !== "f32" || st.op !== "store" || !isVar(st.index, i))
    return undefined;
  const factors: Expr[] = [];
  let e = ly.value;
  while (e.op === "binary" && e.kind === "mul") {
    factors.unshift(e.b);
    e = e.a;
  }
  if (e.op !== "table" || !isVar(e.index, code) || !factors.length) return undefined;
  if (factors.some((f) => [...exprVars(f)].some((n) => locals.has(n) || n === ly.name)))
    return undefined;
  const t = ctx.table(e.table)?.table;
  if (!t || t.type !== "f32" || t.values.length > 16 || top >= t.values.length) return undefined;
  const y: Expr = { op: "var", name: ly.name, type: "f32" };
  const want: Expr = {
    op: "select",
    cond: { op: "binary", kind: "ne", a: y, b: y, type: "bool" },
    a: { op: "const", type: "f32", value: NaN },
    b: y,
    type: "f32",
  };
  if (JSON.stringify(st.value) !== JSON.stringify(want) || ctx.buffer(st.buffer)?.elem !== "f32")
    return undefined;
  return { y: st.buffer, table: t.values, factors };
}

/** quantize's or qdq's element loop `s`, or undefined */
export function matchEncode(ctx: LoopContext, s: For): EncodeLoop | undefined {
  const body = s.body.filter((x) => x.op !== "comment");
  if (body.length !== 6 && body.length !== 7) return undefined;
  const [li, lx, lv, lm, cond, ...tail] = body;
  const load = loadPrefix(ctx, s, li, lx);
  if (!load || lv.op !== "let" || li.op !== "let" || lm.op !== "let") return undefined;
  const v = lv.value;
  if (v.op !== "binary" || v.kind !== "mul" || v.type !== "f32") return undefined;
  const mult = isVar(v.a, load.x) ? v.b : isVar(v.b, load.x) ? v.a : undefined;
  const locals = new Set([s.var, li.name, load.x, lv.name, lm.name]);
  if (!mult || [...exprVars(mult)].some((n) => locals.has(n))) return undefined;
  const encoder = laneEncoder(ctx.kernel, lm, cond);
  if (typeof encoder === "string" || encoder.input !== lv.name) return undefined;
  const base = { form: load.form, x: load.buffer, mult, encoder };
  if (tail.length === 2) {
    const qdq = qdqTail(ctx, tail[0], tail[1], li.name, lm.name, locals, maxCode(encoder));
    return qdq ? { ...base, qdq } : undefined;
  }
  const st = tail[0];
  if (st.op !== "store" || !isVar(st.index, li.name) || !isVar(st.value, lm.name)) return undefined;
  if (ctx.buffer(st.buffer)?.elem !== "u8") return undefined;
  return { ...base, codes: st.buffer };
}

/** four f32x4 (lanes 0-3 .. 12-15) of `table[code byte]`, for 16 code bytes */
function decode16(ctx: LoopContext, table: readonly number[], codes: () => Ref): Ref[] {
  const { m } = ctx;
  const bytes = new Uint8Array(64);
  const view = new DataView(bytes.buffer);
  table.forEach((v, j) => view.setFloat32(j * 4, v, true));
  const planes = [0, 1, 2, 3].map((b) => {
    const plane = Array.from({ length: 16 }, (_, j) => bytes[j * 4 + b]);
    return () =>
      plane.every((x) => x === 0)
        ? m.v128.const(new Array(16).fill(0))
        : m.i8x16.swizzle(m.v128.const(plane), codes());
  });
  const pl = planes.map(() => ctx.temp("v128"));
  const get = (l: number) => m.local.get(l, binaryen.v128);
  const zip = (a: Ref, b: Ref, hi: boolean) =>
    m.i8x16.shuffle(
      a,
      b,
      Array.from({ length: 16 }, (_, k) => (k % 2 ? 16 : 0) + (hi ? 8 : 0) + (k >> 1)),
    );
  const pairs = (a: number, b: number, hi: boolean) => zip(get(a), get(b), hi);
  const low = [ctx.temp("v128"), ctx.temp("v128")];
  const high = [ctx.temp("v128"), ctx.temp("v128")];
  // (b0 b1) pairs and (b2 b3) pairs of elements 0-7 and 8-15, then 16-bit zips of those
  const quad = (a: number, b: number, hi: boolean) =>
    m.i8x16.shuffle(
      get(a),
      get(b),
      Array.from(
        { length: 16 },
        (_, k) => (k % 4 < 2 ? 0 : 16) + (hi ? 8 : 0) + (k >> 2) * 2 + (k % 2),
      ),
    );
  return [
    m.block(null, [
      ...pl.map((l, b) => m.local.set(l, planes[b]())),
      m.local.set(low[0], pairs(pl[0], pl[1], false)),
      m.local.set(low[1], pairs(pl[2], pl[3], false)),
      m.local.set(high[0], pairs(pl[0], pl[1], true)),
      m.local.set(high[1], pairs(pl[2], pl[3], true)),
    ]),
    quad(low[0], low[1], false),
    quad(low[0], low[1], true),
    quad(high[0], high[1], false),
    quad(high[0], high[1], true),
  ];
}

/** The 16-lane prefix of quantize's element loop `s`, or undefined when `s` is not that loop. */
export function encodeLoop(
  ctx: LoopContext,
  s: For,
  startLocal: number,
  endLocal: number,
): Ref | undefined {
  const e = matchEncode(ctx, s);
  if (!e) return undefined;
  const { m } = ctx;
  const step = encodeStep(ctx, e);
  return loop16(ctx, s, startLocal, endLocal, e.form, {
    before: step.before(m.f32x4.splat(ctx.ex(e.mult))),
    step: (at) => {
      const j = () => m.local.get(at.j, binaryen.i32);
      return [
        ...step.products(at.index),
        // a NaN product takes the exact path: the step runs as the scalar body
        m.if(
          m.v128.any_true(step.nan()),
          m.block(null, [
            ctx.scalarLoop(s, j(), m.i32.add(j(), m.i32.const(LANES))),
            m.br(at.label),
          ]),
        ),
        ...step.codes(at.index),
      ];
    },
    after: [],
  });
}

/**
 * The parts of one 16-element step of `e`: `before` sets the multiplier (an
 * f32x4) and qdq's factors; `products` loads X[index + 16 * k ..]
 * (`offset` = 64 * k bytes) and multiplies; `nan` is the mask of NaN
 * products (the encoder's output is undefined there); `codes` encodes and
 * stores the 16 codes, or qdq's 16 values.
 */
export function encodeStep(ctx: LoopContext, e: EncodeLoop) {
  const { m } = ctx;
  const i32 = binaryen.i32;
  const v128 = binaryen.v128;
  const mult = ctx.temp("v128");
  const x = [0, 1, 2, 3].map(() => ctx.temp("v128"));
  const get = (l: number) => m.local.get(l, v128);
  const factors = (e.qdq?.factors ?? []).map(() => ctx.temp("v128"));
  const codes = ctx.temp("v128");
  const at = (buffer: string, index: number, shift: number) =>
    m.i32.add(
      m.local.get(ctx.buffer(buffer)!.param, i32),
      m.i32.shl(m.local.get(index, i32), m.i32.const(shift)),
    );
  return {
    mult,
    /** the multiplier and qdq's factors (f32x4; by default the factors' scalar values, splat) */
    before: (multiplier: Ref, factorVectors?: readonly Ref[]): Ref[] => [
      m.local.set(mult, multiplier),
      ...factors.map((l, k) =>
        m.local.set(l, factorVectors?.[k] ?? m.f32x4.splat(ctx.ex(e.qdq!.factors[k]))),
      ),
    ],
    products: (index: number, offset = 0): Ref[] => [
      ...load16(ctx, e.x, index, x, offset),
      ...x.map((l) => m.local.set(l, m.f32x4.mul(get(l), get(mult)))),
    ],
    nan: (): Ref => x.map((l) => nanLanes(m, get(l))).reduce((a, b) => m.v128.or(a, b)),
    codes: (index: number, offset = 0): Ref[] => {
      const encode = emitLaneEncoder16(
        m,
        x.map((l) => () => get(l)),
        e.encoder,
        () => ctx.temp("v128"),
      );
      const set = m.local.set(codes, encode);
      if (!e.qdq) return [set, m.v128.store(offset / 4, 1, at(e.codes!, index, 0), get(codes))];
      const [setup, ...values] = decode16(ctx, e.qdq.table, () => get(codes));
      const y = values.map((v) => {
        let p = v;
        for (const f of factors) p = m.f32x4.mul(p, get(f));
        const t = ctx.temp("v128");
        const nanY = m.f32x4.ne(get(t), get(t));
        return [m.local.set(t, p), m.v128.bitselect(m.f32x4.splat(m.f32.const(NaN)), get(t), nanY)];
      });
      return [
        set,
        setup,
        ...y.map(([sety, value], q) =>
          m.block(null, [sety, m.v128.store(offset + 16 * q, 1, at(e.qdq!.y, index, 2), value)]),
        ),
      ];
    },
  };
}

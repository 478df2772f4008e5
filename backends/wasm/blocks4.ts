/**
 * Four blocks per step: quantize's and qdq's block loop, inside the
 * WebAssembly backend. `blockLoop` matches the loop lowered by
 * passes/lower/kernels.ts
 *     for j { for ii in 0..inner {
 *       let ...; let L = min(K, ...); let ...; let amax = 0; let bad = false;
 *       for t in 0..L { ...statistics (stats16.ts)... }
 *       let ...scale rule, code and multiplier...; scales[blk] = code;
 *       for t in 0..L { ...elements (encode16.ts)... } } }
 * and runs it four blocks (j, j+1, j+2, j+3) at a time while `inner` is 1:
 * the statistics of each block 16 elements per step (a max_u of the |x|
 * bits: below +Inf exactly when every element is finite, and then the amax),
 * the four amax folded into one f32x4 (lane b: block b), then the statements
 * between the two loops (the amax -> scale rule, the scale code, the
 * multiplier, the scale store) over the four blocks in vector lanes, then
 * each block's elements 16 per step as encode16.ts does, with its multiplier
 * taken from its lane. The scale rule is either the model scale-fit.ts fits
 * to the kernel's own lets at compile time (E8M0 floor rules), or those lets
 * themselves as straight-line code by the 4-lane vectorizer (vectorize.ts:
 * lane i of each op is the scalar op of block j + i), less the float encoder
 * among them when it is a rounding grid (scale-encoder.ts: NVFP4's E4M3 code
 * of amax * s_enc / 6, a dozen vector ops instead of 17 lets in lanes).
 *
 * A group of four runs as the scalar body instead when one of the blocks is
 * not a whole block of K (the ragged last one), holds a NaN or an infinity,
 * or gets a multiplier that is not finite: then a product could be NaN,
 * which the element encoder leaves undefined. With finite elements and a
 * finite multiplier no product is NaN, so the vector path needs no NaN test.
 * Every check comes before the group's first store.
 */
import type { Expr, Stmt } from "../../ir/kernel.js";
import { children, sameExpr, walk, walkExprs } from "../../ir/kernel-walk.js";
import { binaryen, splatI32, type ExpressionRef as Ref, type Module } from "./binaryen.js";
import { encodeStep, matchEncode, type EncodeLoop } from "./encode16.js";
import { matchStats, type StatsLoop } from "./stats16.js";
import { LANES, load16, loop16, type For } from "./steps16.js";
import { emitPieces, fitScaleRule, inRun, type ScaleFit } from "./scale-fit.js";
import { LoopVectorizer, type LoopContext } from "./vectorize.js";
import { scaleEncoder, type ScaleEncoder } from "./scale-encoder.js";
import { emitRoundEncoder } from "./round-encoder.js";

const BLOCKS = 4;
const INF = 0x7f800000;
/** the largest block unrolled (K / 16 steps per block) */
const MAX_BLOCK = 256;

interface BlockLoop {
  readonly inner: For;
  /** statements before the statistics loop (less the accumulators' lets), and between the loops */
  readonly pre: readonly Stmt[];
  readonly lets: readonly Stmt[];
  readonly stores: readonly Stmt[];
  readonly length: Expr;
  readonly K: number;
  readonly stats: StatsLoop & { readonly amax: string; readonly init: number };
  readonly encode: EncodeLoop;
  readonly base: Expr;
  /** the scale rule as a fitted model (scale-fit.ts), or why the chain runs in lanes */
  readonly fit: ScaleFit | string;
  /** in lanes: the float encoder among the chain's lets as a grid (scale-encoder.ts), or why not */
  readonly encoder?: ScaleEncoder | string;
}

const innerVar = (name: string): Expr => ({ op: "var", name, type: "i32" });
const isConst0 = (e: Expr) => e.op === "const" && e.value === 0;

/** the codes of the f32x4 `bits` (no NaN lanes) by the scale's encoder */
function scaleCode(
  m: Module,
  bits: () => Ref,
  e: ScaleEncoder["encoder"],
  temp: () => number,
): Ref {
  if (!("identity" in e)) return emitRoundEncoder(m, bits, e, temp);
  // +-Inf saturates to +-max: the sign bit or'ed into max's bits
  const inf = m.i32x4.eq(m.v128.and(bits(), splatI32(m, 0x7fffffff)), splatI32(m, INF));
  const max = m.v128.or(m.v128.and(bits(), splatI32(m, 0x80000000)), splatI32(m, 0x7f7fffff));
  return m.v128.bitselect(max, bits(), inf);
}

/** i32 variables set once, by a let of a constant, anywhere in the kernel */
function constants(body: readonly Stmt[]): Map<string, number> {
  const out = new Map<string, number>();
  const seen = new Set<string>();
  walk(body, (x) => {
    if (x.op !== "let" && x.op !== "assign") return;
    if (seen.has(x.name)) out.delete(x.name);
    else if (x.op === "let" && x.type === "i32" && x.value.op === "const")
      out.set(x.name, Number(x.value.value));
    seen.add(x.name);
  });
  return out;
}

function match(ctx: LoopContext, s: For): BlockLoop | undefined {
  const outer = s.body.filter((x) => x.op !== "comment");
  const inner = outer[0];
  if (outer.length !== 1 || inner.op !== "for" || !isConst0(inner.start)) return undefined;
  const body = inner.body.filter((x) => x.op !== "comment");
  const loops = body.flatMap((x, i) => (x.op === "for" ? [i] : []));
  if (loops.length !== 2 || loops[1] !== body.length - 1) return undefined;
  const sf = body[loops[0]] as For;
  const ef = body[loops[1]] as For;
  const st = matchStats(ctx, sf);
  const enc = matchEncode(ctx, ef);
  if (!st?.amax || !enc || enc.x !== st.x || !st.form.base || !enc.form.base) return undefined;
  if (!sameExpr(st.form.base, enc.form.base) || st.form.inner !== enc.form.inner) return undefined;
  if (!isConst0(sf.start) || !isConst0(ef.start) || !sameExpr(sf.end, ef.end)) return undefined;
  if (sf.end.op !== "var") return undefined;
  // the accumulators start as constants: amax a non-negative float, bad false
  const accs = new Map<string, number>();
  const pre: Stmt[] = [];
  for (const x of body.slice(0, loops[0])) {
    if (x.op === "let" && (x.name === st.amax || x.name === st.bad)) {
      if (x.value.op !== "const" || accs.has(x.name)) return undefined;
      accs.set(x.name, Number(x.value.value));
    } else pre.push(x);
  }
  const init = accs.get(st.amax);
  if (init === undefined || !(init >= 0) || Object.is(init, -0)) return undefined;
  if (st.bad && accs.get(st.bad) !== 0) return undefined;
  // the block length: min(K, ...) with K a constant multiple of 16
  const lenLet = pre.find((x) => x.op === "let" && x.name === (sf.end as { name: string }).name);
  if (lenLet?.op !== "let" || lenLet.value.op !== "binary" || lenLet.value.kind !== "min")
    return undefined;
  const known = constants(ctx.kernel.body);
  const constOf = (e: Expr) =>
    e.op === "const" ? Number(e.value) : e.op === "var" ? known.get(e.name) : undefined;
  const K = constOf(lenLet.value.a) ?? constOf(lenLet.value.b);
  if (K === undefined || K % LANES !== 0 || K < LANES || K > MAX_BLOCK) return undefined;
  // between the loops: lets, then stores
  const mid = body.slice(loops[0] + 1, loops[1]);
  const firstStore = mid.findIndex((x) => x.op === "store");
  const lets = firstStore < 0 ? mid : mid.slice(0, firstStore);
  const stores = firstStore < 0 ? [] : mid.slice(firstStore);
  if (lets.some((x) => x.op !== "let") || stores.some((x) => x.op !== "store")) return undefined;
  // the accumulators are the loop's alone (no other statement sets them)
  if ([...pre, ...mid].some((x) => (x.op === "let" || x.op === "assign") && accs.has(x.name)))
    return undefined;
  // what the rest reads of the chain: its model when there is one
  const defined = new Set(lets.map((x) => (x as { name: string }).name));
  const read = new Set<string>();
  const vars = (e: Expr): void => {
    if (e.op === "var" && defined.has(e.name)) read.add(e.name);
    children(e).forEach(vars);
  };
  walkExprs([...stores, ef], vars);
  const fit = fitScaleRule(ctx.kernel, lets, st.amax, st.bad, [...read], known);
  const encoder =
    typeof fit === "string" ? scaleEncoder(ctx.kernel, lets, [...stores, ef]) : undefined;
  return {
    fit,
    encoder,
    inner,
    pre,
    lets,
    stores,
    length: sf.end,
    K,
    stats: { ...st, amax: st.amax, init },
    encode: enc,
    base: st.form.base,
  };
}

/**
 * Buffers of one element type that could be one array, one of them written:
 * apart (the group reorders the blocks' stores), except the elements' input
 * and qdq's output, which the scalar code too reads before it writes.
 */
function aliasGuards(ctx: LoopContext, b: BlockLoop): Ref[] {
  const written = new Set<string>();
  const used = new Set<string>();
  walk(b.inner.body, (x) => {
    if (x.op === "store") written.add(x.buffer);
  });
  const loads = (e: Expr): void => {
    if (e.op === "load") used.add(e.buffer);
    children(e).forEach(loads);
  };
  walkExprs(b.inner.body, loads);
  const inPlace = (p: string, q: string) =>
    b.encode.qdq !== undefined && [p, q].includes(b.encode.x) && [p, q].includes(b.encode.qdq.y);
  const ptr = (name: string) => ctx.m.local.get(ctx.buffer(name)!.param, binaryen.i32);
  const out: Ref[] = [];
  const all = [...new Set([...written, ...used])];
  for (const w of written)
    for (const o of all)
      if (o !== w && (!written.has(o) || w < o) && ctx.buffer(o)!.elem === ctx.buffer(w)!.elem)
        if (!inPlace(w, o)) out.push(ctx.m.i32.ne(ptr(w), ptr(o)));
  return out;
}

/** The four-blocks-per-step prefix of block loop `s`, or undefined when `s` is not that loop. */
export function blockLoop(
  ctx: LoopContext,
  s: For,
  startLocal: number,
  endLocal: number,
): Ref | undefined {
  const b = match(ctx, s);
  if (!b) return undefined;
  const { m } = ctx;
  const i32 = binaryen.i32;
  const v128 = binaryen.v128;
  const get = (l: number) => m.local.get(l, v128);
  const geti = (l: number) => m.local.get(l, i32);
  const splat = (v: number) => splatI32(m, v);
  const amax = ctx.temp("v128");
  const bad = ctx.temp("v128");
  const given = new Map([[b.stats.amax, amax]]);
  if (b.stats.bad) given.set(b.stats.bad, bad);
  // with a model, the chain's outputs are given too and its lets are not run
  const fit = typeof b.fit === "string" ? undefined : b.fit;
  // without one, the chain's float encoder is a grid in lanes when it fits one; its code is given
  const se = fit || typeof b.encoder !== "object" ? undefined : b.encoder;
  const code = se ? ctx.temp("v128") : -1;
  if (se) given.set(se.output, code);
  const chain = se ? [...b.lets.slice(0, se.from), ...b.lets.slice(se.to + 1)] : b.lets;
  const outputs = (fit?.outputs ?? []).map((o) => {
    const l = ctx.temp("v128");
    given.set(o.name, l);
    return { local: l, pieces: o.pieces };
  });
  const synthetic: For = { ...s, body: [...b.pre, ...(fit ? [] : chain), ...b.stores] };
  const vz = new LoopVectorizer(ctx, synthetic, undefined, { loop: s, given });
  const ii = ctx.declare(b.inner.var, "i32");
  const tops = Array.from({ length: BLOCKS }, () => ctx.temp("v128"));
  const x = [0, 1, 2, 3].map(() => ctx.temp("v128"));
  const bases = tops.map(() => ctx.temp("i32"));
  const mults = ctx.temp("v128");
  const ratio = ctx.temp("v128");
  const temp = () => ctx.temp("v128");
  const steps = b.K / LANES;
  const enc = encodeStep(ctx, b.encode);
  const lanes = (l: readonly number[]) =>
    l.flatMap((i) => [4 * i, 4 * i + 1, 4 * i + 2, 4 * i + 3]);
  const shuffle = (p: Ref, q: Ref, l: number[]) => m.i8x16.shuffle(p, q, lanes(l));
  const all = (mask: Ref) => m.i8x16.all_true(mask);
  const i32x4 = (v: number[]) => m.v128.const(Array.from(new Uint8Array(new Int32Array(v).buffer)));
  return loop16(
    ctx,
    s,
    startLocal,
    endLocal,
    {},
    {
      width: BLOCKS,
      guard: [
        ...(b.encode.form.inner
          ? [m.i32.eq(ctx.ex(innerVar(b.encode.form.inner)), m.i32.const(1))]
          : []),
        ...aliasGuards(ctx, b),
      ].reduce((p, q) => m.i32.and(p, q), m.i32.eq(ctx.ex(b.inner.end), m.i32.const(1))),
      before: [],
      step: (at) => {
        const scalar = `${at.label}.scalar`;
        const unless = (ok: Ref) => m.br(scalar, m.i32.eqz(ok));
        const pre = vz.straight(b.pre, at.j);
        // block b's elements are X[base_b ..+ K], four whole blocks one after another
        const base = () => vz.lanesOf(b.base);
        const apart = m.i32x4.add(
          m.i32x4.splat(m.i32x4.extract_lane(base(), 0 as unknown as Ref)),
          i32x4([0, b.K, 2 * b.K, 3 * b.K]),
        );
        const checks = [
          unless(all(m.i32x4.eq(vz.lanesOf(b.length), splat(b.K)))),
          unless(all(m.i32x4.eq(base(), apart))),
        ];
        const stats = tops.flatMap((top, k) => [
          m.local.set(bases[k], vz.laneOf(b.base, k)),
          m.local.set(top, splat(0)),
          // max_u of the |x| bits: below +Inf exactly when all are finite, and then their amax
          ...Array.from({ length: steps }, (_, q) => [
            ...load16(ctx, b.stats.x, bases[k], x, 64 * q),
            ...x.map((l) =>
              m.local.set(top, m.i32x4.max_u(get(top), m.v128.and(get(l), splat(0x7fffffff)))),
            ),
          ]).flat(),
        ]);
        // lane k of amax: the max_u over block k's lanes (a transpose of maxima)
        const half = (p: number, q: number) =>
          m.i32x4.max_u(
            shuffle(get(p), get(q), [0, 1, 4, 5]),
            shuffle(get(p), get(q), [2, 3, 6, 7]),
          );
        const t01 = ctx.temp("v128");
        const t23 = ctx.temp("v128");
        let folded = m.i32x4.max_u(
          shuffle(get(t01), get(t23), [0, 2, 4, 6]),
          shuffle(get(t01), get(t23), [1, 3, 5, 7]),
        );
        if (b.stats.init !== 0)
          folded = m.i32x4.max_u(folded, m.f32x4.splat(m.f32.const(b.stats.init)));
        const finite = (v: Ref) => m.i32x4.lt_u(m.v128.and(v, splat(0x7fffffff)), splat(INF));
        const binade = ctx.temp("v128");
        const e = () => get(binade);
        const lets = fit
          ? [
              m.local.set(binade, m.i32x4.shr_u(get(amax), m.i32.const(23))),
              unless(all(inRun(m, fit, e))),
              ...outputs.map((o) => m.local.set(o.local, emitPieces(m, o.pieces, e))),
            ]
          : se
            ? [
                ...vz.straight(b.lets.slice(0, se.from), at.j),
                m.block(`${at.label}.lanes.encoder`, [
                  m.local.set(ratio, vz.lanesOf({ op: "var", name: se.input, type: "f32" })),
                  // a NaN has no grid code: the scalar code takes the group
                  unless(all(m.f32x4.eq(get(ratio), get(ratio)))),
                  m.local.set(code, scaleCode(m, () => get(ratio), se.encoder, temp)),
                ]),
                ...vz.straight(b.lets.slice(se.to + 1), at.j),
              ]
            : vz.straight(b.lets, at.j);
        // qdq's factors (the block's scale value) per block, like the multiplier
        const factors = (b.encode.qdq?.factors ?? []).map(() => ctx.temp("v128"));
        const lane = (v: number, k: number) => shuffle(get(v), get(v), [k, k, k, k]);
        const codes = tops.flatMap((_, k) => [
          ...enc.before(
            lane(mults, k),
            factors.map((f) => lane(f, k)),
          ),
          ...Array.from({ length: steps }, (_, q) => [
            ...enc.products(bases[k], 64 * q),
            ...enc.codes(bases[k], 64 * q),
          ]).flat(),
        ]);
        return [
          m.block(scalar, [
            m.local.set(ii.index, m.i32.const(0)),
            ...pre,
            ...checks,
            ...stats,
            m.local.set(t01, half(tops[0], tops[1])),
            m.local.set(t23, half(tops[2], tops[3])),
            m.local.set(amax, folded),
            unless(all(m.i32x4.lt_u(get(amax), splat(INF)))),
            m.local.set(bad, splat(0)),
            m.block(`${at.label}.${fit ? "model" : "lanes"}`, lets),
            m.local.set(mults, vz.lanesOf(b.encode.mult)),
            unless(all(finite(get(mults)))),
            ...factors.map((f, k) => m.local.set(f, vz.lanesOf(b.encode.qdq!.factors[k]))),
            ...vz.straight(b.stores, at.j),
            ...codes,
            m.br(at.label),
          ]),
          ctx.scalarLoop(s, geti(at.j), m.i32.add(geti(at.j), m.i32.const(BLOCKS))),
        ];
      },
      after: [],
    },
  );
}

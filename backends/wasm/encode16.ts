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
 */
import type { Expr } from "../../ir/kernel.js";
import { exprVars } from "../../ir/kernel-walk.js";
import { binaryen, type ExpressionRef as Ref } from "./binaryen.js";
import { emitLaneEncoder16, laneEncoder, type LaneEncoder } from "./lane-encoder.js";
import { nanLanes } from "./swizzle.js";
import { isVar, LANES, load16, loadPrefix, loop16, type For } from "./steps16.js";
import type { LoopContext } from "./vectorize.js";

interface EncodeLoop {
  readonly form: { base?: Expr; inner?: string };
  readonly x: string;
  readonly mult: Expr;
  readonly codes: string;
  readonly encoder: LaneEncoder;
}

function match(ctx: LoopContext, s: For): EncodeLoop | undefined {
  const body = s.body.filter((x) => x.op !== "comment");
  if (body.length !== 6) return undefined;
  const [li, lx, lv, lm, cond, st] = body;
  const load = loadPrefix(ctx, s, li, lx);
  if (!load || lv.op !== "let" || st.op !== "store" || li.op !== "let") return undefined;
  const v = lv.value;
  if (v.op !== "binary" || v.kind !== "mul" || v.type !== "f32") return undefined;
  const mult = isVar(v.a, load.x) ? v.b : isVar(v.b, load.x) ? v.a : undefined;
  const locals = new Set([s.var, li.name, load.x, lv.name]);
  if (!mult || [...exprVars(mult)].some((n) => locals.has(n))) return undefined;
  const encoder = laneEncoder(ctx.kernel, lm, cond);
  if (typeof encoder === "string" || encoder.input !== lv.name) return undefined;
  if (lm.op !== "let" || !isVar(st.index, li.name) || !isVar(st.value, lm.name)) return undefined;
  if (ctx.buffer(st.buffer)?.elem !== "u8") return undefined;
  return { form: load.form, x: load.buffer, mult, codes: st.buffer, encoder };
}

/** The 16-lane prefix of quantize's element loop `s`, or undefined when `s` is not that loop. */
export function encodeLoop(
  ctx: LoopContext,
  s: For,
  startLocal: number,
  endLocal: number,
): Ref | undefined {
  const e = match(ctx, s);
  if (!e) return undefined;
  const { m } = ctx;
  const i32 = binaryen.i32;
  const v128 = binaryen.v128;
  const mult = ctx.temp("v128");
  const x = [0, 1, 2, 3].map(() => ctx.temp("v128"));
  const get = (l: number) => m.local.get(l, v128);
  return loop16(ctx, s, startLocal, endLocal, e.form, {
    before: [m.local.set(mult, m.f32x4.splat(ctx.ex(e.mult)))],
    step: (at) => {
      const j = () => m.local.get(at.j, i32);
      const nan = x.map((l) => nanLanes(m, get(l))).reduce((a, b) => m.v128.or(a, b));
      const codes = emitLaneEncoder16(
        m,
        x.map((l) => () => get(l)),
        e.encoder,
        () => ctx.temp("v128"),
      );
      const out = m.i32.add(
        m.local.get(ctx.buffer(e.codes)!.param, i32),
        m.local.get(at.index, i32),
      );
      return [
        ...load16(ctx, e.x, at.index, x),
        ...x.map((l) => m.local.set(l, m.f32x4.mul(get(l), get(mult)))),
        m.if(
          m.v128.any_true(nan),
          m.block(null, [
            ctx.scalarLoop(s, j(), m.i32.add(j(), m.i32.const(LANES))),
            m.br(at.label),
          ]),
        ),
        m.v128.store(0, 1, out, codes),
      ];
    },
    after: [],
  });
}

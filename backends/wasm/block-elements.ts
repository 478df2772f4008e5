/**
 * Dequantize's block loop as one element loop, for the 16-lane decode path
 * (decode16.ts). The lowering (passes/lower/kernels.ts) emits
 *     for j in 0..nb { for ii in 0..inner {
 *       let ...; let blen = min(bsize, n - j * bsize); let ...;
 *       for t in 0..blen { ...; store } } }
 * With `inner` 1 and bsize a multiple of 16 that is, element for element,
 *     for k in 0..n { let j = k / bsize; let ii = 0; let ...; let t = k - j * bsize; ... }
 * where every 16-element step lies in one block, so the block's lets are
 * uniform in it. Run that way, a short block (NVFP4's 16, MXFP4's 32) no
 * longer pays a loop set-up and the vector guards per block. The prefix
 * stops at the last whole step (or at a step decode16 leaves, a code past a
 * table) and hands the scalar block loop the block that step is in: that block
 * is then written again from its start, which gives the same bytes, as an
 * element loop that only stores does.
 */
import { K, type Expr, type Stmt } from "../../ir/kernel.js";
import { exprVars, sameExpr, walk, walkExprs } from "../../ir/kernel-walk.js";
import { binaryen, type ExpressionRef as Ref } from "./binaryen.js";
import type { LoopContext } from "./vectorize.js";

type For = Extract<Stmt, { op: "for" }>;

/** The element loop of a block loop, with what its prefix needs. */
export interface BlockElements {
  /** `for k in 0..n { ... }`, k named FLAT_VAR */
  readonly loop: For;
  readonly bsize: Expr;
  readonly n: Expr;
  /** the inner (ii) loop's extent, which must be 1 at run time */
  readonly inner: Expr;
}

const FLAT_VAR = "#flat.k";
const isZero = (e: Expr) => e.op === "const" && e.value === 0;
const isVar = (e: Expr, name: string) => e.op === "var" && e.name === name;

/** `s` as one element loop, or undefined when it is not dequantize's block loop. */
export function blockElements(s: For): BlockElements | undefined {
  const body = s.body.filter((x) => x.op !== "comment");
  const ii = body[0];
  if (!isZero(s.start) || body.length !== 1 || ii.op !== "for" || !isZero(ii.start)) return;
  const inside = ii.body.filter((x) => x.op !== "comment");
  const elements = inside.at(-1);
  const lets = inside.slice(0, -1);
  if (elements?.op !== "for" || !isZero(elements.start) || elements.end.op !== "var") return;
  if (!lets.every((x) => x.op === "let")) return;
  const blenName = elements.end.name;
  const blen = lets.find((x) => x.op === "let" && x.name === blenName);
  const v = blen?.op === "let" ? blen.value : undefined;
  // min(bsize, n - j * bsize)
  if (v?.op !== "binary" || v.kind !== "min") return;
  const [bsize, rest] = [v.a, v.b];
  if (rest.op !== "binary" || rest.kind !== "sub") return;
  const jb = rest.b;
  if (jb.op !== "binary" || jb.kind !== "mul" || !isVar(jb.a, s.var) || !sameExpr(jb.b, bsize))
    return;
  const n = rest.a;
  // bsize, n and inner are read before the loop: none may be declared in it
  const declared = new Set([s.var]);
  walk([s], (x) => {
    if (x.op === "let" || x.op === "assign") declared.add(x.name);
    if (x.op === "for") declared.add(x.var);
  });
  for (const e of [bsize, n, ii.end])
    for (const name of exprVars(e)) if (declared.has(name)) return;
  // blen's let is dropped: nothing else may read it
  const kept = [...lets.filter((x) => x !== blen), ...elements.body];
  let readsBlen = false;
  walkExprs(kept, (e) => {
    readsBlen ||= exprVars(e).has(blenName);
  });
  if (readsBlen) return;
  const k = K.v(FLAT_VAR, "i32");
  const j = K.v(s.var, "i32");
  const loop: For = {
    op: "for",
    var: FLAT_VAR,
    start: K.i32(0),
    end: n,
    body: [
      K.let(s.var, K.bin("div", k, bsize)),
      K.let(ii.var, K.i32(0)),
      ...kept.slice(0, lets.length - 1),
      K.let(elements.var, K.bin("sub", k, K.bin("mul", j, bsize))),
      ...elements.body,
    ],
  };
  return { loop, bsize, n, inner: ii.end };
}

/**
 * The prefix of block loop `s` (its counter local `startLocal`, which starts at 0): the
 * element loop's 16-lane steps from `steps` (decode16's emit over [k, n) locals), run
 * only when inner is 1; then the block loop resumes at the block of the first element
 * not done.
 */
export function blockElementsPrefix(
  ctx: LoopContext,
  b: BlockElements,
  startLocal: number,
  steps: (kStart: number, kEnd: number) => Ref,
): Ref {
  const { m } = ctx;
  const i32 = binaryen.i32;
  const k = ctx.temp("i32");
  const end = ctx.temp("i32");
  const body = steps(k, end);
  return m.block(null, [
    m.local.set(k, m.i32.const(0)),
    m.if(
      m.i32.eq(ctx.ex(b.inner), m.i32.const(1)),
      m.block(null, [m.local.set(end, ctx.ex(b.n)), body]),
    ),
    // k > 0 only after a step, which ran only with bsize a positive multiple of 16
    m.if(
      m.i32.gt_s(m.local.get(k, i32), m.i32.const(0)),
      m.local.set(startLocal, m.i32.div_s(m.local.get(k, i32), ctx.ex(b.bsize))),
    ),
  ]);
}

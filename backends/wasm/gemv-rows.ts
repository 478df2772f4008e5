/**
 * Two GEMV rows per step of the 16-lane decode path (decode16.ts): the row
 * loop of lowered GEMV (passes/lower/gemv.ts)
 *     for n { let acc_0..15 = 0; for kb { 16 lane bodies }; fold; store y[n] }
 * runs rows n and n + 1 together: each chunk loads x once for both rows, and
 * each row keeps its own four f32x4 accumulators, so every row's sum has the
 * declared order (16 lanes in element order, then the fixed tree). After the
 * full chunks, each row finishes as the scalar code: its accumulators are
 * written back, the chunk loop goes on from the first chunk not done (the
 * partial last chunk, or a chunk with a code past the table), then the fold
 * and the store. Rows only read codes, scales and x and write y[n], so the
 * order of rows does not matter, which a run-time guard checks for aliasing
 * (y must not be one of the loaded f32 buffers). Anything else is refused and
 * the row loop stays as it was (its chunk loop still takes decode16's path).
 */
import type { Expr, Stmt } from "../../ir/kernel.js";
import { children, walk } from "../../ir/kernel-walk.js";
import { binaryen, type ExpressionRef as Ref } from "./binaryen.js";
import type { LoopContext } from "./vectorize.js";
import { Decode16, dryRun, lanesOf, refuse, Refuse } from "./decode16.js";

type For = Extract<Stmt, { op: "for" }>;
const LANES = 16;
const ROWS = 2;
/** the local that carries the first chunk the scalar code still has to run */
const RESUME = "#d16.kb";

/** The vector prefix of a GEMV row loop, two rows per step, or undefined. */
export function gemvRows(
  ctx: LoopContext,
  s: For,
  startLocal: number,
  endLocal: number,
): Ref | undefined {
  try {
    const shape = rowShape(s);
    if (!shape) return undefined;
    const dry = dryRun(ctx);
    aliasGuards(dry, shape.rest, shape.lanes.template);
    new Decode16(dry, shape.chunk, shape.lanes, ROWS, s.var).emit(0, 0);
    return emitRows(ctx, s, shape, startLocal, endLocal);
  } catch (e) {
    if (e instanceof Refuse) return undefined;
    throw e;
  }
}

interface RowShape {
  readonly chunk: For;
  readonly lanes: NonNullable<ReturnType<typeof lanesOf>>;
  readonly rest: readonly Stmt[];
}

function rowShape(s: For): RowShape | undefined {
  const body = s.body.filter((x) => x.op !== "comment");
  const chunk = body[LANES];
  if (chunk?.op !== "for") return undefined;
  const lanes = lanesOf(chunk);
  if (!lanes) return undefined;
  for (let l = 0; l < LANES; l++) {
    const x = body[l];
    if (x.op !== "let" || x.name !== lanes.accs[l] || x.value.op !== "const") return undefined;
    if (x.value.type !== "f32" || !Object.is(x.value.value, 0)) return undefined;
  }
  const rest = body.slice(LANES + 1);
  // the rest of a row assigns only its accumulators and stores only at index n
  walk(rest, (x) => {
    if (x.op === "assign" && !lanes.accs.includes(x.name)) refuse(`${x.name} carried across rows`);
    if (x.op === "store" && !(x.index.op === "var" && x.index.name === s.var))
      refuse("a store at another index than the row");
    if (x.op === "for" || x.op === "if") refuse(`a ${x.op} after the chunk loop`);
  });
  return { chunk, lanes, rest };
}

function emitRows(
  ctx: LoopContext,
  s: For,
  { chunk, lanes, rest }: RowShape,
  startLocal: number,
  endLocal: number,
): Ref {
  const { m } = ctx;
  const i32 = binaryen.i32;
  const get = (l: number) => m.local.get(l, i32);
  const guards = aliasGuards(ctx, rest, lanes.template);
  const n = ctx.declare(s.var, "i32").index;
  const kbStart = ctx.temp("i32");
  const kbEnd = ctx.temp("i32");
  const d = new Decode16(ctx, chunk, lanes, ROWS, s.var);
  const chunks = d.emit(kbStart, kbEnd);
  const resume = ctx.declare(RESUME, "i32").index;
  const from: Expr = { op: "var", name: RESUME, type: "i32" };
  const accs = lanes.accs.map((a) => ctx.lookup(a)!.index);
  const zero = m.v128.const(new Array<number>(16).fill(0));
  const finish = d.accVecs.flatMap((vecs, r) => [
    m.local.set(n, m.i32.add(get(startLocal), m.i32.const(r))),
    ...vecs.flatMap((vec, q) =>
      [0, 1, 2, 3].map((j) =>
        m.local.set(
          accs[4 * q + j],
          m.f32x4.extract_lane(m.local.get(vec, binaryen.v128), j as unknown as Ref),
        ),
      ),
    ),
    ...ctx.stmts([{ ...chunk, start: from }, ...rest]),
  ]);
  const exit = `rows_${ctx.label()}`;
  const next = `${exit}.next`;
  const loop = m.block(exit, [
    m.loop(
      next,
      m.block(null, [
        m.br(exit, m.i32.lt_s(m.i32.sub(get(endLocal), get(startLocal)), m.i32.const(ROWS))),
        m.local.set(n, get(startLocal)),
        ...d.accVecs.flat().map((vec) => m.local.set(vec, m.copyExpression(zero))),
        m.local.set(kbStart, ctx.ex(chunk.start)),
        m.local.set(kbEnd, ctx.ex(chunk.end)),
        chunks,
        m.local.set(resume, get(kbStart)),
        ...finish,
        m.local.set(startLocal, m.i32.add(get(startLocal), m.i32.const(ROWS))),
        m.br(next),
      ]),
    ),
  ]);
  return guards.length
    ? m.if(
        guards.reduce((a, b) => m.i32.and(a, b)),
        loop,
      )
    : loop;
}

/** y (stored by the rest of a row) must not be a buffer the lanes load with the same element type */
function aliasGuards(ctx: LoopContext, rest: readonly Stmt[], template: readonly Stmt[]): Ref[] {
  const { m } = ctx;
  const stored = new Set<string>();
  walk(rest, (x) => {
    if (x.op === "store") stored.add(x.buffer);
  });
  const loaded = new Set<string>();
  const loads = (e: Expr): void => {
    if (e.op === "load") loaded.add(e.buffer);
    children(e).forEach(loads);
  };
  walk(template, (x) => {
    if (x.op === "let") loads(x.value);
  });
  const guards: Ref[] = [];
  for (const b of stored)
    for (const l of loaded) {
      if (b === l) refuse(`${b} is loaded and stored`);
      const [pb, pl] = [ctx.buffer(b)!, ctx.buffer(l)!];
      if (pb.elem === pl.elem)
        guards.push(
          m.i32.ne(m.local.get(pb.param, binaryen.i32), m.local.get(pl.param, binaryen.i32)),
        );
    }
  return guards;
}

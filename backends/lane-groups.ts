/**
 * Lane groups: a loop body that is G copies of one lane body, as lowered
 * GEMV's 16 lane accumulators (passes/lower/gemv.ts):
 *     let k_c = base + c; if (k_c < limit) { ...lane c, ending in acc_c = acc_c + p... }
 * for c = 0..G-1, identical up to the names of their variables, no lane
 * reading another's. While all G lanes are in range, a backend may run them
 * from vector registers: lane c's sum still sees the same additions in the
 * same order. (CUDA runs them in chunks; backends/wasm/vectorize.ts four
 * lanes per vector, so it takes groups of a multiple of 4 lanes.)
 */
import type { Expr, Stmt } from "../ir/kernel.js";
import { exprVars, sameExpr, sameRenamed, walk, walkExprs } from "../ir/kernel-walk.js";

type For = Extract<Stmt, { op: "for" }>;

export interface LaneGroup {
  /** lane c's element index is base + c */
  readonly base: Expr;
  /** lane c runs when base + c < limit */
  readonly limit: Expr;
  /** per lane: its index variable, its statements (the guard's body) and its accumulator */
  readonly lanes: readonly {
    readonly k: string;
    readonly stmts: readonly Stmt[];
    readonly acc: string;
  }[];
}

/** The lane group `s`'s body is, with at least `min` lanes; undefined if it is none. */
export function laneGroup(s: For, min = 2): LaneGroup | undefined {
  const body = s.body.filter((x) => x.op !== "comment");
  if (body.length < 2 * min || body.length % 2 !== 0) return undefined;
  const lanes: { k: string; stmts: readonly Stmt[]; acc: string }[] = [];
  let base: Expr | undefined;
  let limit: Expr | undefined;
  for (let c = 0; c < body.length / 2; c++) {
    const l = body[2 * c];
    const f = body[2 * c + 1];
    if (l.op !== "let" || l.type !== "i32" || f.op !== "if" || f.else?.length) return undefined;
    const v = l.value;
    if (v.op !== "binary" || v.kind !== "add" || v.b.op !== "const" || v.b.value !== c)
      return undefined;
    const cond = f.cond;
    if (cond.op !== "binary" || cond.kind !== "lt" || cond.a.op !== "var" || cond.a.name !== l.name)
      return undefined;
    if (c === 0) [base, limit] = [v.a, cond.b];
    else if (!sameExpr(v.a, base!) || !sameExpr(cond.b, limit!)) return undefined;
    const stmts = f.then.filter((x) => x.op !== "comment");
    const last = stmts.at(-1);
    if (last?.op !== "assign") return undefined;
    lanes.push({ k: l.name, stmts, acc: last.name });
  }
  if (new Set(lanes.map((l) => l.acc)).size !== lanes.length) return undefined;
  // the group's base and limit are the loop's, not a lane's
  const locals = new Set<string>();
  walk(body, (x) => x.op === "let" && locals.add(x.name));
  if ([...exprVars(base!), ...exprVars(limit!)].some((v) => locals.has(v))) return undefined;
  // no lane reads another lane's variables
  const owned = lanes.map((l) => {
    const names = new Set([l.k, l.acc]);
    walk(l.stmts, (x) => x.op === "let" && names.add(x.name));
    return names;
  });
  for (const [c, lane] of lanes.entries()) {
    const read = new Set<string>();
    walkExprs(lane.stmts, (e) => exprVars(e, read));
    if ([...read].some((v) => owned.some((o, d) => d !== c && o.has(v)))) return undefined;
  }
  // every lane is lane 0 with its names replaced
  const [first] = lanes;
  for (const [c, lane] of lanes.entries()) {
    if (lane.stmts.length !== first.stmts.length) return undefined;
    const names = new Map([
      [lane.k, first.k],
      [lanes[c].acc, first.acc],
    ]);
    lane.stmts.forEach((x, j) => {
      const y = first.stmts[j];
      if (x.op === "let" && y.op === "let") names.set(x.name, y.name);
    });
    if (!sameRenamed(first.stmts, lane.stmts, names)) return undefined;
  }
  return { base: base!, limit: limit!, lanes };
}

/**
 * Top-level loops of a kernel's prefix that a whole workgroup can run instead
 * of one invocation, with the same result bit for bit.
 *
 * The one shape accepted is a non-negative maximum (the tensor amax of NVFP4
 * and NVINT4):
 *
 *     let acc: f32 = 0;
 *     for t in a..b { ...lets...; acc = select(P && v > acc, v, acc) }
 *
 * where `v` is an `abs(..)` and nothing else in the loop reads `acc`, assigns
 * outer variables, stores or loops. `acc` then only ever holds +0 or a value
 * |x| that is not NaN (`v > acc` is false for NaN), so the serial result is the
 * largest value taken, whatever the order: invocations may scan strided parts
 * of the range and combine their partial results with a maximum. On such
 * values the order of f32 is the order of their u32 bits, so the combination
 * is an integer maximum (subgroupMax, atomicMax), which no engine flushes or
 * reorders. Any other loop keeps the whole prefix in one invocation.
 */
import { children, exprVars, sameExpr, walk, walkExprs } from "../../ir/kernel-walk.js";
import type { Expr, Stmt } from "../../ir/kernel.js";

export interface PrefixMax {
  /** index of the loop among the prefix statements */
  readonly at: number;
  /** the f32 accumulator, declared before the loop */
  readonly acc: string;
}

const isVar = (e: Expr, name: string) => e.op === "var" && e.name === name;

/** `acc = select(P && v > acc, v, acc)` (P optional) with v an abs; the accumulator's name. */
function maxAssign(s: Stmt, lets: ReadonlyMap<string, Expr>): string | undefined {
  if (s.op !== "assign" || s.value.op !== "select" || s.value.type !== "f32") return undefined;
  const { cond, a: v, b } = s.value;
  const acc = s.name;
  if (!isVar(b, acc) || exprVars(v).has(acc)) return undefined;
  let cmp = cond;
  if (cmp.op === "binary" && cmp.kind === "and" && !exprVars(cmp.a).has(acc)) cmp = cmp.b;
  if (cmp.op !== "binary" || cmp.kind !== "gt" || !sameExpr(cmp.a, v) || !isVar(cmp.b, acc))
    return undefined;
  const def = v.op === "var" ? lets.get(v.name) : v;
  return def?.op === "unary" && def.kind === "abs" ? acc : undefined;
}

/** Expressions of the statements that read `name`. */
function reads(list: readonly Stmt[], name: string): number {
  let n = 0;
  walkExprs(list, (e) => exprVars(e).has(name) && n++);
  return n;
}

/**
 * The prefix's loops as workgroup maxima, or undefined when some top-level
 * loop is not one (or a loop hides under an `if`, or the prefix both stores
 * and reads a buffer, which invocations would race on).
 */
export function prefixMaxima(prefix: readonly Stmt[]): PrefixMax[] | undefined {
  const lets = new Map<string, Expr>();
  walk(prefix, (s) => s.op === "let" && lets.set(s.name, s.value));
  const stored = new Set<string>();
  const loaded = new Set<string>();
  walk(prefix, (s) => s.op === "store" && stored.add(s.buffer));
  const visit = (e: Expr): void => {
    if (e.op === "load") loaded.add(e.buffer);
    for (const c of children(e)) visit(c);
  };
  walkExprs(prefix, visit);
  if ([...stored].some((b) => loaded.has(b))) return undefined;

  const found: PrefixMax[] = [];
  for (const [at, s] of prefix.entries()) {
    if (s.op === "if") {
      let loops = false;
      walk([s], (x) => (loops ||= x.op === "for"));
      if (loops) return undefined;
    }
    if (s.op !== "for") continue;
    let nested = false;
    walk(s.body, (x) => (nested ||= x.op === "for" || x.op === "store"));
    if (nested) return undefined;
    const declared = new Set<string>();
    walk(s.body, (x) => x.op === "let" && declared.add(x.name));
    const outer: Stmt[] = [];
    walk(s.body, (x) => x.op === "assign" && !declared.has(x.name) && outer.push(x));
    const acc =
      outer.length === 1 && s.body.includes(outer[0]) ? maxAssign(outer[0], lets) : undefined;
    if (!acc || exprVars(s.start).has(acc) || exprVars(s.end).has(acc)) return undefined;
    // the select reads acc twice; any other read would see a partial value
    if (reads(s.body, acc) !== 1) return undefined;
    const init = prefix.slice(0, at).find((x) => x.op === "let" && x.name === acc);
    const zero =
      init?.op === "let" &&
      init.value.op === "const" &&
      init.value.value === 0 &&
      !Object.is(init.value.value, -0);
    let reassigned = false;
    walk(prefix.slice(0, at), (x) => (reassigned ||= x.op === "assign" && x.name === acc));
    if (!zero || reassigned) return undefined;
    found.push({ at, acc });
  }
  return found;
}

/**
 * Read-only traversals of KernelIR shared by the passes and backends that
 * analyse kernels (CUDA thread schedules, WGSL legalization): the operands of
 * an expression, the variables it reads, and every statement or top-level
 * expression of a statement list.
 */
import type { Expr, Stmt } from "./kernel.js";

/** The direct operands of `e`. */
export function children(e: Expr): Expr[] {
  switch (e.op) {
    case "load":
    case "table":
      return [e.index];
    case "binary":
      return [e.a, e.b];
    case "unary":
    case "bitcast":
    case "convert":
      return [e.a];
    case "select":
      return [e.cond, e.a, e.b];
    case "random":
      return [e.seedLo, e.seedHi, e.index];
    case "const":
    case "var":
      return [];
  }
}

/** Every variable `e` reads, added to `out`. */
export function exprVars(e: Expr, out = new Set<string>()): Set<string> {
  if (e.op === "var") out.add(e.name);
  for (const c of children(e)) exprVars(c, out);
  return out;
}

/**
 * Whether two expressions are the same tree. Numbers compare with Object.is,
 * so -0 and +0, or Infinity and -Infinity, differ (JSON.stringify would print
 * them alike).
 */
export function sameExpr(a: Expr, b: Expr): boolean {
  return sameRenamed(a, b, NO_NAMES);
}

const NO_NAMES: ReadonlyMap<string, string> = new Map();

/**
 * Whether `a` and `b` (expressions, statements or lists of them) are the same
 * tree once the variable names in `b` are mapped by `names` (unmapped names
 * stay), with numbers compared as sameExpr does.
 */
export function sameRenamed(
  a: unknown,
  b: unknown,
  names: ReadonlyMap<string, string>,
  key = "",
): boolean {
  if (typeof a !== "object" || a === null || typeof b !== "object" || b === null) {
    const mapped =
      (key === "name" || key === "var") && typeof b === "string" ? (names.get(b) ?? b) : b;
    return Object.is(a, mapped);
  }
  const keys = (o: object) =>
    Object.keys(o).filter((k) => (o as Record<string, unknown>)[k] !== undefined);
  const [ka, kb] = [keys(a), keys(b)];
  return (
    ka.length === kb.length &&
    ka.every((k) =>
      sameRenamed((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], names, k),
    )
  );
}

/** Calls `f` on every statement, depth first. */
export function walk(stmts: readonly Stmt[], f: (s: Stmt) => void): void {
  for (const s of stmts) {
    f(s);
    if (s.op === "if") {
      walk(s.then, f);
      walk(s.else ?? [], f);
    } else if (s.op === "for") walk(s.body, f);
  }
}

/** Calls `f` on every expression of the statements (not sub-expressions). */
export function walkExprs(stmts: readonly Stmt[], f: (e: Expr) => void): void {
  walk(stmts, (s) => {
    if (s.op === "let" || s.op === "assign") f(s.value);
    else if (s.op === "store") {
      f(s.index);
      f(s.value);
    } else if (s.op === "if") f(s.cond);
    else if (s.op === "for") {
      f(s.start);
      f(s.end);
    }
  });
}

/**
 * A statement list under construction with fresh local names: lowering code
 * reads like straight-line arithmetic (`b.let("v", expr)` returns the variable).
 */
import { K, type Expr, type Stmt } from "../../ir/kernel.js";

export class Block {
  readonly stmts: Stmt[] = [];
  private static counter = 0;

  /** Restarts local numbering, so each kernel's printed IR is stable. */
  static resetNames(): void {
    Block.counter = 0;
  }

  constructor(private readonly prefix = "") {}

  /** Declares a local holding `value` and returns a reference to it. */
  let(name: string, value: Expr): Expr {
    const unique = `${this.prefix}${name}_${Block.counter++}`;
    this.stmts.push(K.let(unique, value));
    return K.v(unique, value.type);
  }

  /** A local that later statements may reassign. */
  mutable(name: string, value: Expr): { ref: Expr; set: (v: Expr) => Stmt } {
    const ref = this.let(name, value);
    const varName = (ref as { name: string }).name;
    return { ref, set: (v) => K.assign(varName, v) };
  }

  push(...s: Stmt[]): void {
    this.stmts.push(...s);
  }

  comment(text: string): void {
    this.stmts.push(K.comment(text));
  }
}

const { bin, un, select, bitcast, convert } = K;

/** Small typed helpers over K, named after what they compute. */
export const E = {
  add: (a: Expr, b: Expr) => bin("add", a, b),
  sub: (a: Expr, b: Expr) => bin("sub", a, b),
  mul: (a: Expr, b: Expr) => bin("mul", a, b),
  div: (a: Expr, b: Expr) => bin("div", a, b),
  and: (a: Expr, b: Expr) => bin("and", a, b),
  or: (a: Expr, b: Expr) => bin("or", a, b),
  shl: (a: Expr, b: Expr) => bin("shl", a, b),
  shr: (a: Expr, b: Expr) => bin("shr", a, b),
  eq: (a: Expr, b: Expr) => bin("eq", a, b),
  ne: (a: Expr, b: Expr) => bin("ne", a, b),
  lt: (a: Expr, b: Expr) => bin("lt", a, b),
  le: (a: Expr, b: Expr) => bin("le", a, b),
  gt: (a: Expr, b: Expr) => bin("gt", a, b),
  ge: (a: Expr, b: Expr) => bin("ge", a, b),
  min: (a: Expr, b: Expr) => bin("min", a, b),
  max: (a: Expr, b: Expr) => bin("max", a, b),
  not: (a: Expr) => un("not", a),
  select,
  bits: (f: Expr) => bitcast(f, "u32"),
  float: (u: Expr) => bitcast(u, "f32"),
  u32: (e: Expr) => convert(e, "u32"),
  i32: (e: Expr) => convert(e, "i32"),
  f32: (e: Expr) => convert(e, "f32"),
  /** bool -> u32 0/1 */
  b2u: (e: Expr) => convert(e, "u32"),
};

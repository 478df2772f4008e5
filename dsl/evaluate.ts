/**
 * Constant expressions where a number is expected: literals, + - * / ^,
 * parentheses, and the format queries max(F), min(F), bits(F), emax(F).
 */
import type { Expr } from "./ast.js";
import type { CheckContext } from "./context.js";
import { didYouMean } from "./diagnostics.js";
import { codec, floorLog2, formatBits, type Format } from "../ir/formats/index.js";

const FUNCTIONS: Record<string, (f: Format) => number> = {
  /** largest finite value */
  max: (f) => codec(f).maxFinite,
  /** smallest positive value */
  min: (f) => codec(f).minPositive,
  bits: (f) => formatBits(f),
  /** exponent of the largest finite value */
  emax: (f) => floorLog2(codec(f).maxFinite),
};

export type FormatLookup = (name: string, e: Expr) => Format | undefined;

export function evaluate(ctx: CheckContext, e: Expr, lookupFormat: FormatLookup): number | undefined {
  const ev = (x: Expr) => evaluate(ctx, x, lookupFormat);
  switch (e.kind) {
    case "number":
      return e.value;
    case "paren":
      return ev(e.inner);
    case "unary": {
      const v = ev(e.operand);
      return v === undefined ? undefined : e.op === "-" ? -v : v;
    }
    case "binary": {
      if (e.op === "x") return ctx.error("a tile `rows x cols` is only allowed as a block shape", e.loc);
      const a = ev(e.left);
      const b = ev(e.right);
      if (a === undefined || b === undefined) return undefined;
      const r = e.op === "+" ? a + b : e.op === "-" ? a - b : e.op === "*" ? a * b : e.op === "/" ? a / b : a ** b;
      if (!Number.isFinite(r)) return ctx.error(`this expression is not a finite number (${r})`, e.loc);
      return r;
    }
    case "ref": {
      const fn = Object.hasOwn(FUNCTIONS, e.name) ? FUNCTIONS[e.name] : undefined;
      if (!fn || !e.args) {
        const guess = didYouMean(e.name, Object.keys(FUNCTIONS));
        return ctx.error(
          `expected a number, found the name '${e.name}'`,
          e.loc,
          fn
            ? `call it on a format: ${e.name}(e2m1)`
            : `numbers are literals (4, 0x7F, 1e-3, 2^-6) or ${Object.keys(FUNCTIONS).join("/")}(format)${guess ? `; did you mean ${guess}(...)?` : ""}`,
        );
      }
      if (e.args.length !== 1 || e.args[0].name || e.body)
        return ctx.error(`${e.name}() takes exactly one format, e.g. ${e.name}(e2m1)`, e.loc);
      const arg = e.args[0].value;
      if (arg.kind !== "ref" || arg.args || arg.body) return ctx.error(`${e.name}() takes a format name`, arg.loc);
      const f = lookupFormat(arg.name, arg);
      return f && fn(f);
    }
    default:
      return ctx.error(`expected a number, found a ${e.kind}`, e.loc);
  }
}

/** An integer in [lo, hi], or undefined with an error naming the field and its range. */
export function evaluateInt(
  ctx: CheckContext,
  e: Expr,
  lookupFormat: FormatLookup,
  what: string,
  lo: number,
  hi: number,
): number | undefined {
  const v = evaluate(ctx, e, lookupFormat);
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v < lo || v > hi)
    return ctx.error(`${what} must be an integer in ${lo}..${hi}, got ${v}`, e.loc);
  return v;
}

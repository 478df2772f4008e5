/** `format NAME = float|int|table { ... }` to an ir Format, with the checks of each field. */
import type { Decl, Expr } from "./ast.js";
import type { CheckContext } from "./context.js";
import { evaluate, evaluateInt, type FormatLookup } from "./evaluate.js";
import { FormatError, validateFormat, type FloatSpecials, type Format } from "../ir/formats/index.js";

const FLOAT_FIELDS = ["exponent", "mantissa", "bias", "signed", "subnormals", "specials"] as const;
const INT_FIELDS = ["bits", "signed", "range", "shift"] as const;
const TABLE_FIELDS = ["values", "bits"] as const;
const SPECIALS: readonly FloatSpecials[] = ["none", "nan_only", "ieee", "e8m0"];

export function bool(ctx: CheckContext, e: Expr | undefined, fallback: boolean): boolean | undefined {
  if (!e) return fallback;
  const w = ctx.word(e, "boolean", ["true", "false"]);
  return w === undefined ? undefined : w === "true";
}

export function lowerFormat(
  ctx: CheckContext,
  decl: Extract<Decl, { kind: "format" }>,
  lookup: FormatLookup,
): Format | undefined {
  const v = decl.value;
  if (v.kind !== "ref" || !["float", "int", "table"].includes(v.name) || v.args || !v.body)
    return ctx.error(
      `a format is float { ... }, int { ... } or table { ... }`,
      v.loc,
      "e.g. format e2m1 = float { exponent: 2, mantissa: 1, bias: 1 }",
    );
  const name = decl.name;
  const where = `a ${v.name} format`;
  let format: Format | undefined;
  if (v.name === "float") {
    const f = ctx.fields(v.body, FLOAT_FIELDS, where);
    const need = (k: string) =>
      f.get(k) ?? ctx.error(`${where} needs '${k}'`, v.nameLoc, `add ${k}: N to the braces`);
    const ef = need("exponent");
    const mf = need("mantissa");
    const exponent = ef && evaluateInt(ctx, ef.value, lookup, "exponent bits", 1, 8);
    const mantissa = mf && evaluateInt(ctx, mf.value, lookup, "mantissa bits", 0, 23);
    if (exponent === undefined || mantissa === undefined) return undefined;
    const biasField = f.get("bias");
    const bias = biasField ? evaluateInt(ctx, biasField.value, lookup, "bias", -1000, 1000) : 2 ** (exponent - 1) - 1;
    const signed = bool(ctx, f.get("signed")?.value, true);
    const subnormals = bool(ctx, f.get("subnormals")?.value, true);
    const sp = f.get("specials");
    const specials = sp ? (ctx.word(sp.value, "specials", SPECIALS) as FloatSpecials | undefined) : "none";
    if (bias === undefined || signed === undefined || subnormals === undefined || specials === undefined) return undefined;
    format = { kind: "float", name, exponent, mantissa, bias, signed, subnormals, specials };
  } else if (v.name === "int") {
    const f = ctx.fields(v.body, INT_FIELDS, where);
    const bf = f.get("bits") ?? ctx.error(`${where} needs 'bits'`, v.nameLoc, "add bits: N (2..16)");
    const bits = bf && evaluateInt(ctx, bf.value, lookup, "integer bits", 2, 16);
    const signed = bool(ctx, f.get("signed")?.value, true);
    const rf = f.get("range");
    const range = rf ? (ctx.word(rf.value, "range", ["full", "symmetric"]) as "full" | "symmetric" | undefined) : "full";
    const sf = f.get("shift");
    const shift = sf ? evaluateInt(ctx, sf.value, lookup, "shift", -64, 64) : 0;
    if (bits === undefined || signed === undefined || range === undefined || shift === undefined) return undefined;
    if (range === "symmetric" && !signed)
      return ctx.error("range symmetric needs a signed integer", rf!.value.loc, "drop range, or set signed: true");
    format = { kind: "int", name, bits, signed, range, shift };
  } else {
    const f = ctx.fields(v.body, TABLE_FIELDS, where);
    const vf = f.get("values") ?? ctx.error(`${where} needs 'values'`, v.nameLoc, "add values: [v0, v1, ...]");
    if (!vf) return undefined;
    if (vf.value.kind !== "list") return ctx.error("values must be a list: [v0, v1, ...]", vf.value.loc);
    const items = vf.value.items;
    if (items.length === 0) return ctx.error("a table format needs values; this list is empty", vf.value.loc);
    const values = items.map((e) => evaluate(ctx, e, lookup));
    if (values.some((x) => x === undefined)) return undefined;
    const bits = Math.log2(items.length);
    if (!Number.isInteger(bits) || bits > 8)
      return ctx.error(
        `a table needs 2, 4, 8, ..., 256 values (one per code); this one has ${items.length}`,
        vf.value.loc,
      );
    const bitsField = f.get("bits");
    if (bitsField) {
      const b = evaluateInt(ctx, bitsField.value, lookup, "table bits", 1, 8);
      if (b !== undefined && b !== bits)
        return ctx.error(`bits: ${b} needs ${2 ** b} values, the list has ${items.length}`, bitsField.value.loc);
    }
    const f32 = (values as number[]).map(Math.fround);
    for (let i = 0; i < f32.length; i++)
      for (let j = 0; j < i; j++)
        if (f32[i] === f32[j])
          return ctx.error(`value ${values[i]} repeats the value of code ${j}: table values must be distinct`, items[i].loc);
    if (f32.some((x, i) => i > 0 && x < f32[i - 1]))
      ctx.warn(
        "table values are not in ascending order of their codes",
        vf.value.loc,
        "encoding still picks the nearest value; sort them if the code order is not deliberate",
      );
    format = { kind: "table", name, bits, values: f32 };
  }
  try {
    return validateFormat(format);
  } catch (e) {
    if (e instanceof FormatError) return ctx.error(e.message.replace(/^format \S+: /, ""), decl.value.loc);
    throw e;
  }
}

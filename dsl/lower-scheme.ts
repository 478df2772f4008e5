/** `scheme NAME [extends BASE] { ... }` to an ir Scheme: each field overrides the base. */
import type { Decl, Expr, Field } from "./ast.js";
import type { CheckContext } from "./context.js";
import { evaluateInt, type FormatLookup } from "./evaluate.js";
import { codec, floorLog2, ROUNDING_MODES, type Format, type OverflowPolicy, type RoundingMode } from "../ir/formats/index.js";
import {
  SCALE_RULES,
  SchemeError,
  validateScheme,
  type BlockShape,
  type DoubleQuant,
  type ScaleRule,
  type Scheme,
} from "../ir/scheme.js";

export const SCHEME_FIELDS = [
  "element",
  "block",
  "axis",
  "scale",
  "rounding",
  "overflow",
  "tensor_scale",
  "double_quant",
] as const;

export type SchemeLookup = (name: string, e: Expr) => Scheme | undefined;

/** The scale rule a scale format gets when none is named: exponent-only formats take the OCP floor, others amax. */
export function defaultRule(f: Format): ScaleRule {
  return f.kind === "float" && f.specials === "e8m0" ? "floor" : "amax";
}

type Draft = { -readonly [K in keyof Scheme]?: Scheme[K] };

export function lowerScheme(
  ctx: CheckContext,
  decl: Extract<Decl, { kind: "scheme" }>,
  base: Scheme | undefined,
  doc: string | undefined,
  formatRef: FormatLookup,
  schemeRef: SchemeLookup,
): Scheme | undefined {
  const fields = ctx.fields(decl.fields, SCHEME_FIELDS, `scheme ${decl.name}`);
  const s: Draft = base
    ? { ...base, name: decl.name, doc: doc ?? base.doc }
    : { name: decl.name, doc, rounding: { mode: "nearest_even", randomBits: 8 }, overflow: "saturate" };
  let ok = true;
  const bad = () => void (ok = false);
  /** sets a field of the draft, or marks the scheme failed when the value did not check */
  const assign = <K extends keyof Draft>(key: K, value: Draft[K] | undefined) =>
    value === undefined ? bad() : void (s[key] = value);
  const format = (f: Field | undefined) =>
    f && (f.value.kind === "ref" && !f.value.args && !f.value.body
      ? formatRef(f.value.name, f.value)
      : ctx.error(`expected a format name`, f.value.loc, "e.g. e2m1, e4m3, nf4"));

  if (!base)
    for (const k of ["element", "block", "scale"])
      if (!fields.has(k)) {
        ctx.error(`scheme ${decl.name} needs '${k}'`, decl.nameLoc, `add ${k}: ... or extend a scheme that has it`);
        bad();
      }

  const el = fields.get("element");
  if (el) assign("element", format(el));

  const blockField = fields.get("block");
  if (blockField) assign("block", blockShape(ctx, blockField.value, formatRef, s.block));
  const axisField = fields.get("axis");
  if (axisField && s.block) {
    const axis = evaluateInt(ctx, axisField.value, formatRef, "axis", -8, 7);
    if (axis === undefined) bad();
    else if (s.block.kind === "axis") s.block = { ...s.block, axis };
    else {
      ctx.error("axis does not apply to a 2-D tile block", axisField.nameLoc);
      bad();
    }
  }

  const sc = fields.get("scale");
  if (sc) assign("scale", scaleSpec(ctx, sc.value, formatRef));

  const r = fields.get("rounding");
  if (r) assign("rounding", rounding(ctx, r.value, formatRef));
  const o = fields.get("overflow");
  if (o) assign("overflow", ctx.word(o.value, "overflow policy", ["saturate", "propagate"]) as OverflowPolicy);

  const ts = fields.get("tensor_scale");
  if (ts) {
    if (isNone(ts.value)) s.tensorScale = undefined;
    else assign("tensorScale", format(ts));
  }
  const dqf = fields.get("double_quant");
  if (dqf) {
    if (isNone(dqf.value)) s.doubleQuant = undefined;
    else assign("doubleQuant", doubleQuant(ctx, dqf.value, schemeRef));
  }
  if (!ok || !s.element || !s.block || !s.scale) return undefined;

  const scheme = s as Scheme;
  semanticWarnings(ctx, scheme, fields);
  try {
    return validateScheme(scheme);
  } catch (e) {
    if (!(e instanceof SchemeError)) throw e;
    const msg = e.message.replace(/^scheme \S+: /, "");
    const at = /rounding/.test(msg) ? r : /tensor scale/.test(msg) ? ts : /scale|rule/.test(msg) ? sc : /element/.test(msg) ? el : undefined;
    return ctx.error(msg, at?.value.loc ?? decl.nameLoc);
  }
}

const isNone = (e: Expr) => e.kind === "ref" && e.name === "none" && !e.args && !e.body;

function blockShape(ctx: CheckContext, e: Expr, formatRef: FormatLookup, prev: BlockShape | undefined): BlockShape | undefined {
  if (e.kind === "binary" && e.op === "x") {
    const rows = evaluateInt(ctx, e.left, formatRef, "tile rows", 1, 4096);
    const cols = evaluateInt(ctx, e.right, formatRef, "tile columns", 1, 4096);
    return rows === undefined || cols === undefined ? undefined : { kind: "tile", rows, cols };
  }
  const axis = prev?.kind === "axis" ? prev.axis : -1;
  if (e.kind === "ref" && e.name === "all" && !e.args && !e.body) return { kind: "axis", axis, size: "all" };
  const size = evaluateInt(ctx, e, formatRef, "block size", 1, 1 << 20);
  if (size === undefined) return undefined;
  if (size > 8192) ctx.warn(`block size ${size} is unusually large`, e.loc, "for one scale per row write `block: all`");
  return { kind: "axis", axis, size };
}

function scaleSpec(ctx: CheckContext, e: Expr, formatRef: FormatLookup) {
  if (e.kind !== "ref" || e.args) return ctx.error("expected a scale format, e.g. e8m0 { rule: floor }", e.loc);
  const format = formatRef(e.name, e);
  if (!format) return undefined;
  const f = ctx.fields(e.body ?? [], ["rule"], "a scale");
  const rf = f.get("rule");
  const rule = rf ? (ctx.word(rf.value, "scale rule", SCALE_RULES) as ScaleRule | undefined) : defaultRule(format);
  if (!rule) return undefined;
  if (["floor", "ceil", "rceil", "even"].includes(rule) && format.kind === "float") {
    const c = codec(format);
    const lo = floorLog2(c.minPositive);
    const hi = floorLog2(c.maxFinite);
    if (hi - lo < 64)
      ctx.warn(
        `scale format ${format.name} holds only the powers of two 2^${lo}..2^${hi}`,
        e.loc,
        "blocks outside that range get a clamped or NaN scale; e8m0 covers 2^-127..2^127",
      );
  }
  return { format, rule };
}

function rounding(ctx: CheckContext, e: Expr, formatRef: FormatLookup) {
  if (e.kind !== "ref" || e.args) return ctx.error("expected a rounding mode", e.loc, `one of ${ROUNDING_MODES.join(", ")}`);
  const mode = ctx.word({ ...e, body: undefined }, "rounding mode", ROUNDING_MODES) as RoundingMode | undefined;
  if (!mode) return undefined;
  let randomBits = 8;
  if (e.body) {
    if (mode !== "stochastic") return ctx.error(`${mode} takes no options`, e.body[0]?.loc ?? e.loc);
    const bitsField = ctx.fields(e.body, ["bits"], "stochastic rounding").get("bits");
    if (bitsField) {
      const b = evaluateInt(ctx, bitsField.value, formatRef, "random bits", 1, 32);
      if (b === undefined) return undefined;
      randomBits = b;
    }
  }
  return { mode, randomBits };
}

function doubleQuant(ctx: CheckContext, e: Expr, schemeRef: SchemeLookup): DoubleQuant | undefined {
  if (e.kind !== "ref" || e.args)
    return ctx.error("expected a scheme for the scales, e.g. absmax8 { offset: mean }", e.loc);
  const scheme = schemeRef(e.name, e);
  if (!scheme) return undefined;
  const of = ctx.fields(e.body ?? [], ["offset"], "double_quant").get("offset");
  const offset = of ? (ctx.word(of.value, "offset", ["mean", "none"]) as "mean" | "none" | undefined) : "mean";
  return offset && { scheme, offset };
}

function semanticWarnings(ctx: CheckContext, s: Scheme, fields: Map<string, Field>): void {
  const o = fields.get("overflow");
  if (o && s.overflow === "propagate" && !codec(s.element).hasNaN && !codec(s.element).hasInf)
    ctx.warn(`${s.element.name} has neither Inf nor NaN: propagate saturates, as saturate does`, o.value.loc);
}

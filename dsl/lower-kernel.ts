/** `kernel NAME = kind(scheme, ...) { ... }` to a KernelSpec, checked against its scheme. */
import type { Arg, Decl, Expr } from "./ast.js";
import type { CheckContext } from "./context.js";
import { didYouMean } from "./diagnostics.js";
import { evaluateInt, type FormatLookup } from "./evaluate.js";
import type { SchemeLookup } from "./lower-scheme.js";
import { formatBits } from "../ir/formats/index.js";
import { KERNEL_KINDS, SCALE_LAYOUTS, type KernelKind, type KernelSpec, type Rotation, type ScaleLayout } from "../ir/program.js";
import { scaleLayoutProblem } from "../ir/layout/scale-placement.js";
import type { DType } from "../ir/tensor.js";
import type { Scheme } from "../ir/scheme.js";

const DTYPES: readonly DType[] = ["f32", "f16", "bf16"];
/** code widths the layout pass can pack densely */
const PACKABLE_BITS = [1, 2, 4, 6, 8, 16];

export function lowerKernel(
  ctx: CheckContext,
  decl: Extract<Decl, { kind: "kernel" }>,
  formatRef: FormatLookup,
  schemeRef: SchemeLookup,
): KernelSpec | undefined {
  const v = decl.value;
  if (v.kind !== "ref" || !v.args)
    return ctx.error(
      "a kernel is kind(scheme, ...) { options }",
      v.loc,
      `e.g. kernel q = quantize(mxfp4) { input: bf16 }; kinds: ${KERNEL_KINDS.join(", ")}`,
    );
  if (!KERNEL_KINDS.includes(v.name as KernelKind)) {
    const guess = didYouMean(v.name, KERNEL_KINDS);
    return ctx.error(
      `unknown kernel kind '${v.name}'${guess ? ` (did you mean '${guess}'?)` : ""}`,
      v.nameLoc,
      `kinds: ${KERNEL_KINDS.join(", ")}`,
    );
  }
  const kind = v.name as KernelKind;
  const gemv = kind === "gemv";
  const args = kernelArgs(ctx, v.args, kind);
  if (!args) return undefined;
  const schemeArg = args.get(gemv ? "weights" : "scheme");
  if (!schemeArg)
    return ctx.error(
      gemv ? "gemv needs its quantized operand: gemv(weights: SCHEME, activations: f16)" : `${kind} needs a scheme: ${kind}(mxfp4)`,
      v.loc,
    );
  const scheme = schemeName(ctx, schemeArg.value, schemeRef);
  const rotate = args.has("rotate") ? rotation(ctx, args.get("rotate")!.value, formatRef) : undefined;
  if (!scheme || (args.has("rotate") && !rotate)) return undefined;

  const allowed = gemv ? ["output", "accumulate", "order", "layout"] : kind === "dequantize" ? ["output", "layout"] : ["input", "output", "layout"];
  allowed.push("scale_layout"); // qdq kernels take only plain: scaleLayoutProblem says why
  const f = ctx.fields(v.body ?? [], allowed, `a ${kind} kernel`);
  const dtype = (k: string, fallback: DType) => {
    const field = f.get(k);
    return field ? (ctx.word(field.value, "dtype", DTYPES) as DType | undefined) : fallback;
  };
  const act = args.get("activations");
  const input = gemv ? (act ? (ctx.word(act.value, "dtype", DTYPES) as DType | undefined) : "f32") : dtype("input", "f32");
  const output = dtype("output", "f32");
  const lf = f.get("layout");
  const layout = lf ? (ctx.word(lf.value, "layout", ["packed", "unpacked"]) as "packed" | "unpacked" | undefined) : "packed";
  if (!input || !output || !layout) return undefined;
  const bits = formatBits(scheme.element);
  if (layout === "packed" && !PACKABLE_BITS.includes(bits))
    return ctx.error(
      `${scheme.element.name} codes are ${bits} bits: there is no packed layout for them`,
      lf?.value.loc ?? v.loc,
      "write layout: unpacked (one code per byte or word)",
    );
  const spec: { -readonly [K in keyof KernelSpec]: KernelSpec[K] } = { name: decl.name, kind, scheme, input, output, layout };
  if (rotate) spec.rotate = rotate;
  const sl = f.get("scale_layout");
  if (sl) {
    const scaleLayout = ctx.word(sl.value, "scale layout", SCALE_LAYOUTS) as ScaleLayout | undefined;
    if (!scaleLayout) return undefined;
    spec.scaleLayout = scaleLayout;
    const problem = scaleLayoutProblem(spec);
    if (problem) return ctx.error(problem, sl.value.loc, "scale_layout: plain (the default) stores scales row-major over the block grid");
  }
  if (gemv) {
    const acc = f.get("accumulate");
    spec.accumulate = acc ? (ctx.word(acc.value, "accumulator", ["f32"]) as "f32" | undefined) : "f32";
    const ord = f.get("order");
    spec.order = ord ? (ctx.word(ord.value, "reduction order", ["fixed", "any"]) as "fixed" | "any" | undefined) : "fixed";
    if (!spec.accumulate || !spec.order) return undefined;
  }
  return spec;
}

function kernelArgs(ctx: CheckContext, args: Arg[], kind: KernelKind): Map<string, Arg> | undefined {
  const allowed = kind === "gemv" ? ["weights", "activations"] : ["scheme", "rotate"];
  if (kind === "dequantize" || kind === "qdq_backward") allowed.pop(); // rotation belongs to the quantizing side
  const out = new Map<string, Arg>();
  let ok = true;
  args.forEach((a, i) => {
    const name = a.name ?? (i === 0 ? allowed[0] : undefined);
    if (!name) {
      ctx.error(`only the first argument may be positional; name this one (${allowed.slice(1).join(", ")}: ...)`, a.loc);
      ok = false;
    } else if (!allowed.includes(name)) {
      const guess = didYouMean(name, allowed);
      ctx.error(`${kind} takes no argument '${name}'${guess ? ` (did you mean '${guess}'?)` : ""}`, a.loc, `${kind} takes: ${allowed.join(", ")}`);
      ok = false;
    } else if (out.has(name)) {
      ctx.error(`argument '${name}' is given twice`, a.loc);
      ok = false;
    } else out.set(name, a);
  });
  return ok ? out : undefined;
}

function schemeName(ctx: CheckContext, e: Expr, schemeRef: SchemeLookup): Scheme | undefined {
  if (e.kind !== "ref" || e.args || e.body) return ctx.error("expected a scheme name", e.loc);
  return schemeRef(e.name, e);
}

function rotation(ctx: CheckContext, e: Expr, formatRef: FormatLookup): Rotation | undefined {
  if (e.kind !== "ref" || e.name !== "hadamard" || !e.args || e.body)
    return ctx.error("rotate takes hadamard(N) or hadamard(N, seed: S)", e.loc);
  const [size, ...rest] = e.args;
  if (!size || size.name) return ctx.error("hadamard(N) needs its size first", e.loc);
  const n = evaluateInt(ctx, size.value, formatRef, "Hadamard size", 16, 256);
  if (n === undefined) return undefined;
  if ((n & (n - 1)) !== 0) return ctx.error(`Hadamard size must be a power of two, got ${n}`, size.value.loc);
  let seed: number | undefined;
  for (const a of rest) {
    if (a.name !== "seed") return ctx.error("hadamard takes only seed: S after its size", a.loc);
    seed = evaluateInt(ctx, a.value, formatRef, "seed", 0, Number.MAX_SAFE_INTEGER);
    if (seed === undefined) return undefined;
  }
  return seed === undefined ? { kind: "hadamard", size: n } : { kind: "hadamard", size: n, seed };
}

/**
 * Scheme variants for the tuner: the cross product of the sweep axes, each one
 * the base scheme with some fields replaced (as data) and checked by
 * validateScheme. A combination the scheme rules reject is kept as a skip with
 * the checker's reason, never thrown.
 */
import type { Format, RoundingMode } from "../ir/formats/index.js";
import type { Rotation } from "../ir/program.js";
import { SchemeError, validateScheme, type ScaleRule, type Scheme } from "../ir/scheme.js";

export type RotateChoice = "none" | "hadamard";
export const ROTATE_CHOICES: readonly RotateChoice[] = ["none", "hadamard"];

/** Values to sweep per field; an axis left out keeps the base scheme's value. */
export interface Axes {
  readonly block?: readonly number[];
  /** scale format names, looked up in `formats` */
  readonly scale?: readonly string[];
  readonly rule?: readonly ScaleRule[];
  readonly rotate?: readonly RotateChoice[];
  readonly rounding?: readonly RoundingMode[];
}

/** One point of the cross product, as written in reports. */
export interface VariantSpec {
  readonly base: string;
  /** the 1-D block size, or the base's block described ("16x16 tile", "all") when not swept */
  readonly block: number | string;
  readonly scale: string;
  readonly rule: ScaleRule;
  readonly rotate: RotateChoice;
  readonly rounding: RoundingMode;
}

export interface Variant {
  /** a .qs identifier: mxfp4_b64_e8m0_rceil_had */
  readonly name: string;
  /** the plot series: everything but the block size */
  readonly family: string;
  readonly spec: VariantSpec;
  readonly scheme: Scheme;
  /** random Hadamard rotation of the block size before quantizing, undone after */
  readonly rotate?: Rotation;
}

export interface Skipped {
  readonly name: string;
  readonly spec: VariantSpec;
  readonly reason: string;
}

export interface VariantOptions {
  /** every format a scale name may refer to */
  readonly formats: ReadonlyMap<string, Format>;
  /** seed of the random signs of the Hadamard rotation */
  readonly seed: number;
  /** length of the tensors' last axis (the rotation must divide it); omitted: not checked */
  readonly lastAxis?: readonly number[];
}

function blockLabel(s: Scheme): number | string {
  const b = s.block;
  if (b.kind === "tile") return `${b.rows}x${b.cols}`;
  return b.size;
}

export function variantName(spec: VariantSpec): string {
  const parts = [spec.base, `b${spec.block}`.replace(/[^A-Za-z0-9]/g, "_"), spec.scale, spec.rule];
  if (spec.rotate === "hadamard") parts.push("had");
  if (spec.rounding !== "nearest_even") parts.push(spec.rounding === "stochastic" ? "sr" : spec.rounding);
  return parts.join("_");
}

export function familyName(spec: VariantSpec): string {
  const parts = [spec.base, `${spec.scale} ${spec.rule}`];
  if (spec.rotate === "hadamard") parts.push("hadamard");
  if (spec.rounding !== "nearest_even") parts.push(spec.rounding);
  return parts.join(" · ");
}

const isPowerOfTwo = (n: number) => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;

/** Why a rotation of `size` cannot go with this scheme, or undefined when it can. */
function rotationProblem(s: Scheme, size: number | string, lastAxis?: readonly number[]): string | undefined {
  if (s.block.kind !== "axis" || s.block.axis !== -1 || typeof size !== "number")
    return `the Hadamard rotation runs along the last axis over one block; it needs a 1-D block on axis -1`;
  if (!isPowerOfTwo(size) || size < 16 || size > 256)
    return `a Hadamard rotation of the block size needs a power of two in 16..256, not ${size}`;
  const bad = lastAxis?.find((n) => n % size !== 0);
  if (bad !== undefined)
    return `a tensor's last axis (${bad}) is not a multiple of the Hadamard size ${size}`;
  return undefined;
}

/** The cross product of `axes` over each base scheme, in axis order (block varies fastest). */
export function buildVariants(
  bases: readonly Scheme[],
  axes: Axes,
  opts: VariantOptions,
): { variants: Variant[]; skipped: Skipped[] } {
  const variants: Variant[] = [];
  const skipped: Skipped[] = [];
  const seen = new Set<string>();
  for (const base of bases) {
    const blocks = axes.block ?? [blockLabel(base)];
    const scales = axes.scale ?? [base.scale.format.name];
    const rules = axes.rule ?? [base.scale.rule];
    const rotates = axes.rotate ?? ["none"];
    const roundings = axes.rounding ?? [base.rounding.mode];
    for (const rounding of roundings)
      for (const rotate of rotates)
        for (const scale of scales)
          for (const rule of rules)
            for (const block of blocks) {
              const spec: VariantSpec = { base: base.name, block, scale, rule, rotate, rounding };
              const name = variantName(spec);
              if (seen.has(name)) continue;
              seen.add(name);
              const made = makeVariant(base, spec, name, opts);
              if ("reason" in made) skipped.push(made);
              else variants.push(made);
            }
  }
  return { variants, skipped };
}

function makeVariant(base: Scheme, spec: VariantSpec, name: string, opts: VariantOptions): Variant | Skipped {
  const skip = (reason: string): Skipped => ({ name, spec, reason });
  const format = opts.formats.get(spec.scale);
  if (!format) return skip(`no format named ${spec.scale}`);
  let block = base.block;
  if (typeof spec.block === "number") {
    if (block.kind !== "axis")
      return skip(`${base.name} has a ${blockLabel(base)} tile block; a block size applies to 1-D blocks`);
    block = { ...block, size: spec.block };
  }
  let scheme: Scheme;
  try {
    scheme = validateScheme({
      ...base,
      name,
      doc: `${familyName(spec)}, block ${spec.block}: a variant of ${base.name} (qkc tune)`,
      block,
      scale: { format, rule: spec.rule },
      rounding: { mode: spec.rounding, randomBits: base.rounding.randomBits },
    });
  } catch (e) {
    if (e instanceof SchemeError) return skip(e.message.replace(/^scheme \S+: /, ""));
    throw e;
  }
  const family = familyName(spec);
  if (spec.rotate === "none") return { name, family, spec, scheme };
  const problem = rotationProblem(scheme, spec.block, opts.lastAxis);
  if (problem) return skip(problem);
  return {
    name,
    family,
    spec,
    scheme,
    rotate: { kind: "hadamard", size: spec.block as number, seed: opts.seed },
  };
}

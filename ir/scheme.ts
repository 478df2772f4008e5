/**
 * Block-scaled quantization schemes: plain data describing how a tensor becomes
 * codes and scales. The arithmetic lives in ir/interpret; the contract of each
 * field is written out in docs/semantics.md.
 */
import {
  codec,
  floorLog2,
  formatBits,
  NEAREST_EVEN,
  type Format,
  type OverflowPolicy,
  type Rounding,
} from "./formats/index.js";

export type ScaleRule =
  /** OCP MX v1.0: 2^(floor(log2 amax) - emax) */
  | "floor"
  /** 2^(ceil(log2 amax) - emax) */
  | "ceil"
  /** 2^ceil(log2(fl32(amax / Qmax))) (cuBLAS/TE MXFP8, PTX cvt.rp.ue8m0x2): never saturates the block max */
  | "rceil"
  /** amax rounded to the element's mantissa width (RNE), then floor */
  | "even"
  /** fl32(amax / Qmax) rounded to the scale format (RNE, saturating) */
  | "amax"
  /** asymmetric: scale = fl32((max - min) / Qmax) to the scale format, integer zero point */
  | "minmax";

export const SCALE_RULES: readonly ScaleRule[] = [
  "floor",
  "ceil",
  "rceil",
  "even",
  "amax",
  "minmax",
];
export const POWER_OF_TWO_RULES: readonly ScaleRule[] = ["floor", "ceil", "rceil", "even"];

export type BlockShape =
  /** `size` consecutive elements along `axis` (negative counts from the end); "all" = the whole axis */
  | { readonly kind: "axis"; readonly axis: number; readonly size: number | "all" }
  /** rows x cols tiles over the last two axes */
  | { readonly kind: "tile"; readonly rows: number; readonly cols: number };

export interface ScaleSpec {
  readonly format: Format;
  readonly rule: ScaleRule;
}

/**
 * Double quantization of the first-level scales (QLoRA): the scale values, minus
 * their mean when `offset` is "mean", are themselves quantized by `scheme`
 * (1-D along the flattened scale array), after the elements are coded.
 */
export interface DoubleQuant {
  readonly scheme: Scheme;
  readonly offset: "mean" | "none";
}

export interface Scheme {
  readonly name: string;
  /** one line: where the scheme comes from */
  readonly doc?: string;
  readonly element: Format;
  readonly block: BlockShape;
  readonly scale: ScaleSpec;
  /** second-level per-tensor scale (NVFP4, NVINT4): its storage format, f32 */
  readonly tensorScale?: Format;
  readonly doubleQuant?: DoubleQuant;
  readonly rounding: Rounding;
  readonly overflow: OverflowPolicy;
}

export class SchemeError extends Error {
  override name = "SchemeError";
}

export function scheme(
  s: Omit<Scheme, "rounding" | "overflow" | "block"> &
    Partial<Pick<Scheme, "rounding" | "overflow" | "block">>,
): Scheme {
  return validateScheme({
    rounding: NEAREST_EVEN,
    overflow: "saturate",
    block: { kind: "axis", axis: -1, size: 32 },
    ...s,
  });
}

/** Checks the combinations the interpreter cannot give a meaning to; throws SchemeError naming the fix. */
export function validateScheme(s: Scheme): Scheme {
  const fail = (msg: string): never => {
    throw new SchemeError(`scheme ${s.name}: ${msg}`);
  };
  const b = s.block;
  if (b.kind === "axis") {
    if (!Number.isInteger(b.axis)) fail(`block axis must be an integer, got ${b.axis}`);
    if (b.size !== "all" && !(Number.isInteger(b.size) && b.size >= 1 && b.size <= 1 << 20))
      fail(`block size must be an integer in 1..2^20 or "all", got ${b.size}`);
  } else if (![b.rows, b.cols].every((n) => Number.isInteger(n) && n >= 1 && n <= 4096)) {
    fail(`tile dimensions must be integers in 1..4096, got ${b.rows}x${b.cols}`);
  }
  const { rule, format: sf } = s.scale;
  if (POWER_OF_TWO_RULES.includes(rule) && sf.kind !== "float")
    fail(
      `scale rule ${rule} makes powers of two; its scale format must be a float format, not ${sf.name}`,
    );
  if (!codec(sf).hasNaN)
    fail(
      `scale format ${sf.name} has no NaN, so blocks holding NaN or Inf cannot be marked; use a format with NaN`,
    );
  if (rule === "even" && s.element.kind === "table")
    fail(
      `scale rule even needs an element mantissa width; table format ${s.element.name} has none`,
    );
  if (rule === "minmax") {
    const e = s.element;
    if (e.kind !== "int" || e.signed || e.shift !== 0)
      fail(
        `scale rule minmax needs an unsigned integer element with shift 0 (e.g. uint4), not ${e.name}`,
      );
  } else if (isUnsigned(s.element)) {
    fail(
      `element ${s.element.name} is unsigned; signed data needs a signed element or scale rule minmax`,
    );
  }
  if (s.tensorScale) {
    if (rule !== "amax") fail(`a tensor scale needs scale rule amax (NVFP4 style), not ${rule}`);
    if (!codec(s.tensorScale).hasNaN)
      fail(`tensor scale format ${s.tensorScale.name} must be a float with NaN`);
  }
  if (s.rounding.mode === "stochastic") {
    if (s.element.kind === "table")
      fail(`stochastic rounding is not defined for table format ${s.element.name}`);
    const k = s.rounding.randomBits;
    if (!(Number.isInteger(k) && k >= 1 && k <= 32))
      fail(`stochastic rounding takes 1..32 random bits, got ${k}`);
  }
  if (s.doubleQuant && s.doubleQuant.scheme.doubleQuant)
    fail(`double quantization cannot nest further`);
  return s;
}

function isUnsigned(f: Format): boolean {
  return (f.kind === "int" || f.kind === "float") && !f.signed;
}

/** Qmax: the element format's largest finite value. */
export function elementMax(s: Scheme): number {
  return codec(s.element).maxFinite;
}

/** emax: the exponent of the element's largest value (E2M1: 2, E4M3: 8, MXINT8: 0). */
export function elementEmax(s: Scheme): number {
  return floorLog2(elementMax(s));
}

/** Average storage bits per element for a block of full size, ignoring per-tensor scalars. */
export function bitsPerElement(s: Scheme, axisLength = 4096): number {
  const b = s.block;
  const blockElems = b.kind === "tile" ? b.rows * b.cols : b.size === "all" ? axisLength : b.size;
  let scaleBits = formatBits(s.scale.format);
  if (s.scale.rule === "minmax") scaleBits += formatBits(s.element);
  if (s.doubleQuant) {
    const inner = s.doubleQuant.scheme;
    scaleBits = bitsPerElement(inner, axisLength);
  }
  return formatBits(s.element) + scaleBits / blockElems;
}

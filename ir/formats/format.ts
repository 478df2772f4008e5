/**
 * The data model of number formats. A format is plain data; `codec.ts` turns it
 * into encode/decode functions. Every field that libraries disagree on is named
 * here with its default, never implied.
 */

/** What the all-ones exponent field means. */
export type FloatSpecials =
  /** every code is a finite number (E2M1, E2M3, E3M2) */
  | "none"
  /** only the all-ones code (per sign) is NaN; no Inf (E4M3 "fn") */
  | "nan_only"
  /** IEEE 754: all-ones exponent is Inf (mantissa 0) or NaN (E5M2, f16, bf16, f32) */
  | "ieee"
  /** exponent-only scale format: no zero, exponent field 0 is a normal binade, all-ones is NaN (E8M0) */
  | "e8m0";

export interface FloatFormat {
  readonly kind: "float";
  readonly name: string;
  /** exponent bits, 1..8 */
  readonly exponent: number;
  /** mantissa (fraction) bits, 0..23 */
  readonly mantissa: number;
  readonly bias: number;
  readonly signed: boolean;
  /** exponent field 0 encodes subnormals (true) or flushes to zero (false) */
  readonly subnormals: boolean;
  readonly specials: FloatSpecials;
}

export interface IntFormat {
  readonly kind: "int";
  readonly name: string;
  /** 2..16 */
  readonly bits: number;
  readonly signed: boolean;
  /** `symmetric` drops the most negative code from encoding (int8 -> [-127, 127]); decode still accepts it */
  readonly range: "full" | "symmetric";
  /** fixed point: value = integer * 2^-shift (MXINT8 has shift 6) */
  readonly shift: number;
}

export interface TableFormat {
  readonly kind: "table";
  readonly name: string;
  readonly bits: number;
  /** values[code]: 2^bits distinct float32 values, in code order */
  readonly values: readonly number[];
}

export type Format = FloatFormat | IntFormat | TableFormat;

export function formatBits(f: Format): number {
  return f.kind === "float" ? (f.signed ? 1 : 0) + f.exponent + f.mantissa : f.bits;
}

export class FormatError extends Error {
  override name = "FormatError";
}

function check(cond: boolean, message: string): void {
  if (!cond) throw new FormatError(message);
}

/** Knuth's TwoSum: a + b has no rounding error in float64. */
function sumIsExact(a: number, b: number): boolean {
  const s = a + b;
  const bv = s - a;
  const av = s - bv;
  return a - av + (b - bv) === 0;
}

const isInt = (v: number, lo: number, hi: number) => Number.isInteger(v) && v >= lo && v <= hi;

/** Validates a format's fields; throws FormatError naming the field and its allowed range. */
export function validateFormat(f: Format): Format {
  switch (f.kind) {
    case "float": {
      check(
        isInt(f.exponent, 1, 8),
        `format ${f.name}: exponent bits must be 1..8, got ${f.exponent}`,
      );
      check(
        isInt(f.mantissa, 0, 23),
        `format ${f.name}: mantissa bits must be 0..23, got ${f.mantissa}`,
      );
      check(Number.isInteger(f.bias), `format ${f.name}: bias must be an integer, got ${f.bias}`);
      check(formatBits(f) <= 32, `format ${f.name}: at most 32 bits in all, got ${formatBits(f)}`);
      if (f.specials === "e8m0") {
        check(!f.signed, `format ${f.name}: specials e8m0 needs signed: false`);
      }
      if (f.specials === "ieee") {
        check(f.exponent >= 2, `format ${f.name}: ieee specials need at least 2 exponent bits`);
      }
      return f;
    }
    case "int":
      check(isInt(f.bits, 2, 16), `format ${f.name}: integer bits must be 2..16, got ${f.bits}`);
      check(
        isInt(f.shift, -64, 64),
        `format ${f.name}: shift must be an integer in -64..64, got ${f.shift}`,
      );
      check(
        f.range === "full" || f.signed,
        `format ${f.name}: range symmetric needs a signed integer (unsigned ranges are already [0, max])`,
      );
      return f;
    case "table": {
      check(isInt(f.bits, 1, 8), `format ${f.name}: table formats have 1..8 bits, got ${f.bits}`);
      check(
        f.values.length === 2 ** f.bits,
        `format ${f.name}: a ${f.bits}-bit table needs ${2 ** f.bits} values, got ${f.values.length}`,
      );
      for (const v of f.values) {
        check(Number.isFinite(v), `format ${f.name}: table values must be finite, got ${v}`);
        check(
          Math.fround(v) === v,
          `format ${f.name}: table value ${v} is not a float32; write Math.fround(v)`,
        );
      }
      const sorted = [...f.values].sort((a, b) => a - b);
      for (let i = 1; i < sorted.length; i++) {
        check(sorted[i] !== sorted[i - 1], `format ${f.name}: value ${sorted[i]} appears twice`);
        // Rounding compares against (lo + hi) / 2 in float64: it must be exact.
        check(
          sumIsExact(sorted[i - 1], sorted[i]),
          `format ${f.name}: neighbours ${sorted[i - 1]} and ${sorted[i]} are more than 2^29 apart`,
        );
      }
      return f;
    }
  }
}

export const floatFormat = (
  name: string,
  fields: Partial<Omit<FloatFormat, "kind" | "name">> & { exponent: number; mantissa: number },
): FloatFormat =>
  validateFormat({
    kind: "float",
    name,
    bias: 2 ** (fields.exponent - 1) - 1,
    signed: true,
    subnormals: true,
    specials: "none",
    ...fields,
  }) as FloatFormat;

export const intFormat = (
  name: string,
  fields: Partial<Omit<IntFormat, "kind" | "name">> & { bits: number },
): IntFormat =>
  validateFormat({
    kind: "int",
    name,
    signed: true,
    range: "full",
    shift: 0,
    ...fields,
  }) as IntFormat;

export const tableFormat = (name: string, values: readonly number[]): TableFormat =>
  validateFormat({
    kind: "table",
    name,
    bits: Math.round(Math.log2(values.length)),
    values: values.map(Math.fround),
  }) as TableFormat;

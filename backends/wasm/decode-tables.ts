/**
 * Decoders for 16 codes at a time: how a constant table of the KernelIR
 * (`values[code]`, the element decode of lowered kernels) becomes SIMD128 code
 * over one v128 of 16 byte-sized codes. Each decoder is derived from the
 * table's own values at compile time and checked against every entry, bit for
 * bit, before it is used; a table no decoder reproduces exactly stays on the
 * generic path.
 *
 * - swizzle: a table of at most 16 entries (E2M1, NF4, INT4, ...): one
 *   `i8x16.swizzle` per non-zero byte plane of the 32-bit values, then
 *   shuffles that interleave the planes into four 32-bit vectors. Exact by
 *   construction for indices below the table's length (the caller checks them).
 * - float: a 256-entry table that is a sign-magnitude float code (E4M3, E5M2):
 *   the magnitude shifted into f32's exponent and mantissa, times 2^(127 - bias)
 *   (exact: a power of two scaling a value whose result is representable), the
 *   sign bit moved to bit 31, and at most four magnitudes (NaN, Inf) replaced.
 * - int: a 256-entry table that is (signed or unsigned) code times a constant
 *   (MXINT8: code x 2^-6): widen, convert, one multiply.
 */
import type { Table } from "../../ir/kernel.js";
import { binaryen, splatI32 as splat, type ExpressionRef as Ref, type Module } from "./binaryen.js";

export type TableDecoder =
  | {
      readonly kind: "swizzle";
      readonly length: number;
      readonly planes: readonly (number[] | undefined)[];
    }
  | {
      readonly kind: "float";
      readonly mantissa: number;
      readonly scale: number;
      readonly fixups: readonly {
        readonly magnitude: number;
        readonly bits: number;
        readonly keepSign: boolean;
      }[];
    }
  | { readonly kind: "int"; readonly signed: boolean; readonly factor: number };

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const bitsOf = (v: number) => ((f32[0] = v), u32[0]);
const fromBits = (b: number) => ((u32[0] = b), f32[0]);
const entryBits = (t: Table, i: number) =>
  t.type === "f32" ? bitsOf(t.values[i]) : t.values[i] >>> 0;

const cache = new WeakMap<Table, TableDecoder | null>();

/** The SIMD decoder of `t`, or undefined when none reproduces every entry. */
export function tableDecoder(t: Table): TableDecoder | undefined {
  let d = cache.get(t);
  if (d === undefined) {
    d = derive(t) ?? null;
    cache.set(t, d);
  }
  return d ?? undefined;
}

function derive(t: Table): TableDecoder | undefined {
  const n = t.values.length;
  if (n >= 1 && n <= 16) {
    const planes = [0, 1, 2, 3].map((b) => {
      const plane = Array.from({ length: 16 }, (_, j) =>
        j < n ? (entryBits(t, j) >>> (8 * b)) & 0xff : 0,
      );
      return plane.some((x) => x !== 0) ? plane : undefined;
    });
    return { kind: "swizzle", length: n, planes };
  }
  if (n !== 256 || t.type !== "f32") return undefined;
  return deriveInt(t) ?? deriveFloat(t);
}

function deriveInt(t: Table): TableDecoder | undefined {
  for (const signed of [true, false]) {
    const factor = t.values[1];
    if (!Number.isFinite(factor) || factor === 0 || Math.fround(factor) !== factor) continue;
    const ok = t.values.every((v, c) => {
      const n = signed && c >= 128 ? c - 256 : c;
      return bitsOf(Math.fround(Math.fround(n) * factor)) === bitsOf(v);
    });
    if (ok) return { kind: "int", signed, factor };
  }
  return undefined;
}

/** The value the float decoder gives code `c` before fix-ups (as bits). */
function floatBits(c: number, mantissa: number, scale: number): number {
  const mag = fromBits(((c & 0x7f) << (23 - mantissa)) >>> 0);
  return (bitsOf(Math.fround(mag * scale)) | ((c & 0x80) << 24)) >>> 0;
}

function deriveFloat(t: Table): TableDecoder | undefined {
  for (let mantissa = 0; mantissa <= 6; mantissa++) {
    // code 1 << mantissa is exponent field 1, mantissa 0: 2^(1 - bias)
    const one = t.values[1 << mantissa];
    if (!(one > 0) || !Number.isFinite(one)) continue;
    const bias = 1 - Math.log2(one);
    if (!Number.isInteger(bias) || 127 - bias < -126 || 127 - bias > 127) continue;
    const scale = 2 ** (127 - bias);
    const fixups: { magnitude: number; bits: number; keepSign: boolean }[] = [];
    let ok = true;
    for (let m = 0; m < 128 && ok; m++) {
      const pos = entryBits(t, m);
      const neg = entryBits(t, m | 0x80);
      if (floatBits(m, mantissa, scale) === pos && floatBits(m | 0x80, mantissa, scale) === neg)
        continue;
      if (pos === neg) fixups.push({ magnitude: m, bits: pos, keepSign: false });
      else if ((pos ^ 0x80000000) >>> 0 === neg)
        fixups.push({ magnitude: m, bits: pos, keepSign: true });
      else ok = false;
      if (fixups.length > 4) ok = false;
    }
    if (ok) return { kind: "float", mantissa, scale, fixups };
  }
  return undefined;
}

// ---- emission -------------------------------------------------------------

const v128 = () => binaryen.v128;
const ZERO = new Array<number>(16).fill(0);

/** Interleave masks: bytes of a and b alternately (low or high halves), then 16-bit pairs. */
const BYTES_LO = Array.from({ length: 16 }, (_, j) => (j % 2 ? 16 : 0) + (j >> 1));
const BYTES_HI = BYTES_LO.map((x) => x + 8);
const PAIRS = (q: number) =>
  Array.from({ length: 16 }, (_, j) => (j % 4 < 2 ? 0 : 16) + 8 * (q % 2) + 2 * (j >> 2) + (j % 2));

/**
 * The four 32-bit vectors (lanes 0-3, 4-7, 8-11, 12-15) of `t[code]` for the v128
 * of 16 byte codes in local `codes` (each below the table's length for a swizzle
 * decoder). `temp()` gives a fresh v128 local; statements go to `out`.
 */
export function emitTableDecode(
  m: Module,
  d: TableDecoder,
  codes: number,
  temp: () => number,
  out: Ref[],
): number[] {
  const { get, keep } = locals(m, temp, out);
  if (d.kind === "swizzle") {
    const plane = (b: number) => {
      const p = d.planes[b];
      return p ? keep(m.i8x16.swizzle(m.v128.const(p), get(codes))) : undefined;
    };
    const planes = [0, 1, 2, 3].map(plane);
    const pair = (lo: number | undefined, hi: number | undefined, mask: number[]) =>
      lo === undefined && hi === undefined
        ? undefined
        : keep(
            m.i8x16.shuffle(
              lo === undefined ? m.v128.const(ZERO) : get(lo),
              hi === undefined ? m.v128.const(ZERO) : get(hi),
              mask,
            ),
          );
    const low = [pair(planes[0], planes[1], BYTES_LO), pair(planes[0], planes[1], BYTES_HI)];
    const high = [pair(planes[2], planes[3], BYTES_LO), pair(planes[2], planes[3], BYTES_HI)];
    return [0, 1, 2, 3].map((q) => {
      const lo = low[q >> 1];
      const hi = high[q >> 1];
      if (lo === undefined && hi === undefined) return keep(m.v128.const(ZERO));
      return keep(
        m.i8x16.shuffle(
          lo === undefined ? m.v128.const(ZERO) : get(lo),
          hi === undefined ? m.v128.const(ZERO) : get(hi),
          PAIRS(q),
        ),
      );
    });
  }
  const wide = widenBytes(m, codes, d.kind === "int" && d.signed, temp, out);
  if (d.kind === "int")
    return wide.map((w) =>
      keep(m.f32x4.mul(m.f32x4.convert_i32x4_s(get(w)), m.f32x4.splat(m.f32.const(d.factor)))),
    );
  return wide.map((w) => {
    let v = keep(
      m.v128.or(
        m.f32x4.mul(
          m.i32x4.shl(m.v128.and(get(w), splat(m, 0x7f)), m.i32.const(23 - d.mantissa)),
          m.f32x4.splat(m.f32.const(d.scale)),
        ),
        m.i32x4.shl(m.v128.and(get(w), splat(m, 0x80)), m.i32.const(24)),
      ),
    );
    for (const fx of d.fixups) {
      const hit = m.i32x4.eq(m.v128.and(get(w), splat(m, 0x7f)), splat(m, fx.magnitude));
      const value = fx.keepSign
        ? m.v128.or(
            splat(m, fx.bits),
            m.i32x4.shl(m.v128.and(get(w), splat(m, 0x80)), m.i32.const(24)),
          )
        : splat(m, fx.bits);
      v = keep(m.v128.bitselect(value, get(v), hit));
    }
    return v;
  });
}

/** reading a v128 local, and keeping a value in a fresh one (its set goes to `out`) */
function locals(m: Module, temp: () => number, out: Ref[]) {
  return {
    get: (l: number) => m.local.get(l, v128()),
    keep: (r: Ref) => {
      const l = temp();
      out.push(m.local.set(l, r));
      return l;
    },
  };
}

/** 16 byte lanes widened to four i32x4 (zero- or sign-extended). */
export function widenBytes(
  m: Module,
  bytes: number,
  signed: boolean,
  temp: () => number,
  out: Ref[],
): number[] {
  const { get, keep } = locals(m, temp, out);
  const halves = signed
    ? [m.i16x8.extend_low_i8x16_s(get(bytes)), m.i16x8.extend_high_i8x16_s(get(bytes))]
    : [m.i16x8.extend_low_i8x16_u(get(bytes)), m.i16x8.extend_high_i8x16_u(get(bytes))];
  return halves.flatMap((h) => {
    const l = keep(h);
    return signed
      ? [keep(m.i32x4.extend_low_i16x8_s(get(l))), keep(m.i32x4.extend_high_i16x8_s(get(l)))]
      : [keep(m.i32x4.extend_low_i16x8_u(get(l))), keep(m.i32x4.extend_high_i16x8_u(get(l)))];
  });
}

/**
 * The shift decoder of a 16-entry integer table indexed by packed nibbles held
 * as words (nibbles.ts: byte p of 32-bit word j holds code 4p + j in its high
 * nibble). Moving byte p's nibble to the top of each word, `a = w << (24 - 8p)`
 * (p = 3: w itself), puts code 4p + j in bits 31..28 of lane j, so the codes
 * come out in element order by shifts, with no byte widening (the shuffles of
 * the swizzle path). A table `t[c] = n(c) * factor`, n(c) the code as a signed
 * (two's complement) or unsigned 4-bit integer (INT4; onnxruntime's q - 8),
 * decodes as `a >> 28` (arithmetic when signed: the sign extension is free),
 * a conversion, and times the factor unless it is 1.
 *
 * E2M1 is not taken: its shift decode (magnitude into f32's exponent and
 * mantissa, times 2^126) gives code 0.5 as an f32 subnormal, and multiplying
 * subnormals made the packed mxfp4 GEMV 2x slower on an AMD EPYC (Zen 4); the
 * swizzle path (decode-tables.ts) stays faster for it.
 *
 * The decoder is derived from the table's values and checked against all 16
 * entries, bit for bit; a table it does not reproduce (NF4, E2M1) keeps the
 * swizzle path.
 *
 * A signed table of factor 2^28 (`order: any` GEMV's INT4, gemv-any.ts) is
 * the code itself in the top 4 bits of an i32: the top-byte decoder takes the
 * codes as tops (nibbles.ts: one per byte in element order, in the high
 * nibble over a zero low nibble) and moves byte 4p + j to the top byte of lane
 * j by one swizzle whose other bytes are zeros (mask entries 0x80), then
 * converts: two instructions per four codes, no shifts and no multiply (the
 * packed INT4 `order: any` GEMV in 0.83-0.91x the time of the shift decoder's
 * shift, shift, convert; bench/RESULTS.md).
 */
import type { Table } from "../../ir/kernel.js";
import { binaryen, type ExpressionRef as Ref, type Module } from "./binaryen.js";

export interface NibbleDecoder {
  readonly signed: boolean;
  readonly factor: number;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const bitsOf = (v: number) => ((f32[0] = v), u32[0]);

const cache = new WeakMap<Table, NibbleDecoder | null>();

/** The shift decoder of a 16-entry f32 table, or undefined when none reproduces every entry. */
export function nibbleDecoder(t: Table): NibbleDecoder | undefined {
  let d = cache.get(t);
  if (d === undefined) {
    d = t.type === "f32" && t.values.length === 16 ? (derive(t) ?? null) : null;
    cache.set(t, d);
  }
  return d ?? undefined;
}

/** the value decoder `d` gives code `c`, as bits (what the emitted lanes compute) */
export function nibbleValueBits(d: NibbleDecoder, c: number): number {
  const n = d.signed ? (c << 28) >> 28 : c;
  return bitsOf(d.factor === 1 ? n : Math.fround(n * d.factor));
}

function derive(t: Table): NibbleDecoder | undefined {
  const factor = t.values[1];
  if (!Number.isFinite(factor) || factor === 0 || Math.fround(factor) !== factor) return undefined;
  for (const signed of [true, false]) {
    const d: NibbleDecoder = { signed, factor };
    if (t.values.every((v, c) => nibbleValueBits(d, c) === bitsOf(v))) return d;
  }
  return undefined;
}

/** a v128.const of one f32 in all four lanes (V8 keeps such a constant in a register) */
function constant(m: Module, v: number): Ref {
  const b = new Uint8Array(16);
  const view = new DataView(b.buffer);
  for (let j = 0; j < 4; j++) view.setFloat32(4 * j, v, true);
  return m.v128.const(Array.from(b));
}

/**
 * The four f32x4 (codes 0-3, 4-7, 8-11, 12-15) of `t[code]` for the words in v128 local
 * `words`; `temp()` gives a fresh v128 local, statements go to `out`.
 */
export function emitNibbleDecode(
  m: Module,
  d: NibbleDecoder,
  words: number,
  temp: () => number,
  out: Ref[],
): number[] {
  const v128 = binaryen.v128;
  return [0, 1, 2, 3].map((p) => {
    const w = m.local.get(words, v128);
    const top = p === 3 ? w : m.i32x4.shl(w, m.i32.const(24 - 8 * p));
    const n = d.signed ? m.i32x4.shr_s(top, m.i32.const(28)) : m.i32x4.shr_u(top, m.i32.const(28));
    // codes below 16: the signed conversion is exact for unsigned codes too (and one instruction)
    let value = m.f32x4.convert_i32x4_s(n);
    if (d.factor !== 1) value = m.f32x4.mul(value, constant(m, d.factor));
    const l = temp();
    out.push(m.local.set(l, value));
    return l;
  });
}

/** the shift decoder's factor of a table the top-byte decoder takes */
export const TOP_FACTOR = 2 ** 28;

/** whether the top-byte decoder reproduces the table of shift decoder `d` (see the file comment) */
export const topDecodes = (d: NibbleDecoder): boolean => d.signed && d.factor === TOP_FACTOR;

/** lane j takes byte 4p + j into its top byte, zeros below (swizzle entries 0x80 give 0) */
const topMask = (p: number) =>
  Array.from({ length: 16 }, (_, i) => ((i & 3) === 3 ? 4 * p + (i >> 2) : 0x80));

/** The four f32x4 (codes 0-3, 4-7, 8-11, 12-15) of n(code) * 2^28 from v128 local `tops`. */
export function emitTopDecode(m: Module, tops: number, temp: () => number, out: Ref[]): number[] {
  return [0, 1, 2, 3].map((p) => {
    const top = m.i8x16.swizzle(m.local.get(tops, binaryen.v128), m.v128.const(topMask(p)));
    const l = temp();
    out.push(m.local.set(l, m.f32x4.convert_i32x4_s(top)));
    return l;
  });
}

/**
 * A Codec binds a format to fast encode/decode functions. Decoding formats of
 * at most 16 bits reads a precomputed table; encoding is always the exact
 * arithmetic of float.ts / int.ts / table.ts.
 */
import { formatBits, type Format } from "./format.js";
import { decodeFloat, floatEncoder, floatLayout } from "./float.js";
import { decodeInt, encodeInt, intLayout } from "./int.js";
import { decodeTable, encodeTable, tableLayout } from "./table.js";
import type { OverflowPolicy, Rounding } from "./rounding.js";
import { float32MemoTable, memoizeFloat32 } from "./memo.js";

export interface Codec {
  readonly format: Format;
  readonly bits: number;
  /** largest finite value (for integers, maxInt * 2^-shift) */
  readonly maxFinite: number;
  /** smallest positive value */
  readonly minPositive: number;
  readonly hasNaN: boolean;
  readonly hasInf: boolean;
  /** the code NaN inputs encode to: the canonical NaN, or the zero code if the format has no NaN */
  readonly nanCode: number;
  decode(code: number): number;
  encode(x: number, rounding: Rounding, overflow: OverflowPolicy, random?: number): number;
  /** the same encoding with the rounding and overflow bound once: the per-element fast path */
  encoder(rounding: Rounding, overflow: OverflowPolicy): Encoder;
  /** the float32 memo of `encoder` (ir/formats/memo.ts): code per 16-bit input prefix, 0xFFFF = ask the encoder */
  float32Memo(rounding: Rounding, overflow: OverflowPolicy): Uint16Array;
  /** `encoder`, memoized for float32 inputs (deterministic rounding of formats of at most 16 bits) */
  float32Encoder(rounding: Rounding, overflow: OverflowPolicy): Encoder;
}

export type Encoder = (x: number, random: number) => number;

const cache = new WeakMap<Format, Codec>();

export function codec(f: Format): Codec {
  let c = cache.get(f);
  if (!c) {
    c = makeCodec(f);
    cache.set(f, c);
  }
  return c;
}

function makeCodec(f: Format): Codec {
  const bits = formatBits(f);
  let base: Omit<Codec, "minPositive" | "encode" | "float32Encoder" | "float32Memo">;
  switch (f.kind) {
    case "float": {
      const l = floatLayout(f);
      base = {
        format: f,
        bits,
        maxFinite: l.maxFinite,
        hasNaN: l.nanCode !== undefined,
        hasInf: l.infCode !== undefined,
        nanCode: l.nanCode ?? 0,
        decode: (code) => decodeFloat(l, code),
        encoder: (r, o) => floatEncoder(l, r, o),
      };
      break;
    }
    case "int": {
      const l = intLayout(f);
      base = {
        format: f,
        bits,
        maxFinite: l.maxInt * l.step,
        hasNaN: false,
        hasInf: false,
        nanCode: 0,
        decode: (code) => decodeInt(l, code),
        encoder: (r) => (x, random) => encodeInt(l, x, r, random),
      };
      break;
    }
    case "table": {
      const l = tableLayout(f);
      base = {
        format: f,
        bits,
        maxFinite: l.sorted[l.sorted.length - 1],
        hasNaN: false,
        hasInf: false,
        nanCode: encodeTable(l, NaN, { mode: "nearest_even", randomBits: 8 }),
        decode: (code) => decodeTable(l, code),
        encoder: (r) => (x) => encodeTable(l, x, r),
      };
      break;
    }
  }
  let decode = base.decode;
  if (bits <= 16) {
    const table = new Float64Array(2 ** bits).map((_, code) => base.decode(code));
    decode = (code) => table[code];
  }
  let minPositive = Infinity;
  if (bits <= 16) {
    for (let code = 0; code < 2 ** bits; code++) {
      const v = decode(code);
      if (v > 0 && v < minPositive) minPositive = v;
    }
  } else if (f.kind === "float") {
    minPositive = decode(f.specials === "e8m0" ? 0 : f.subnormals ? 1 : 2 ** f.mantissa);
  }
  const encoders = new Map<string, Encoder>();
  const encoder = (r: Rounding, o: OverflowPolicy): Encoder => {
    const key = `${r.mode}/${r.randomBits}/${o}`;
    let e = encoders.get(key);
    if (!e) encoders.set(key, (e = base.encoder(r, o)));
    return e;
  };
  const tables = new Map<string, Uint16Array>();
  const float32Memo = (r: Rounding, o: OverflowPolicy): Uint16Array => {
    if (r.mode === "stochastic" || bits > 16)
      throw new Error(`no float32 memo for ${f.name} with ${r.mode} rounding`);
    const key = `${r.mode}/${o}`;
    let t = tables.get(key);
    if (!t) tables.set(key, (t = float32MemoTable(encoder(r, o))));
    return t;
  };
  const memos = new Map<string, Encoder>();
  const float32Encoder = (r: Rounding, o: OverflowPolicy): Encoder => {
    if (r.mode === "stochastic" || bits > 16) return encoder(r, o);
    const key = `${r.mode}/${o}`;
    let e = memos.get(key);
    if (!e) memos.set(key, (e = memoizeFloat32(encoder(r, o), float32Memo(r, o))));
    return e;
  };
  return {
    ...base,
    decode,
    minPositive,
    encoder,
    float32Memo,
    float32Encoder,
    encode: (x, r, o, random = 0) => encoder(r, o)(x, random),
  };
}

/** Every code of a format of at most 16 bits, in order. */
export function allCodes(c: Codec): number[] {
  if (c.bits > 16) throw new Error(`allCodes: ${c.format.name} has ${c.bits} bits`);
  return Array.from({ length: 2 ** c.bits }, (_, i) => i);
}

/**
 * Table lookups as `i8x16.swizzle`, for the vectorizer (vectorize.ts).
 *
 * Key encoder (one of the two vector encoders of lane-encoder.ts). A lowered
 * element encoder is a float32 memo lookup with the exact encoder behind it
 * (passes/lower/encode.ts lowerEncodeMemo; encoder-probe.ts runs it):
 *     let m = memo[bitcast<u32>(v) >> 16]; if (m == 0xFFFF) { ...exact...; m = code }
 * Its rounding decisions of a small format sit on few float32 bit patterns:
 * every RNE threshold of E2M1 is a multiple of 2^21, so with key = |v|bits >> 21
 * and a sticky bit (are the 21 bits below zero?) the code is a function of
 * (key, sticky) over a short range of keys, constant below and above it. That
 * function is derived here at compile time from the kernel's own code, not
 * from the format: the memo (exact by construction) names the code of every
 * key whose prefixes it decides, and the exact path is evaluated (ir/kernel-eval)
 * at the ends of each other bucket; deterministic rounding is monotonic in the
 * magnitude, so equal codes at both ends are the code of the whole bucket (an
 * exact path that is not a lowered encoder, lowered-encoder.ts, is refused: a
 * hand-written one need not be monotonic inside a bucket). The
 * shift is the largest from 23 down to 16 for which every bucket is constant and
 * the table has at most 64 entries (four swizzles); negative inputs must differ
 * by one XOR mask. NaN inputs are left to the exact path (the vector group falls
 * back to scalar code). With 16 lanes (encode16.ts) the four key vectors are
 * narrowed to one byte vector first, so the swizzles run once per 16 codes.
 *
 * Small tables. An f32 or u32 table of at most 16 entries is four byte planes;
 * lane bytes index them with one swizzle per plane that is not all zeros.
 */
import type { Kernel, Stmt, Table } from "../../ir/kernel.js";
import { binaryen, splatI32 as splat, type ExpressionRef as Ref, type Module } from "./binaryen.js";
import { probeEncoder } from "./encoder-probe.js";
import { isLoweredGrid } from "./lowered-encoder.js";
import { fitRoundEncoder } from "./round-encoder.js";

export { memoPattern } from "./encoder-probe.js";

export interface KeyEncoder {
  /** the f32 variable encoded */
  readonly input: string;
  readonly shift: number;
  readonly key0: number;
  /** 2 * span + 2 codes: below the range, then (point, open interval) per key, then above */
  readonly codes: readonly number[];
  /** code of -x = code of x ^ signXor */
  readonly signXor: number;
}

const cache = new WeakMap<Stmt, KeyEncoder | null>();

/** The key encoder equal to `let m = ...; if (...) {...}` on every non-NaN input, or undefined. */
export function keyEncoder(k: Kernel, l: Stmt, next: Stmt): KeyEncoder | undefined {
  const hit = cache.get(l);
  if (hit !== undefined) return hit ?? undefined;
  const found = derive(k, l, next);
  cache.set(l, found ?? null);
  return found;
}

function derive(k: Kernel, l: Stmt, next: Stmt): KeyEncoder | undefined {
  const p = probeEncoder(k, l, next);
  if (!p || l.op !== "let" || next.op !== "if") return undefined;
  try {
    // the buckets are checked at their ends only, which covers a bucket only for a
    // deterministic rounding (monotonic in the magnitude): a lowered encoder, nothing else
    const grid = fitRoundEncoder(p);
    if (typeof grid === "string" || !isLoweredGrid(next.then, p.input, grid, { assign: l.name }))
      return undefined;
    for (let shift = 23; shift >= 16; shift--) {
      const found = tryShift(shift, p.memo, p.sentinel, p.exact);
      if (found) return { input: p.input, ...found };
    }
  } catch {
    return undefined; // the exact path reads something besides its input: not a pure encoder
  }
  return undefined;
}

const INF = 0x7f800000;

function tryShift(
  shift: number,
  memo: readonly number[],
  sentinel: number,
  exact: (bits: number) => number,
): Omit<KeyEncoder, "input"> | undefined {
  const per = 1 << (shift - 16);
  const infKey = INF >>> shift;
  /** point and open-interval codes of key `key` with sign bits `sign`, or undefined when not constant */
  const bucket = (key: number, sign: number): [number, number] | undefined => {
    const lo = ((key << shift) | sign) >>> 0;
    const first = memo[lo >>> 16];
    let same = first !== sentinel;
    for (let q = 1; same && q < per; q++) same = memo[(lo >>> 16) + q] === first;
    if (same) return [first, first];
    const point = exact(lo);
    const a = exact(lo + 1);
    const b = exact(lo + (1 << shift) - 1);
    if (a !== b) return undefined;
    // the memo's prefixes in the bucket are the kernel's code too: each must be the bucket's
    // (a hand-written memo need not agree with its exact path)
    for (let q = 0; q < per; q++) {
      const m = memo[(lo >>> 16) + q];
      if (m !== sentinel && (m !== a || (q === 0 && m !== point))) return undefined;
    }
    return [point, a];
  };
  const pos: [number, number][] = [];
  const neg: [number, number][] = [];
  for (let key = 0; key < infKey; key++) {
    const b = bucket(key, 0);
    const n = bucket(key, 0x80000000);
    if (!b || !n) return undefined;
    pos.push(b);
    neg.push(n);
  }
  const low = exact(0);
  const high = exact(INF);
  const signXor = exact(0x80000000) ^ low;
  if ((exact((INF | 0x80000000) >>> 0) ^ high) !== signXor) return undefined;
  for (let key = 0; key < infKey; key++)
    if ((pos[key][0] ^ neg[key][0]) !== signXor || (pos[key][1] ^ neg[key][1]) !== signXor)
      return undefined;
  let key0 = 0;
  while (key0 < infKey && pos[key0][0] === low && pos[key0][1] === low) key0++;
  let keyEnd = infKey;
  while (keyEnd > key0 && pos[keyEnd - 1][0] === high && pos[keyEnd - 1][1] === high) keyEnd--;
  const span = keyEnd - key0;
  if (2 * span + 2 > 64 || [low, high, signXor].some((c) => c > 255)) return undefined;
  const codes = [low];
  for (let key = key0; key < keyEnd; key++) codes.push(...pos[key]);
  codes.push(high);
  if (codes.some((c) => c > 255)) return undefined;
  return { shift, key0, codes, signXor };
}

/**
 * The table position of each i32x4 lane of `a` = |bits|, before clamping: 2k + 1
 * on the point k * 2^S, 2k + 2 inside (k, k + 1) * 2^S (floor plus ceiling of
 * a / 2^S, plus 1), less 2 * key0. The narrows saturate (signed to i16, so
 * nothing large wraps, then to 0..255) and `clampBytes` caps at the table end.
 */
function keyIndex(m: Module, a: () => Ref, enc: KeyEncoder): Ref {
  const s = m.i32.const(enc.shift);
  const floor = m.i32x4.shr_u(a(), s);
  const ceil = m.i32x4.shr_u(m.i32x4.add(a(), splat(m, (1 << enc.shift) - 1)), s);
  return m.i32x4.add(m.i32x4.add(floor, ceil), splat(m, 1 - 2 * enc.key0));
}

/** byte positions (saturated to 0..255 by the narrows) clamped to the table */
const clampBytes = (m: Module, bytes: Ref, enc: KeyEncoder) =>
  m.i8x16.min_u(bytes, m.i8x16.splat(m.i32.const(enc.codes.length - 1)));

/** the codes at the byte positions in `index` (one swizzle per 16 table entries) */
function lookup(m: Module, index: () => Ref, enc: KeyEncoder): Ref {
  let code: Ref | undefined;
  for (let c = 0; c * 16 < enc.codes.length; c++) {
    const chunk = Array.from({ length: 16 }, (_, j) => enc.codes[c * 16 + j] ?? 0);
    const idx = c === 0 ? index() : m.i8x16.sub(index(), m.i8x16.splat(m.i32.const(16 * c)));
    const r = m.i8x16.swizzle(m.v128.const(chunk), idx);
    code = code === undefined ? r : m.v128.or(code, r);
  }
  return code!;
}

/** codes of the f32x4 `v` (as i32x4 lanes); NaN lanes are undefined (the caller takes them elsewhere) */
export function emitKeyEncoder(
  m: Module,
  bits: () => Ref,
  enc: KeyEncoder,
  temp: () => number,
): Ref {
  const a = temp();
  const t = temp();
  const zero = splat(m, 0);
  const index = keyIndex(m, () => m.local.get(a, binaryen.v128), enc);
  const bytes = clampBytes(
    m,
    m.i8x16.narrow_i16x8_u(m.i16x8.narrow_i32x4_s(index, zero), zero),
    enc,
  );
  const code = lookup(m, () => m.local.get(t, binaryen.v128), enc);
  const wide = m.i32x4.extend_low_i16x8_u(m.i16x8.extend_low_i8x16_u(code));
  const signed = enc.signXor
    ? m.v128.xor(wide, m.v128.and(m.i32x4.shr_s(bits(), m.i32.const(31)), splat(m, enc.signXor)))
    : wide;
  return m.block(
    null,
    [m.local.set(a, m.v128.and(bits(), splat(m, 0x7fffffff))), m.local.set(t, bytes), signed],
    binaryen.v128,
  );
}

/** the 16 code bytes of four f32x4 `bits` (lanes 0-3, 4-7, 8-11, 12-15); NaN lanes are undefined */
export function emitKeyEncoder16(
  m: Module,
  bits: readonly (() => Ref)[],
  enc: KeyEncoder,
  temp: () => number,
): Ref {
  const a = bits.map(() => temp());
  const t = temp();
  const set = a.map((l, j) => m.local.set(l, m.v128.and(bits[j](), splat(m, 0x7fffffff))));
  const idx = a.map((l) => keyIndex(m, () => m.local.get(l, binaryen.v128), enc));
  const bytes = clampBytes(
    m,
    m.i8x16.narrow_i16x8_u(
      m.i16x8.narrow_i32x4_s(idx[0], idx[1]),
      m.i16x8.narrow_i32x4_s(idx[2], idx[3]),
    ),
    enc,
  );
  let code = lookup(m, () => m.local.get(t, binaryen.v128), enc);
  if (enc.signXor) {
    const neg = bits.map((b) => m.i32x4.shr_s(b(), m.i32.const(31)));
    const mask = m.i8x16.narrow_i16x8_s(
      m.i16x8.narrow_i32x4_s(neg[0], neg[1]),
      m.i16x8.narrow_i32x4_s(neg[2], neg[3]),
    );
    code = m.v128.xor(code, m.v128.and(mask, m.i8x16.splat(m.i32.const(enc.signXor))));
  }
  return m.block(null, [...set, m.local.set(t, bytes), code], binaryen.v128);
}

/** lanes whose |bits| is a NaN */
export function nanLanes(m: Module, bits: Ref): Ref {
  return m.i32x4.gt_u(m.v128.and(bits, splat(m, 0x7fffffff)), splat(m, INF));
}

/** `table[index]` for a table of at most 16 entries and an i32x4 index known to be below its length */
export function emitSmallTable(m: Module, t: Table, index: Ref, temp: () => number): Ref {
  const bytes = new Uint8Array(64);
  const view = new DataView(bytes.buffer);
  t.values.forEach((v, j) =>
    t.type === "f32" ? view.setFloat32(j * 4, v, true) : view.setUint32(j * 4, v, true),
  );
  const spread = temp();
  let out: Ref | undefined;
  for (let b = 0; b < 4; b++) {
    const plane = Array.from({ length: 16 }, (_, j) => bytes[j * 4 + b]);
    if (plane.every((x) => x === 0)) continue;
    const keep = Array.from({ length: 16 }, (_, j) => (j % 4 === b ? 0xff : 0));
    const r = m.v128.and(
      m.i8x16.swizzle(m.v128.const(plane), m.local.get(spread, binaryen.v128)),
      m.v128.const(keep),
    );
    out = out === undefined ? r : m.v128.or(out, r);
  }
  // every byte of a lane indexes with that lane's value
  const set = m.local.set(
    spread,
    m.i8x16.shuffle(index, index, [0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12]),
  );
  return m.block(null, [set, out ?? splat(m, 0)], binaryen.v128);
}

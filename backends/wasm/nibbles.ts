/**
 * Sixteen 4-bit codes read straight from packed bytes, for the 16-lane decode
 * path (decode16.ts): codes at..at+15, where code i lives in byte i >> 1, low
 * nibble first (or high first, the layout's order) for even i.
 *
 * An even `at` covers exactly the 8 bytes from at / 2: one v128.load64_splat
 * (both halves hold them). An odd `at` starts on the second nibble of its byte
 * and ends on the first nibble of the ninth, so that byte comes in by a
 * load8_lane into lane 8. Both loads read only bytes that hold one of the 16
 * codes, never past the packed tensor. The branch is on lane 0's parity, the
 * same for a whole GEMV row (K even) or all of a dequantize's 16-aligned
 * blocks, so it is well predicted.
 *
 * Two forms of the codes are made from the load, each only when a decoder
 * reads it (added to the branch of the load, since V8 does not see that a
 * second branch on the same parity goes the same way):
 * - bytes, one code per byte lane in element order: the low nibbles (and
 *   0x0f), the high ones (a 16-bit shift by 4, and 0x0f), one i8x16.shuffle
 *   that interleaves them (an odd `at` starts one nibble later);
 * - words, for the shift decoder (nibble-words.ts): byte p of 32-bit word j
 *   holds code 4p + j in its HIGH nibble (the low nibble is garbage). An even
 *   `at`: one i16x8.mul by 16 in the low half moves every byte's low nibble
 *   into its high nibble (what spills into the next byte is garbage there), the
 *   high half keeps the raw bytes, and one i8x16.swizzle by a constant mask
 *   picks each code's byte (V8 keeps a constant in-range swizzle mask in a
 *   register; a general i8x16.shuffle mask it rebuilds with four instructions
 *   on every use). An odd `at`: the bytes transposed and shifted by 4;
 * - tops, for the top-byte decoder (nibble-words.ts): one code per byte lane in
 *   element order, in the HIGH nibble over a zero low nibble. The low nibbles
 *   (and 0x0f, then a 16-bit shift by 4: nothing crosses into the next byte)
 *   and the high ones (and 0xf0) interleaved by the same shuffle as the bytes,
 *   which for an even `at` V8 lowers to one punpcklbw.
 */
import type { CodeLayout } from "../../ir/graph.js";
import { binaryen, type ExpressionRef as Ref, type Module } from "./binaryen.js";

type Order = Extract<CodeLayout, { kind: "nibbles" }>["order"];

/**
 * The shuffle of (low nibbles, high nibbles) that puts codes in element order, for a
 * first code at nibble `skip` (0 or 1) of the first byte: code e is nibble e + skip.
 */
export function nibbleShuffle(order: Order, skip: 0 | 1): number[] {
  return Array.from({ length: 16 }, (_, e) => {
    const q = e + skip;
    const high = (q & 1) === (order === "low_first" ? 1 : 0);
    return (high ? 16 : 0) + (q >> 1);
  });
}

/**
 * The swizzle that makes the words from (low half: each byte times 16, high half: the
 * raw bytes): byte p of word j is code e = 4p + j, a low nibble (low half) or a high one.
 */
export function nibbleWordSwizzle(order: Order): number[] {
  return Array.from({ length: 16 }, (_, i) => {
    const e = 4 * (i & 3) + (i >> 2);
    const low = (e & 1) === (order === "low_first" ? 0 : 1);
    return (low ? 0 : 8) + (e >> 1);
  });
}

/** byte p of word j takes byte 4p + j: 16 codes in element order to word order */
export const WORD_TRANSPOSE = Array.from({ length: 16 }, (_, i) => 4 * (i & 3) + (i >> 2));

/** the words of 16 codes below 16, one per byte lane in element order: transposed, each shifted to its high nibble */
export const byteWords = (m: Module, bytes: Ref): Ref =>
  m.i16x8.shl(m.i8x16.swizzle(bytes, m.v128.const(WORD_TRANSPOSE)), m.i32.const(4));

/** 16 codes read from nibbles: v128 locals, each form made on its first use */
export interface NibbleCodes {
  /** one code per byte lane, in element order */
  readonly bytes: () => number;
  /** the words of the shift decoder (nibble-words.ts) */
  readonly words: () => number;
  /** one code per byte lane in element order, in its high nibble, the low nibble 0 */
  readonly tops: () => number;
}

/** binaryen.js's Block.appendChild (not in its typings) */
const appendChild = (
  binaryen as unknown as { Block: { appendChild(block: Ref, child: Ref): number } }
).Block.appendChild;

/** i16 lanes 0-3 times 16 (each low byte's low nibble to its high nibble), 4-7 times 1 */
const SIXTEEN_LOW = [0, 1, 2, 3, 4, 5, 6, 7].flatMap((h) => (h < 4 ? [16, 0] : [1, 0]));

/**
 * Emits (to `out`) the load of codes lane0..lane0+15 (lane0 an i32 local, the index of
 * the first code) from the packed bytes at i32 local `base`, as one branch on lane0's
 * parity; the forms asked for later are added to its two arms.
 */
export function nibbleCodes(
  m: Module,
  base: number,
  lane0: number,
  order: Order,
  temp: () => number,
  out: Ref[],
): NibbleCodes {
  const i32 = binaryen.i32;
  const v128 = binaryen.v128;
  const address = () =>
    m.i32.add(m.local.get(base, i32), m.i32.shr_u(m.local.get(lane0, i32), m.i32.const(1)));
  const raw = temp();
  const get = (l: number) => m.local.get(l, v128);
  // the high nibbles by a 16-bit shift and the same mask: V8 lowers i8x16.shr_u to a
  // shift plus a mask it builds anew on every use
  const nibble = (v: Ref) => m.v128.and(v, m.i8x16.splat(m.i32.const(0x0f)));
  const interleave = (skip: 0 | 1) =>
    m.i8x16.shuffle(
      nibble(get(raw)),
      nibble(m.i16x8.shr_u(get(raw), m.i32.const(4))),
      nibbleShuffle(order, skip),
    );
  const interleaveTops = (skip: 0 | 1) =>
    m.i8x16.shuffle(
      m.i16x8.shl(nibble(get(raw)), m.i32.const(4)),
      m.v128.and(get(raw), m.i8x16.splat(m.i32.const(0xf0))),
      nibbleShuffle(order, skip),
    );
  const eight = () => m.v128.load64_splat(0, 1, address());
  const odd = m.block(null, [m.local.set(raw, m.v128.load8_lane(8, 1, 8, address(), eight()))]);
  const even = m.block(null, [m.local.set(raw, eight())]);
  out.push(m.if(m.i32.and(m.local.get(lane0, i32), m.i32.const(1)), odd, even));
  /** a form, made by `ifOdd` / `ifEven` in the two arms, once */
  const form = (ifOdd: () => Ref, ifEven: () => Ref) => {
    let l: number | undefined;
    return () => {
      if (l === undefined) {
        l = temp();
        appendChild(odd, m.local.set(l, ifOdd()));
        appendChild(even, m.local.set(l, ifEven()));
      }
      return l;
    };
  };
  return {
    bytes: form(
      () => interleave(1),
      () => interleave(0),
    ),
    words: form(
      () => byteWords(m, interleave(1)),
      () =>
        m.i8x16.swizzle(
          m.i16x8.mul(get(raw), m.v128.const(SIXTEEN_LOW)),
          m.v128.const(nibbleWordSwizzle(order)),
        ),
    ),
    tops: form(
      () => interleaveTops(1),
      () => interleaveTops(0),
    ),
  };
}

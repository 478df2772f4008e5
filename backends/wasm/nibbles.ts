/**
 * Sixteen 4-bit codes read straight from packed bytes, for the 16-lane decode
 * path (decode16.ts): codes at..at+15, where code i lives in byte i >> 1, low
 * nibble first (or high first, the layout's order) for even i.
 *
 * An even `at` covers exactly the 8 bytes from at / 2: one v128.load64_zero,
 * the low nibbles (and 0x0f) and the high ones (a 16-bit shift by 4, and
 * 0x0f), and one i8x16.shuffle that interleaves them into element order. An odd `at`
 * starts on the second nibble of its byte and ends on the first nibble of the
 * ninth, so that byte comes in by a load8_lane into lane 8 and the shuffle
 * starts one nibble later. Both loads read only bytes that hold one of the 16
 * codes, never past the packed tensor. The branch is on lane 0's parity, the
 * same for a whole GEMV row (K even) or all of a dequantize's 16-aligned
 * blocks, so it is well predicted.
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
 * Emits (to `out`) the load of codes lane0..lane0+15 (lane0 an i32 local, the index of
 * the first code) from the packed bytes at i32 local `base`; returns the v128 local
 * holding them, one code per byte lane.
 */
export function nibbleCodes(
  m: Module,
  base: number,
  lane0: number,
  order: Order,
  temp: () => number,
  out: Ref[],
): number {
  const i32 = binaryen.i32;
  const v128 = binaryen.v128;
  const address = () =>
    m.i32.add(m.local.get(base, i32), m.i32.shr_u(m.local.get(lane0, i32), m.i32.const(1)));
  const raw = temp();
  const codes = temp();
  // the high nibbles by a 16-bit shift and the same mask: V8 lowers i8x16.shr_u to a
  // shift plus a mask it builds anew on every use
  const nibble = (v: Ref) => m.v128.and(v, m.i8x16.splat(m.i32.const(0x0f)));
  const interleave = (skip: 0 | 1) =>
    m.local.set(
      codes,
      m.i8x16.shuffle(
        nibble(m.local.get(raw, v128)),
        nibble(m.i16x8.shr_u(m.local.get(raw, v128), m.i32.const(4))),
        nibbleShuffle(order, skip),
      ),
    );
  const eight = () => m.v128.load64_zero(0, 1, address());
  out.push(
    m.if(
      m.i32.and(m.local.get(lane0, i32), m.i32.const(1)),
      m.block(null, [
        m.local.set(raw, m.v128.load8_lane(8, 1, 8, address(), eight())),
        interleave(1),
      ]),
      m.block(null, [m.local.set(raw, eight()), interleave(0)]),
    ),
  );
  return codes;
}

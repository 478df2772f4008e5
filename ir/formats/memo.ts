/**
 * A memo of an exact encoder over float32 inputs, indexed by the top 16 bits of
 * the input's binary32 pattern. An entry is filled only when the smallest and the
 * largest float32 with that prefix encode to the same code: deterministic
 * rounding is monotonic, so every float32 between them does too. Other prefixes
 * (ties, rounding boundaries, Inf/NaN edges) fall back to the exact encoder.
 * The memo never computes anything itself; it only remembers the exact answers.
 */
import type { Encoder } from "./codec.js";

const AMBIGUOUS = 0xffff;
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

const bitsToFloat = (bits: number) => {
  u32[0] = bits;
  return f32[0];
};

/** The memo itself: code per 16-bit prefix, or AMBIGUOUS (0xFFFF) where the exact encoder must decide. */
export function float32MemoTable(exact: Encoder): Uint16Array {
  const memo = new Uint16Array(65536);
  for (let prefix = 0; prefix < 65536; prefix++) {
    const lo = exact(bitsToFloat(prefix * 65536), 0);
    const hi = exact(bitsToFloat(prefix * 65536 + 65535), 0);
    memo[prefix] = lo === hi && lo < AMBIGUOUS ? lo : AMBIGUOUS;
  }
  return memo;
}

export const MEMO_AMBIGUOUS = AMBIGUOUS;

/** `exact` in front of its memo table (one table per encoder; lowered kernels read the same table). */
export function memoizeFloat32(
  exact: Encoder,
  memo: Uint16Array = float32MemoTable(exact),
): Encoder {
  return (x) => {
    f32[0] = x;
    const code = memo[u32[0] >>> 16];
    return code === AMBIGUOUS || f32[0] !== x ? exact(x, 0) : code;
  };
}

/**
 * Philox4x32-10 as a wasm function `philox_bits(seed_lo, seed_hi, index, bits)`:
 * the same stream as ir/philox.ts randomBits (counter (index >>> 2, 0, 0, 0),
 * word index & 3, top `bits` bits). The 32x32->64 products use i64 multiplies.
 */
import binaryen from "binaryen";

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9 | 0;
const W1 = 0xbb67ae85 | 0;

export function emitPhilox(m: binaryen.Module): void {
  const i32 = binaryen.i32;
  // params 0 seed_lo, 1 seed_hi, 2 index, 3 bits; locals 4..7 c0..c3, 8 k0, 9 k1, 10 p0 (i64), 11 p1 (i64), 12 word
  const g = (i: number) => m.local.get(i, i32);
  const g64 = (i: number) => m.local.get(i, binaryen.i64);
  const s = (i: number, v: number) => m.local.set(i, v);
  const lo = (p: number) => m.i32.wrap(g64(p));
  const hi = (p: number) => m.i32.wrap(m.i64.shr_u(g64(p), m.i64.const(32n)));
  const mul = (c: number, x: number) => m.i64.mul(m.i64.const(BigInt(c >>> 0)), m.i64.extend_u(x));
  const body: number[] = [
    s(4, m.i32.shr_u(g(2), m.i32.const(2))),
    s(5, m.i32.const(0)),
    s(6, m.i32.const(0)),
    s(7, m.i32.const(0)),
    s(8, g(0)),
    s(9, g(1)),
  ];
  for (let round = 0; round < 10; round++) {
    if (round > 0)
      body.push(s(8, m.i32.add(g(8), m.i32.const(W0))), s(9, m.i32.add(g(9), m.i32.const(W1))));
    body.push(
      s(10, mul(M0, g(4))),
      s(11, mul(M1, g(6))),
      s(4, m.i32.xor(m.i32.xor(hi(11), g(5)), g(8))),
      s(5, lo(11)),
      s(6, m.i32.xor(m.i32.xor(hi(10), g(7)), g(9))),
      s(7, lo(10)),
    );
  }
  const w = m.i32.and(g(2), m.i32.const(3));
  body.push(
    s(
      12,
      m.select(
        m.i32.eq(w, m.i32.const(0)),
        g(4),
        m.select(
          m.i32.eq(m.i32.and(g(2), m.i32.const(3)), m.i32.const(1)),
          g(5),
          m.select(m.i32.eq(m.i32.and(g(2), m.i32.const(3)), m.i32.const(2)), g(6), g(7)),
        ),
      ),
    ),
    m.return(
      m.select(
        m.i32.ge_u(g(3), m.i32.const(32)),
        g(12),
        m.i32.shr_u(g(12), m.i32.sub(m.i32.const(32), g(3))),
      ),
    ),
  );
  m.addFunction(
    "philox_bits",
    binaryen.createType([i32, i32, i32, i32]),
    i32,
    [i32, i32, i32, i32, i32, i32, binaryen.i64, binaryen.i64, i32],
    m.block(null, body),
  );
}

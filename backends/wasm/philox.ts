/**
 * Philox4x32-10 as an internal wasm function `(seed_lo, seed_hi, index) -> word`:
 * the stream of ir/philox.ts `randomBits` for a 32-bit element index: counter
 * (index >>> 2, 0, 0, 0), key (seed_lo, seed_hi), word `index & 3`. The caller
 * keeps the top `bits` bits. Each 32x32->64 product is one i64 multiply of
 * zero-extended operands; the rounds are unrolled.
 */
import { binaryen, setLocalName, type ExpressionRef, type Module } from "./binaryen.js";

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9 | 0;
const W1 = 0xbb67ae85 | 0;

/** The internal function name; it is not exported. */
export const PHILOX = "qkc_philox4x32";

export function emitPhilox(m: Module): void {
  const { i32, i64 } = binaryen;
  // locals: params 0 seed_lo, 1 seed_hi, 2 index; then c0..c3, k0, k1 (i32), p0, p1 (i64)
  const names = ["seed_lo", "seed_hi", "index", "c0", "c1", "c2", "c3", "k0", "k1", "p0", "p1"];
  const [, , INDEX, C0, C1, C2, C3, K0, K1, P0, P1] = names.keys();
  const get = (i: number) => m.local.get(i, i32);
  const set = (i: number, v: ExpressionRef) => m.local.set(i, v);
  const lo = (p: number) => m.i32.wrap(m.local.get(p, i64));
  const hi = (p: number) => m.i32.wrap(m.i64.shr_u(m.local.get(p, i64), m.i64.const(32n)));
  const mul = (c: number, x: number) => m.i64.mul(m.i64.const(BigInt(c)), m.i64.extend_u(get(x)));
  const body: ExpressionRef[] = [
    set(C0, m.i32.shr_u(get(INDEX), m.i32.const(2))),
    set(K0, get(0)),
    set(K1, get(1)),
  ];
  for (let round = 0; round < 10; round++) {
    if (round > 0)
      body.push(
        set(K0, m.i32.add(get(K0), m.i32.const(W0))),
        set(K1, m.i32.add(get(K1), m.i32.const(W1))),
      );
    body.push(
      set(P0, mul(M0, C0)),
      set(P1, mul(M1, C2)),
      set(C0, m.i32.xor(m.i32.xor(hi(P1), get(C1)), get(K0))),
      set(C1, lo(P1)),
      set(C2, m.i32.xor(m.i32.xor(hi(P0), get(C3)), get(K1))),
      set(C3, lo(P0)),
    );
  }
  // word index & 3: c0, c1, c2 or c3
  const word = m.i32.and(get(INDEX), m.i32.const(3));
  const pick = (w: number) => m.i32.eq(word, m.i32.const(w));
  body.push(
    m.select(pick(0), get(C0), m.select(pick(1), get(C1), m.select(pick(2), get(C2), get(C3)))),
  );
  const f = m.addFunction(
    PHILOX,
    binaryen.createType([i32, i32, i32]),
    i32,
    [i32, i32, i32, i32, i32, i32, i64, i64],
    m.block(null, body, i32),
  );
  names.forEach((n, i) => setLocalName(f, i, n));
}

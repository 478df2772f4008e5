/**
 * Element and scale encoding as KernelIR: the same results as ir/formats
 * (which the tests check), computed the way hardware does, on the bits of an
 * f32 input with integer ops, compares and selects.
 */
import { K, type Expr } from "../../ir/kernel.js";
import {
  codec,
  floorLog2,
  pow2,
  type Format,
  type FloatFormat,
  type IntFormat,
  type TableFormat,
} from "../../ir/formats/index.js";
import { floatLayout } from "../../ir/formats/float.js";
import { intLayout } from "../../ir/formats/int.js";
import { tableLayout } from "../../ir/formats/table.js";
import type { OverflowPolicy, Rounding } from "../../ir/formats/index.js";
import { Block, E } from "./builder.js";
import { MEMO_AMBIGUOUS } from "../../ir/formats/memo.js";
import type { Table } from "../../ir/kernel.js";

const u = K.u32;
const i = K.i32;

/** Encodes f32 `v` into `format`; `random` (u32, `rounding.randomBits` bits) feeds stochastic rounding. Result u32. */
export function lowerEncode(
  b: Block,
  format: Format,
  rounding: Rounding,
  overflow: OverflowPolicy,
  v: Expr,
  random: Expr = u(0),
): Expr {
  switch (format.kind) {
    case "float":
      return lowerFloatEncode(b, format, rounding, overflow, v, random);
    case "int":
      return lowerIntEncode(b, format, rounding, v, random);
    case "table":
      return lowerTableEncode(b, format, rounding, v);
  }
}

/** Does the magnitude round up? `rem` of `half * 2` discarded, `loOdd` the parity of the lower code. */
function roundsUp(rounding: Rounding, rem: Expr, half: Expr, loOdd: Expr, negative: Expr): Expr {
  const above = E.gt(rem, half);
  const tie = E.eq(rem, half);
  switch (rounding.mode) {
    case "nearest_even":
      return E.or(above, E.and(tie, loOdd));
    case "nearest_away":
      return E.or(above, tie);
    case "nearest_lower":
      return E.or(above, E.and(tie, negative));
    case "toward_zero":
      return K.bool(false);
    case "stochastic":
      throw new Error("stochastic rounding is decided by truncated fraction bits, not halves");
  }
}

/** floor(t * 2^k) + r >= 2^k, without overflow: t*2^k given as `scaled` (u32, < 2^k). */
function stochasticUp(scaled: Expr, random: Expr, k: number): Expr {
  return E.and(E.ne(scaled, u(0)), E.ge(random, E.sub(u(pow2(k) % 2 ** 32), scaled)));
}

function lowerFloatEncode(
  b: Block,
  f: FloatFormat,
  rounding: Rounding,
  overflow: OverflowPolicy,
  v: Expr,
  random: Expr,
): Expr {
  const l = floatLayout(f);
  const m = f.mantissa;
  const eMax = floorLog2(l.maxFinite);
  const sr = rounding.mode === "stochastic";
  const k = rounding.randomBits;

  const bits = b.let("bits", E.bits(v));
  const neg = b.let("neg", E.ne(E.shr(bits, u(31)), u(0)));
  const ab = b.let("ab", E.and(bits, u(0x7fffffff)));
  const e32 = b.let("e32", E.shr(ab, u(23)));
  const sub32 = E.eq(e32, u(0));
  // |v| = s * 2^lsb with s a 24-bit integer
  const s = b.let("s", E.select(sub32, ab, E.or(E.and(ab, u(0x7fffff)), u(0x800000))));
  const lsb = b.let("lsb", E.select(sub32, i(-149), E.sub(E.i32(e32), i(150))));
  const e = b.let("e", E.sub(E.add(lsb, i(31)), E.i32(K.un("clz", s)))); // floor(log2 |v|); v = 0 gives lsb - 1
  const eEff = b.let("eeff", E.max(E.min(e, i(eMax + 1)), i(l.emin)));
  const d = b.let("d", E.sub(E.sub(eEff, i(m)), lsb)); // low bits of s below the target quantum
  const dc = b.let("dc", E.u32(E.min(E.max(d, i(0)), i(31))));
  const n = b.let("n", E.select(E.le(d, i(0)), E.shl(s, E.u32(E.sub(i(0), d))), E.shr(s, dc)));
  const rem = b.let("rem", E.select(E.le(d, i(0)), u(0), E.and(s, E.sub(E.shl(u(1), dc), u(1)))));
  const codeLo = b.let("codelo", E.add(E.mul(E.u32(E.add(eEff, i(f.bias - 1))), u(pow2(m))), n));

  let up: Expr;
  if (sr) {
    // floor(rem / 2^d * 2^k): shift right by d - k, or left by k - d
    const dk = b.let("dk", E.sub(d, i(k)));
    const scaled = E.select(
      E.ge(dk, i(32)),
      u(0),
      E.select(
        E.ge(dk, i(0)),
        E.shr(rem, E.u32(E.min(dk, i(31)))),
        E.shl(rem, E.u32(E.min(E.sub(i(0), dk), i(31)))),
      ),
    );
    up = stochasticUp(b.let("scaled", scaled), random, k);
  } else {
    const half = E.select(
      E.ge(d, i(32)),
      u(0x80000000),
      E.shl(u(1), E.u32(E.max(E.sub(d, i(1)), i(0)))),
    );
    up = E.and(E.gt(d, i(0)), roundsUp(rounding, rem, half, E.ne(E.and(codeLo, u(1)), u(0)), neg));
  }
  const maxCode = u(l.maxFiniteCode);
  const overflowCode = u(
    overflow === "saturate" || rounding.mode === "toward_zero"
      ? l.maxFiniteCode
      : (l.infCode ?? l.nanCode ?? l.maxFiniteCode),
  );
  const infinityCode = u(
    overflow === "saturate" ? l.maxFiniteCode : (l.infCode ?? l.nanCode ?? l.maxFiniteCode),
  );
  let mag = b.let("mag", E.add(codeLo, E.b2u(up)));
  mag = b.let("mag", E.select(E.or(E.gt(e, i(eMax)), E.gt(mag, maxCode)), overflowCode, mag));

  // below the smallest normal: formats without zero or without subnormals
  const below = E.lt(e, i(l.emin));
  if (!l.hasZero) {
    mag = b.let("mag", E.select(below, u(0), mag));
  } else if (!f.subnormals) {
    const a = E.float(ab);
    let upFlush: Expr;
    if (sr) {
      const scaled = E.u32(K.un("floor", E.mul(a, K.f32(pow2(k - l.emin)))));
      upFlush = stochasticUp(b.let("scaledf", scaled), random, k);
    } else {
      const mid = K.f32(l.minNormal / 2);
      const lowOdd = K.bool(false); // code 0 is even
      upFlush =
        rounding.mode === "toward_zero"
          ? K.bool(false)
          : E.or(
              E.gt(a, mid),
              E.and(
                E.eq(a, mid),
                rounding.mode === "nearest_even"
                  ? lowOdd
                  : rounding.mode === "nearest_away"
                    ? K.bool(true)
                    : neg,
              ),
            );
    }
    mag = b.let("mag", E.select(below, E.select(upFlush, u(pow2(m)), u(0)), mag));
  }
  mag = b.let("mag", E.select(E.eq(ab, u(0x7f800000)), infinityCode, mag));

  const isNan = E.gt(ab, u(0x7f800000));
  let code: Expr;
  if (!f.signed) code = E.select(neg, u(0), mag);
  else if (l.nanCode !== undefined)
    code = E.select(E.eq(mag, u(l.nanCode)), mag, E.select(neg, E.add(mag, u(l.signBit)), mag));
  else code = E.select(neg, E.add(mag, u(l.signBit)), mag);
  return b.let("code", E.select(isNan, u(l.nanCode ?? 0), code));
}

function lowerIntEncode(b: Block, f: IntFormat, rounding: Rounding, v: Expr, random: Expr): Expr {
  const l = intLayout(f);
  const w = b.let("w", E.mul(v, K.f32(pow2(f.shift)))); // v / step, exact
  const neg = b.let("neg", E.ne(E.shr(E.bits(w), u(31)), u(0)));
  const aw0 = K.un("abs", w);
  // clamp first: every integer format's range is far below 2^23, and NaN/Inf must not reach the conversion
  const aw = b.let("aw", E.select(E.lt(aw0, K.f32(2 ** 23)), aw0, K.f32(2 ** 23)));
  const lo = b.let("lo", K.un("floor", aw));
  const frac = b.let("frac", E.sub(aw, lo)); // exact below 2^23
  const loInt = b.let("loi", E.i32(lo));
  let up: Expr;
  if (rounding.mode === "stochastic") {
    const scaled = b.let(
      "scaled",
      E.u32(K.un("floor", E.mul(frac, K.f32(pow2(rounding.randomBits))))),
    );
    up = stochasticUp(scaled, random, rounding.randomBits);
  } else {
    up = roundsUp(rounding, frac, K.f32(0.5), E.ne(E.and(loInt, i(1)), i(0)), neg);
  }
  const mag = E.add(loInt, E.i32(E.b2u(up)));
  const signed = b.let("int", E.select(neg, E.sub(i(0), mag), mag));
  const clamped = E.min(E.max(signed, i(l.minInt)), i(l.maxInt));
  const code = E.and(E.u32(clamped), u(l.codes - 1));
  return b.let("code", E.select(E.ne(w, w), u(0), code));
}

/**
 * Tables: the code index is the number of thresholds x passes (rounding is
 * monotone), each an f32 compare: x > t, or x >= t where the threshold itself
 * rounds up. Midpoints that are not float32 become their round-down, exclusive.
 */
export function tableThresholds(
  f: TableFormat,
  rounding: Rounding,
): { t: number; inclusive: boolean }[] {
  const l = tableLayout(f);
  const s = l.sorted;
  const out: { t: number; inclusive: boolean }[] = [];
  for (let j = 0; j + 1 < s.length; j++) {
    const lo = s[j];
    const hi = s[j + 1];
    if (rounding.mode === "toward_zero") {
      out.push(
        Math.abs(hi) < Math.abs(lo) ? { t: lo, inclusive: false } : { t: hi, inclusive: true },
      );
      continue;
    }
    const mid = (lo + hi) / 2; // exact (validateFormat)
    const tieUp =
      rounding.mode === "nearest_even"
        ? l.codeOf[j + 1] % 2 === 0
        : rounding.mode === "nearest_away"
          ? Math.abs(hi) > Math.abs(lo)
          : false;
    const m32 = Math.fround(mid);
    if (m32 === mid) out.push({ t: mid, inclusive: tieUp });
    else out.push({ t: m32 < mid ? m32 : nextDown(m32), inclusive: false });
  }
  return out;
}

function nextDown(x: number): number {
  const f = new Float32Array([x]);
  const u32 = new Uint32Array(f.buffer);
  u32[0] += x > 0 ? -1 : 1;
  if (x === 0) u32[0] = 0x80000001;
  return f[0];
}

function lowerTableEncode(b: Block, f: TableFormat, rounding: Rounding, v: Expr): Expr {
  const x = b.let("x", v);
  let index: Expr = u(0);
  for (const { t, inclusive } of tableThresholds(f, rounding))
    index = E.add(index, E.b2u(inclusive ? E.ge(x, K.f32(t)) : E.gt(x, K.f32(t))));
  const idx = b.let("idx", index);
  const code = K.table(tableName(f, "codes"), idx, "u32");
  return b.let("code", E.select(E.ne(x, x), u(codec(f).nanCode), code));
}

export function tableName(f: Format, what: string): string {
  return `${f.name}_${what}`;
}

/** The table a lowered table encoder reads: sorted position -> code. */
export function tableCodesTable(f: TableFormat): { name: string; type: "u32"; values: number[] } {
  return { name: tableName(f, "codes"), type: "u32", values: [...tableLayout(f).codeOf] };
}

/**
 * Element encoding through the interpreter's float32 memo (ir/formats/memo.ts):
 * one table load per element; only the rare inputs whose 16-bit prefix straddles
 * a rounding boundary run the exact encoder, inside a branch. Deterministic
 * rounding of formats of at most 16 bits only; `tables` receives the memo.
 */
export function lowerEncodeMemo(
  b: Block,
  format: Format,
  rounding: Rounding,
  overflow: OverflowPolicy,
  v: Expr,
  addTable: (t: Table) => void,
): Expr {
  const c = codec(format);
  const name = tableName(format, `memo_${rounding.mode}_${overflow}`);
  // the interpreter's own memo table (ir/formats/codec.ts), so both read the same answers
  const table: Table = { name, type: "u32", values: [...c.float32Memo(rounding, overflow)] };
  addTable(table);
  const memo = b.mutable("memo", K.table(name, E.shr(E.bits(v), u(16)), "u32"));
  const exact = new Block("x");
  const code = lowerEncode(exact, format, rounding, overflow, v);
  exact.push(memo.set(code));
  b.push(K.if(E.eq(memo.ref, u(MEMO_AMBIGUOUS)), exact.stmts));
  return memo.ref;
}

/**
 * Quantize, dequantize and qdq kernels as KernelIR, for 1-D blocks along any
 * axis and 2-D tiles (geometry.ts). Loops and statement order follow
 * ir/interpret/quantize.ts; the arithmetic comes from encode.ts and scale.ts.
 */
import {
  K,
  type BufferParam,
  type ElemType,
  type Expr,
  type Kernel,
  type Param,
  type ScalarParam,
  type Stmt,
  type Table,
} from "../../ir/kernel.js";
import {
  codec,
  f16,
  formatBits,
  NEAREST_EVEN,
  type Codec,
  type Format,
} from "../../ir/formats/index.js";
import { elementMax, type Scheme } from "../../ir/scheme.js";
import type { DType } from "../../ir/tensor.js";
import { Block, E } from "./builder.js";
import { lowerEncode, lowerEncodeMemo, tableCodesTable } from "./encode.js";
import { decodeExpr, lowerBlockScale, valuesTable } from "./scale.js";
import { geometry } from "./geometry.js";
import { packedCodeExpr } from "./pack.js";
import type { CodeLayout } from "../../ir/graph.js";
import type { ScaleLayout } from "../../ir/program.js";
import { blockScaleAt } from "./scale-place.js";

const u = K.u32;
const i = K.i32;
const f = K.f32;

export type KernelKindLowered = "quantize" | "dequantize" | "qdq" | "qdq_backward";

export class LoweringError extends Error {
  override name = "LoweringError";
}

/** The buffer element type holding codes of `bits` bits. */
export const elemOf = (bits: number): ElemType => (bits <= 8 ? "u8" : bits <= 16 ? "u16" : "u32");
const buffer = (name: string, elem: ElemType, access: BufferParam["access"]): BufferParam => ({
  kind: "buffer",
  name,
  elem,
  access,
});
const scalar = (name: string, type: ScalarParam["type"]): ScalarParam => ({
  kind: "scalar",
  name,
  type,
});

/** The schemes this lowering covers; anything else is a LoweringError naming what is missing. */
export function checkLowerable(s: Scheme): void {
  if (s.doubleQuant) checkLowerable(s.doubleQuant.scheme);
  for (const fmt of [s.element, s.scale.format, ...(s.tensorScale ? [s.tensorScale] : [])])
    if (
      formatBits(fmt) > 16 &&
      !(fmt.kind === "float" && fmt.exponent === 8 && fmt.mantissa === 23)
    )
      throw new LoweringError(
        `scheme ${s.name}: ${fmt.name} has ${formatBits(fmt)} bits; only f32 and formats of at most 16 bits are lowered`,
      );
}

class Tables {
  readonly list: Table[] = [];
  add(t: Table): void {
    if (!this.list.some((x) => x.name === t.name)) this.list.push(t);
  }
  decoder(c: Codec): void {
    if (c.bits <= 16) this.add(valuesTable(c));
  }
}

export function lowerKernel(
  name: string,
  kind: KernelKindLowered,
  s: Scheme,
  input: DType = "f32",
  /** how dequantize reads its codes: one per byte/word, or straight from packed bytes */
  codes: CodeLayout = { kind: "unpacked" },
  /** where quantize stores and dequantize loads the block scales */
  scaleLayout: ScaleLayout = "plain",
): Kernel {
  checkLowerable(s);
  Block.resetNames();
  const tables = new Tables();
  const elem = codec(s.element);
  const scale = codec(s.scale.format);
  const asym = s.scale.rule === "minmax";
  const sr = s.rounding.mode === "stochastic";
  const geo = geometry(s.block);
  const params: Param[] = [];
  if (kind !== "dequantize") params.push(buffer("x", input === "f32" ? "f32" : "u16", "read"));
  if (kind === "quantize") {
    params.push(
      buffer("codes", elemOf(elem.bits), "write"),
      buffer("scales", elemOf(scale.bits), "write"),
    );
    if (asym) params.push(buffer("zeros", elemOf(elem.bits), "write"));
    if (s.tensorScale) params.push(buffer("tscale", "f32", "write"));
  }
  if (kind === "dequantize") {
    params.push(
      buffer("codes", codes.kind === "unpacked" ? elemOf(elem.bits) : "u8", "read"),
      buffer("scales", elemOf(scale.bits), "read"),
    );
    if (asym) params.push(buffer("zeros", elemOf(elem.bits), "read"));
    if (s.tensorScale) params.push(buffer("tscale", "f32", "read"));
  }
  if (kind === "qdq_backward")
    params.push(buffer("gy", "f32", "read"), buffer("gx", "f32", "write"));
  else if (kind !== "quantize") params.push(buffer("y", "f32", "write"));
  params.push(...geo.params);
  if (sr && (kind === "quantize" || kind === "qdq"))
    params.push(scalar("seed_lo", "u32"), scalar("seed_hi", "u32"));

  const top = new Block();
  const blockText =
    s.block.kind === "tile"
      ? `${s.block.rows}x${s.block.cols} tiles`
      : `blocks of ${s.block.size} on axis ${s.block.axis}`;
  top.comment(
    `${kind} ${s.name}: ${s.element.name} elements, ${blockText}, ${s.scale.format.name} ${s.scale.rule} scales`,
  );
  const loadX = (b: Block, idx: Expr): Expr => {
    if (input === "f32") return b.let("x", K.load("x", idx, "f32"));
    const raw = K.load("x", idx, "u32");
    if (input === "bf16") return b.let("x", E.float(E.shl(raw, u(16))));
    tables.decoder(codec(f16));
    return b.let("x", decodeExpr(codec(f16), raw));
  };

  // second-level tensor scale: S_enc and D from the finite amax of the whole tensor
  let sEnc: Expr = f(1);
  let second: Expr | undefined;
  if (s.tensorScale && kind !== "dequantize") {
    const n = geo.total(top);
    const tamax = top.mutable("tamax", f(0));
    const loop = new Block("t");
    const x = loadX(loop, K.v("ti", "i32"));
    const a = loop.let("a", K.un("abs", x));
    loop.push(
      tamax.set(E.select(E.and(E.lt(E.bits(a), u(0x7f800000)), E.gt(a, tamax.ref)), a, tamax.ref)),
    );
    top.push(K.for("ti", i(0), n, loop.stmts));
    const range = Math.fround(scale.maxFinite * elementMax(s));
    const ts = codec(s.tensorScale);
    tables.decoder(ts);
    const enc0 = top.let("senc0", E.div(f(range), tamax.ref));
    const dcode = lowerEncode(
      top,
      s.tensorScale,
      NEAREST_EVEN,
      "saturate",
      E.div(tamax.ref, f(range)),
    );
    const d0 = top.let("d0", decodeExpr(ts, dcode));
    const degenerate = top.let(
      "degenerate",
      E.or(
        E.or(E.eq(tamax.ref, f(0)), E.ge(E.bits(K.un("abs", enc0)), u(0x7f800000))),
        E.eq(d0, f(0)),
      ),
    );
    sEnc = top.let("senc", E.select(degenerate, f(1), enc0));
    second = top.let("dscale", E.select(degenerate, f(1), d0));
    if (kind === "quantize") {
      top.push(
        K.store("tscale", i(0), tamax.ref),
        K.store("tscale", i(1), sEnc),
        K.store("tscale", i(2), second),
      );
    }
  } else if (s.tensorScale) {
    second = top.let("dscale", K.load("tscale", i(2), "f32"));
  }

  tables.decoder(elem);
  tables.decoder(scale);
  if (s.element.kind === "table") tables.add(tableCodesTable(s.element));

  geo.loop(top, (perBlock, blk) => {
    const blockIndex = blk.index;
    const scaleAt = blockScaleAt(scaleLayout, blk);
    const len = blk.len;
    let scaleValue: Expr;
    let mult: Expr = f(NaN);
    let zero: Expr = u(0);
    if (kind === "dequantize") {
      scaleValue = perBlock.let("scale", decodeExpr(scale, K.load("scales", scaleAt, "u32")));
      if (asym) zero = perBlock.let("zero", K.load("zeros", blockIndex, "u32"));
    } else {
      const amax = perBlock.mutable("amax", f(0));
      const mn = perBlock.mutable("mn", f(Infinity));
      const mx = perBlock.mutable("mx", f(-Infinity));
      const bad = perBlock.mutable("bad", K.bool(false));
      const stats = new Block("s");
      const x = loadX(stats, blk.offset(stats, K.v("t", "i32")));
      const a = stats.let("a", K.un("abs", x));
      const finite = stats.let("fin", E.lt(E.bits(a), u(0x7f800000)));
      stats.push(
        bad.set(E.or(bad.ref, E.not(finite))),
        amax.set(E.select(E.and(finite, E.gt(a, amax.ref)), a, amax.ref)),
        mn.set(E.select(E.and(finite, E.lt(x, mn.ref)), x, mn.ref)),
        mx.set(E.select(E.and(finite, E.gt(x, mx.ref)), x, mx.ref)),
      );
      perBlock.push(K.for("t", i(0), len, stats.stmts));
      const sc = lowerBlockScale(
        perBlock,
        s,
        { amax: amax.ref, min: mn.ref, max: mx.ref, nonfinite: bad.ref },
        sEnc,
      );
      scaleValue = sc.value;
      mult = sc.mult;
      zero = sc.zero;
      if (kind === "quantize") {
        perBlock.push(K.store("scales", scaleAt, sc.code));
        if (asym) perBlock.push(K.store("zeros", blockIndex, zero));
      }
    }

    const el = new Block("e");
    const idx = blk.offset(el, K.v("t", "i32"));
    let code: Expr;
    if (kind === "dequantize") {
      code = el.let("c", packedCodeExpr(codes, "codes", idx));
    } else if (kind === "qdq_backward") {
      const v = el.let("v", E.mul(loadX(el, idx), mult));
      const qmax = elementMax(s);
      const lo = asym ? E.sub(f(0), E.f32(zero)) : f(-qmax);
      const hi = asym ? E.sub(f(qmax), E.f32(zero)) : f(qmax);
      const inside = E.and(E.ge(v, lo), E.le(v, hi));
      el.push(K.store("gx", idx, E.select(inside, K.load("gy", idx, "f32"), f(0))));
      code = u(0);
    } else {
      const x = loadX(el, idx);
      const v = el.let("v", E.mul(x, mult));
      const random = sr
        ? el.let("r", {
            op: "random",
            seedLo: K.v("seed_lo", "u32"),
            seedHi: K.v("seed_hi", "u32"),
            index: idx,
            bits: s.rounding.randomBits,
            type: "u32",
          })
        : u(0);
      code = asym
        ? encodeAsym(el, s, v, zero, random)
        : s.rounding.mode !== "stochastic" && elem.bits <= 16
          ? lowerEncodeMemo(el, s.element, s.rounding, s.overflow, v, (t) => tables.add(t))
          : lowerEncode(el, s.element, s.rounding, s.overflow, v, random);
      if (kind === "quantize") el.push(K.store("codes", idx, code));
    }
    if (kind === "dequantize" || kind === "qdq") {
      let value: Expr;
      if (asym) value = E.mul(E.f32(E.sub(E.i32(code), E.i32(zero))), scaleValue);
      else if (second) value = E.mul(E.mul(decodeExpr(elem, code), scaleValue), second);
      else value = E.mul(decodeExpr(elem, code), scaleValue);
      const y = el.let("y", value);
      el.push(K.store("y", idx, E.select(E.ne(y, y), f(NaN), y)));
    }
    perBlock.push(K.for("t", i(0), len, el.stmts));
  });
  return { name, params, tables: tables.list, body: top.stmts };
}

/** GPTQ order: round v (unbounded), add the zero point, clamp to the code range; NaN gives 0. */
function encodeAsym(b: Block, s: Scheme, v: Expr, zero: Expr, random: Expr): Expr {
  const wide: Format = {
    kind: "int",
    name: "asym_round",
    bits: 16,
    signed: true,
    range: "full",
    shift: 0,
  };
  const c16 = lowerEncode(b, wide, s.rounding, "saturate", v, random);
  const n = E.shr(E.shl(E.i32(c16), i(16)), i(16)); // sign-extend the 16-bit code
  const q = E.min(E.max(E.add(n, E.i32(zero)), i(0)), i(elementMax(s)));
  return b.let("code", E.select(E.ne(v, v), u(0), E.u32(q)));
}

export type { Stmt };

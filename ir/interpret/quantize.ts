/**
 * The reference interpreter: quantize, dequantize and qdq of an n-d tensor under
 * any scheme. It is the oracle every backend is held to, so it does one thing
 * per line, in the documented order, with explicit fl32 rounding.
 */
import { codec, intLayout, roundToInteger, type Codec } from "../formats/index.js";
import { randomBits } from "../philox.js";
import type { IntFormat } from "../formats/index.js";
import type { Scheme } from "../scheme.js";
import { codeArray, elementCount, toFloat32, type CodeArray, type Tensor } from "../tensor.js";
import { blockGrid, type BlockGrid } from "./blocks.js";
import { ScaleRuleContext, tensorScale, type BlockStats, type TensorScale } from "./scales.js";

const fl32 = Math.fround;
/** NaN outputs are the positive quiet NaN 0x7FC00000 on every backend, whatever NaN the arithmetic made */
const CANONICAL_NAN = NaN;

export interface QuantizeOptions {
  /** seed of the Philox stream for stochastic rounding (default 0) */
  seed?: number;
}

export interface QuantizedTensor {
  readonly scheme: Scheme;
  readonly shape: readonly number[];
  /** one element code per element, in tensor order (unpacked) */
  readonly codes: CodeArray;
  /** shape of the block grid = shape of the scale tensor */
  readonly scaleShape: readonly number[];
  /** raw codes of the scale format, one per block; with double quantization these are the f32 scales before compression */
  readonly scales: CodeArray;
  /** integer zero point per block (scale rule minmax) */
  readonly zeros?: CodeArray;
  readonly tensorScale?: TensorScale;
  /** the compressed scales (double quantization): scale values = dequantize(scales) + offset */
  readonly doubleQuant?: { readonly scales: QuantizedTensor; readonly offset: number };
}

function input(x: Tensor | Float32Array): { data: Float32Array; shape: readonly number[] } {
  return x instanceof Float32Array
    ? { data: x, shape: [x.length] }
    : { data: toFloat32(x), shape: x.shape };
}

export function blockStats(
  x: Float32Array,
  offs: Int32Array,
  n: number,
  st: BlockStats,
): BlockStats {
  let amax = 0;
  let min = Infinity;
  let max = -Infinity;
  let nonfinite = false;
  for (let t = 0; t < n; t++) {
    const v = x[offs[t]];
    if (v !== v || v === Infinity || v === -Infinity) nonfinite = true;
    else {
      const a = Math.abs(v);
      if (a > amax) amax = a;
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  st.amax = amax;
  st.min = min;
  st.max = max;
  st.nonfinite = nonfinite;
  return st;
}

export function finiteAmax(x: Float32Array): number {
  let amax = 0;
  for (let i = 0; i < x.length; i++) {
    const a = Math.abs(x[i]);
    if (a > amax && a !== Infinity) amax = a;
  }
  return amax;
}

export function quantize(
  scheme: Scheme,
  x: Tensor | Float32Array,
  options: QuantizeOptions = {},
): QuantizedTensor {
  const { data, shape } = input(x);
  const seed = options.seed ?? 0;
  const grid = blockGrid(shape, scheme.block);
  const ts = scheme.tensorScale ? tensorScale(scheme, finiteAmax(data)) : undefined;
  const rules = new ScaleRuleContext(scheme, ts?.encode ?? 1);
  const elem = codec(scheme.element);
  const asym = scheme.scale.rule === "minmax" ? intLayout(scheme.element as IntFormat) : undefined;
  const { rounding, overflow } = scheme;
  const stochastic = rounding.mode === "stochastic";
  const encode = elem.float32Encoder(rounding, overflow); // inputs are fl32 values

  const codes = codeArray(elem.bits, data.length);
  const scales = codeArray(rules.scale.bits, grid.count);
  const zeros = asym ? codeArray(elem.bits, grid.count) : undefined;
  const offs = new Int32Array(grid.maxBlockSize);
  const st: BlockStats = { amax: 0, min: 0, max: 0, nonfinite: false };

  for (let b = 0; b < grid.count; b++) {
    const n = grid.offsets(b, offs);
    const s = rules.blockScale(blockStats(data, offs, n, st));
    scales[b] = s.code;
    if (zeros) zeros[b] = s.zero;
    for (let t = 0; t < n; t++) {
      const i = offs[t];
      const v = fl32(data[i] * s.mult);
      const random = stochastic ? randomBits(seed, i, rounding.randomBits) : 0;
      if (asym) {
        const q = v !== v ? 0 : roundToInteger(v, rounding, random) + s.zero;
        codes[i] = Math.min(asym.maxInt, Math.max(0, q));
      } else {
        codes[i] = encode(v, random);
      }
    }
  }

  const q: QuantizedTensor = {
    scheme,
    shape,
    codes,
    scaleShape: grid.gridShape,
    scales,
    zeros,
    tensorScale: ts,
  };
  return scheme.doubleQuant ? { ...q, doubleQuant: compressScales(q, rules.scale, seed) } : q;
}

/** QLoRA double quantization: center the scale values on their mean and quantize them. */
function compressScales(q: QuantizedTensor, scale: Codec, seed: number) {
  const dq = q.scheme.doubleQuant!;
  const values = Float32Array.from(q.scales, (c) => scale.decode(c));
  const offset = doubleQuantOffset(values, dq.offset);
  const centered = values.map((v) => fl32(v - offset));
  return { scales: quantize(dq.scheme, centered, { seed }), offset };
}

/**
 * The offset of double quantization: fl32 of the mean of the finite scale
 * values, summed in float64 left to right (0 if none, or with `offset: none`).
 * Host code of every backend computes this one scalar the same way.
 */
export function doubleQuantOffset(values: Float32Array, mode: "mean" | "none"): number {
  if (mode === "none") return 0;
  let sum = 0;
  let n = 0;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    sum += v;
    n++;
  }
  return n === 0 ? 0 : fl32(sum / n);
}

/** The value of every block's scale, as dequantization uses it. */
export function scaleValues(q: QuantizedTensor): Float32Array {
  if (q.doubleQuant) {
    const { scales, offset } = q.doubleQuant;
    return dequantize(scales).map((v) => fl32(v + offset));
  }
  const c = codec(q.scheme.scale.format);
  return Float32Array.from(q.scales, (code) => c.decode(code));
}

export function dequantize(q: QuantizedTensor): Float32Array {
  const { scheme } = q;
  const grid: BlockGrid = blockGrid(q.shape, scheme.block);
  const elem = codec(scheme.element);
  const scale = scaleValues(q);
  const second = q.tensorScale?.decode;
  const out = new Float32Array(elementCount(q.shape));
  const offs = new Int32Array(grid.maxBlockSize);
  for (let b = 0; b < grid.count; b++) {
    const n = grid.offsets(b, offs);
    const s = scale[b];
    const zero = q.zeros ? q.zeros[b] : 0;
    for (let t = 0; t < n; t++) {
      const i = offs[t];
      let v: number;
      if (q.zeros) v = fl32((q.codes[i] - zero) * s);
      else if (second !== undefined) v = fl32(fl32(elem.decode(q.codes[i]) * s) * second);
      else v = fl32(elem.decode(q.codes[i]) * s);
      out[i] = v === v ? v : CANONICAL_NAN;
    }
  }
  return out;
}

/** Fake quantization: dequantize(quantize(x)). */
export function qdq(
  scheme: Scheme,
  x: Tensor | Float32Array,
  options: QuantizeOptions = {},
): Float32Array {
  return dequantize(quantize(scheme, x, options));
}

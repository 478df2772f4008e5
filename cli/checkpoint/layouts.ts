/**
 * On-disk layouts of one quantized weight: which safetensors tensors it becomes
 * and how the interpreter's QuantizedTensor maps onto their bytes (and back).
 * The facts are in SEMANTICS.md section 5; docs/checkpoints.md lists every
 * tensor name, dtype and shape each layout writes.
 *
 *   modelopt            NVFP4 only: W uint8 [N, K/2], W_scale F8_E4M3 [N, K/16],
 *                       W_scale_2 F32 [] = the decode scale amax / 2688
 *   compressed-tensors  NVFP4: W_packed, W_scale (F8_E4M3), W_global_scale F32 [1]
 *                       = the encode multiplier 2688 / amax; MXFP4: W_packed,
 *                       W_scale (U8 holding E8M0 bytes)
 *   qkc                 any scheme: W_codes packed as the layout pass packs them,
 *                       W_scales in the scale format, W_zeros, W_tensor_scale
 *                       F32 [3] = (amax, encode, decode), W_dq_* for double quant
 */
import type { QuantizedTensor } from "../../ir/interpret/index.js";
import { blockGrid, scaleValues } from "../../ir/interpret/index.js";
import { formatBits, type Format } from "../../ir/formats/index.js";
import {
  pack6,
  packNibbles,
  nvidia128x4Shape,
  swizzleNvidia128x4,
  unpack6,
  unpackNibbles,
  unswizzleNvidia128x4,
} from "../../ir/layout/index.js";
import type { Scheme } from "../../ir/scheme.js";
import { codeArray, elementCount, type CodeArray } from "../../ir/tensor.js";
import { codeLayout } from "../../passes/layout.js";
import { builtinScheme } from "../../stdlib/index.js";
import { UserError } from "../errors.js";
import { DTYPE_SIZE, type StDType, type TensorDecl } from "../safetensors.js";

export const LAYOUTS = ["modelopt", "compressed-tensors", "qkc"] as const;
export type LayoutName = (typeof LAYOUTS)[number];

export const SWIZZLES = ["none", "nvidia-128x4"] as const;
export type Swizzle = (typeof SWIZZLES)[number];

/** One stored tensor of a quantized weight, with its bytes. */
export interface StoredTensor extends TensorDecl {
  readonly bytes: Uint8Array;
}

/** The stored form of the two formats the engine layouts can hold. */
export type EngineFormat = "nvfp4" | "mxfp4";

const fl32 = Math.fround;
const fl32Bytes = (...v: number[]) => new Uint8Array(Float32Array.from(v).buffer);

/** Formats compared by what they store, not by name. */
function sameFormat(a: Format, b: Format): boolean {
  const stored = (f: Format) => JSON.stringify({ ...f, name: undefined });
  return stored(a) === stored(b);
}

/** Blocks along the last axis of a 2-D tensor. */
function rowBlocks(s: Scheme): number | undefined {
  const b = s.block;
  return b.kind === "axis" && (b.axis === -1 || b.axis === 1) && typeof b.size === "number"
    ? b.size
    : undefined;
}

/** Which engine format a scheme stores as (rounding and scale rule may differ from the reference). */
export function engineFormat(s: Scheme): EngineFormat | undefined {
  for (const f of ["nvfp4", "mxfp4"] as const) {
    const ref = builtinScheme(f)!;
    if (
      sameFormat(s.element, ref.element) &&
      sameFormat(s.scale.format, ref.scale.format) &&
      rowBlocks(s) === rowBlocks(ref) &&
      !s.doubleQuant &&
      s.scale.rule !== "minmax" &&
      (s.tensorScale
        ? !!ref.tensorScale && sameFormat(s.tensorScale, ref.tensorScale)
        : !ref.tensorScale)
    )
      return f;
  }
  return undefined;
}

/** Throws a one-line UserError if `layout` cannot store tensor `name` of `shape` under `s`. */
export function checkStorable(
  layout: LayoutName,
  s: Scheme,
  name: string,
  shape: readonly number[],
): void {
  const fail = (msg: string): never => {
    throw new UserError(`${name}: ${msg}`);
  };
  if (layout === "qkc") return;
  const f = engineFormat(s);
  if (layout === "modelopt" && f !== "nvfp4")
    fail(
      `scheme '${s.name}' is not NVFP4; the modelopt layout stores NVFP4 only (use --layout qkc, or --scheme nvfp4)`,
    );
  if (!f)
    fail(
      `scheme '${s.name}' is neither NVFP4 nor MXFP4; compressed-tensors stores those two (use --layout qkc)`,
    );
  const block = rowBlocks(s)!;
  if (shape.length !== 2 || shape[1] % block !== 0)
    fail(
      `shape [${shape.join(", ")}] has rows of ${shape[1]} values, not a multiple of the block ${block}; exclude it (--exclude)`,
    );
}

// ---------------------------------------------------------------------------
// shapes and dtypes

/** safetensors dtype of a scale (or any code) format: its own where the format has one. */
function formatDType(f: Format): StDType {
  if (f.kind === "float") {
    const like = (e: number, m: number, specials: string) =>
      f.exponent === e && f.mantissa === m && f.specials === specials && f.signed;
    if (like(8, 23, "ieee")) return "F32";
    if (like(5, 10, "ieee")) return "F16";
    if (like(8, 7, "ieee")) return "BF16";
    if (like(4, 3, "nan_only") && f.bias === 7) return "F8_E4M3";
    if (like(5, 2, "ieee") && f.bias === 15) return "F8_E5M2";
    if (f.exponent === 8 && f.mantissa === 0 && f.specials === "e8m0" && !f.signed)
      return "F8_E8M0";
  }
  const bits = formatBits(f);
  return bits <= 8 ? "U8" : bits <= 16 ? "U16" : "U32";
}

const wordDType = (bits: number): StDType => (bits <= 8 ? "U8" : bits <= 16 ? "U16" : "U32");

/** Bytes of `codes` as stored with `dtype` (only the widths differ). */
function codeBytes(codes: CodeArray, dtype: StDType): Uint8Array {
  const out = codeArray(DTYPE_SIZE[dtype] * 8, codes.length);
  out.set(codes);
  return new Uint8Array(out.buffer);
}

function bytesToCodes(bytes: Uint8Array, dtype: StDType, bits: number): CodeArray {
  const copy = bytes.slice();
  const width = DTYPE_SIZE[dtype];
  const src =
    width === 1 ? copy : width === 2 ? new Uint16Array(copy.buffer) : new Uint32Array(copy.buffer);
  const out = codeArray(bits, src.length);
  out.set(src);
  return out;
}

/** Shape of a 2-D scale grid as stored: padded to 128 x 4 when swizzled. */
function scaleShape(grid: readonly number[], swizzle: Swizzle): number[] {
  return swizzle === "nvidia-128x4" ? nvidia128x4Shape(grid[0], grid[1]) : [...grid];
}

function canSwizzle(s: Scheme, grid: readonly number[]): boolean {
  return grid.length === 2 && formatBits(s.scale.format) === 8 && !s.doubleQuant;
}

function swizzleScales(s: Scheme, scales: Uint8Array, grid: readonly number[], swizzle: Swizzle) {
  return swizzle === "nvidia-128x4" && canSwizzle(s, grid)
    ? swizzleNvidia128x4(scales, grid[0], grid[1])
    : scales;
}

function unswizzleScales(s: Scheme, bytes: Uint8Array, grid: readonly number[], swizzle: Swizzle) {
  return swizzle === "nvidia-128x4" && canSwizzle(s, grid)
    ? unswizzleNvidia128x4(bytes, grid[0], grid[1])
    : bytes;
}

/** Packed code bytes of the qkc layout: the packing the layout pass picks for a packed kernel. */
function qkcPacking(s: Scheme) {
  return codeLayout({
    name: "",
    kind: "quantize",
    scheme: s,
    input: "f32",
    output: "f32",
    layout: "packed",
  });
}

function qkcCodesDecl(name: string, s: Scheme, shape: readonly number[]): TensorDecl {
  const n = elementCount(shape);
  const packing = qkcPacking(s);
  const bits = formatBits(s.element);
  if (packing.kind === "unpacked")
    return { name: `${name}_codes`, dtype: wordDType(bits), shape: [...shape] };
  const last = shape.at(-1) ?? 1;
  const rowBytes = (last * bits) / 8;
  const byteShape = Number.isInteger(rowBytes)
    ? [...shape.slice(0, -1), rowBytes]
    : [Math.ceil((n * bits) / 8)];
  return { name: `${name}_codes`, dtype: "U8", shape: byteShape };
}

// ---------------------------------------------------------------------------
// declare: the tensors a weight becomes, known before it is quantized

export interface LayoutOptions {
  readonly layout: LayoutName;
  readonly swizzle: Swizzle;
}

export function declare(
  o: LayoutOptions,
  name: string,
  shape: readonly number[],
  s: Scheme,
): TensorDecl[] {
  const grid = blockGrid(shape, s.block).gridShape;
  const sshape = canSwizzle(s, grid) ? scaleShape(grid, o.swizzle) : [...grid];
  const [rows, cols] = shape;
  if (o.layout === "modelopt")
    return [
      { name, dtype: "U8", shape: [rows, cols / 2] },
      { name: `${name}_scale`, dtype: "F8_E4M3", shape: sshape },
      { name: `${name}_scale_2`, dtype: "F32", shape: [] },
    ];
  if (o.layout === "compressed-tensors") {
    const nv = engineFormat(s) === "nvfp4";
    return [
      { name: `${name}_packed`, dtype: "U8", shape: [rows, cols / 2] },
      { name: `${name}_scale`, dtype: nv ? "F8_E4M3" : "U8", shape: sshape },
      ...(nv ? [{ name: `${name}_global_scale`, dtype: "F32" as const, shape: [1] }] : []),
    ];
  }
  const out: TensorDecl[] = [qkcCodesDecl(name, s, shape)];
  if (s.doubleQuant) {
    const inner = s.doubleQuant.scheme;
    const count = elementCount(grid);
    out.push(...declare(o, `${name}_dq`, [count], inner));
    out.push({ name: `${name}_dq_offset`, dtype: "F32", shape: [1] });
  } else {
    out.push({ name: `${name}_scales`, dtype: formatDType(s.scale.format), shape: sshape });
  }
  if (s.scale.rule === "minmax")
    out.push({ name: `${name}_zeros`, dtype: wordDType(formatBits(s.element)), shape: [...grid] });
  if (s.tensorScale) out.push({ name: `${name}_tensor_scale`, dtype: "F32", shape: [3] });
  return out;
}

// ---------------------------------------------------------------------------
// encode: QuantizedTensor -> bytes of the declared tensors, in declared order

export function encode(o: LayoutOptions, name: string, q: QuantizedTensor): StoredTensor[] {
  const decls = declare(o, name, q.shape, q.scheme);
  const bytes = encodeBytes(o, q);
  return decls.map((d, k) => ({ ...d, bytes: bytes[k] }));
}

function encodeBytes(o: LayoutOptions, q: QuantizedTensor): Uint8Array[] {
  const s = q.scheme;
  const grid = q.scaleShape;
  const scales = () => swizzleScales(s, codeBytes(q.scales, "U8"), grid, o.swizzle);
  if (o.layout === "modelopt")
    return [packNibbles(q.codes), scales(), fl32Bytes(q.tensorScale!.decode)];
  if (o.layout === "compressed-tensors")
    return engineFormat(s) === "nvfp4"
      ? [packNibbles(q.codes), scales(), fl32Bytes(q.tensorScale!.encode)]
      : [packNibbles(q.codes), scales()];
  return qkcBytes(o, q);
}

function qkcBytes(o: LayoutOptions, q: QuantizedTensor): Uint8Array[] {
  const s = q.scheme;
  const packing = qkcPacking(s);
  const bits = formatBits(s.element);
  const out: Uint8Array[] = [
    packing.kind === "nibbles"
      ? packNibbles(q.codes, packing.order)
      : packing.kind === "bits6"
        ? pack6(q.codes)
        : codeBytes(q.codes, wordDType(bits)),
  ];
  if (q.doubleQuant) {
    out.push(...qkcBytes(o, q.doubleQuant.scales), fl32Bytes(q.doubleQuant.offset));
  } else {
    const dtype = formatDType(s.scale.format);
    const raw = codeBytes(q.scales, dtype);
    out.push(
      formatBits(s.scale.format) === 8 ? swizzleScales(s, raw, q.scaleShape, o.swizzle) : raw,
    );
  }
  if (q.zeros) out.push(codeBytes(q.zeros, wordDType(bits)));
  if (q.tensorScale) {
    const t = q.tensorScale;
    out.push(fl32Bytes(t.amax, t.encode, t.decode));
  }
  return out;
}

// ---------------------------------------------------------------------------
// decode: stored tensors -> QuantizedTensor (for dequantize-model)

/** The second-level scale as stored, when a layout keeps only one of encode / decode. */
export interface TensorScaleRecord {
  readonly amax: number;
  readonly encode: number;
  readonly decode: number;
}

export function decode(
  o: LayoutOptions,
  name: string,
  shape: readonly number[],
  s: Scheme,
  read: (tensor: string) => Uint8Array,
  recorded?: TensorScaleRecord,
): QuantizedTensor {
  const n = elementCount(shape);
  const grid = blockGrid(shape, s.block);
  const f32 = (t: string) => new Float32Array(read(t).slice().buffer);
  if (o.layout === "qkc") return decodeQkc(o, name, shape, s, read);
  const codes = unpackNibbles(read(o.layout === "modelopt" ? name : `${name}_packed`), n);
  const scales = unswizzleScales(s, read(`${name}_scale`), grid.gridShape, o.swizzle).slice();
  const base = { scheme: s, shape, codes, scaleShape: grid.gridShape, scales };
  if (!s.tensorScale) return base;
  let ts: TensorScaleRecord;
  if (o.layout === "modelopt") {
    const decodeScale = f32(`${name}_scale_2`)[0];
    ts = recorded ?? {
      amax: fl32(decodeScale * 2688),
      encode: fl32(1 / decodeScale),
      decode: decodeScale,
    };
  } else {
    const encodeScale = f32(`${name}_global_scale`)[0];
    // without qkc's manifest, follow the engines: decode = 1 / global_scale
    ts = recorded ?? {
      amax: fl32(2688 / encodeScale),
      encode: encodeScale,
      decode: fl32(1 / encodeScale),
    };
  }
  return { ...base, tensorScale: ts };
}

function decodeQkc(
  o: LayoutOptions,
  name: string,
  shape: readonly number[],
  s: Scheme,
  read: (tensor: string) => Uint8Array,
): QuantizedTensor {
  const n = elementCount(shape);
  const grid = blockGrid(shape, s.block);
  const bits = formatBits(s.element);
  const packing = qkcPacking(s);
  const raw = read(`${name}_codes`);
  const codes =
    packing.kind === "nibbles"
      ? unpackNibbles(raw, n, packing.order)
      : packing.kind === "bits6"
        ? unpack6(raw, n)
        : bytesToCodes(raw, wordDType(bits), bits);
  const scaleBits = formatBits(s.scale.format);
  let q: QuantizedTensor;
  if (s.doubleQuant) {
    const inner = decodeQkc(o, `${name}_dq`, [grid.count], s.doubleQuant.scheme, read);
    const offset = new Float32Array(read(`${name}_dq_offset`).slice().buffer)[0];
    const doubleQuant = { scales: inner, offset };
    // the first-level scales before compression are not stored; dequantization reads doubleQuant only
    const values = scaleValues({
      scheme: s,
      shape,
      codes,
      scaleShape: grid.gridShape,
      scales: new Uint32Array(0),
      doubleQuant,
    });
    q = {
      scheme: s,
      shape,
      codes,
      scaleShape: grid.gridShape,
      scales: new Uint32Array(values.buffer),
      doubleQuant,
    };
  } else {
    const dtype = formatDType(s.scale.format);
    let bytes = read(`${name}_scales`);
    if (scaleBits === 8) bytes = unswizzleScales(s, bytes, grid.gridShape, o.swizzle);
    q = {
      scheme: s,
      shape,
      codes,
      scaleShape: grid.gridShape,
      scales: bytesToCodes(bytes, dtype, scaleBits),
    };
  }
  if (s.scale.rule === "minmax")
    q = { ...q, zeros: bytesToCodes(read(`${name}_zeros`), wordDType(bits), bits) };
  if (s.tensorScale) {
    const [amax, encode, decode] = new Float32Array(read(`${name}_tensor_scale`).slice().buffer);
    q = { ...q, tensorScale: { amax, encode, decode } };
  }
  return q;
}

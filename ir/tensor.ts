/** Dense row-major tensors as the interpreter sees them. No I/O here. */
import { bf16, codec, f16 } from "./formats/index.js";

export type DType = "f32" | "f16" | "bf16";

export type Tensor =
  | { readonly dtype: "f32"; readonly shape: readonly number[]; readonly data: Float32Array }
  | {
      readonly dtype: "f16" | "bf16";
      readonly shape: readonly number[];
      readonly data: Uint16Array;
    };

export type CodeArray = Uint8Array | Uint16Array | Uint32Array;

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function checkShape(shape: readonly number[], length: number): void {
  if (!shape.every((d) => Number.isInteger(d) && d >= 0))
    throw new RangeError(`shape [${shape.join(", ")}] must hold non-negative integers`);
  if (elementCount(shape) !== length)
    throw new RangeError(
      `shape [${shape.join(", ")}] has ${elementCount(shape)} elements, the data ${length}`,
    );
}

const halfTables = new Map<DType, Float32Array>();

/** The f32 values of a tensor: f16 and bf16 widen exactly. */
export function toFloat32(t: Tensor): Float32Array {
  checkShape(t.shape, t.data.length);
  if (t.dtype === "f32") return t.data;
  let table = halfTables.get(t.dtype);
  if (!table) {
    const c = codec(t.dtype === "f16" ? f16 : bf16);
    table = Float32Array.from({ length: 65536 }, (_, code) => c.decode(code));
    halfTables.set(t.dtype, table);
  }
  const out = new Float32Array(t.data.length);
  for (let i = 0; i < out.length; i++) out[i] = table[t.data[i]];
  return out;
}

export function codeArray(bits: number, length: number): CodeArray {
  return bits <= 8
    ? new Uint8Array(length)
    : bits <= 16
      ? new Uint16Array(length)
      : new Uint32Array(length);
}

/**
 * A checked program: the formats, schemes and kernel requests of a set of .qs
 * files, resolved and validated. The passes and backends start from here.
 */
import type { Format } from "./formats/index.js";
import type { Scheme } from "./scheme.js";
import type { DType } from "./tensor.js";

export type KernelKind = "quantize" | "dequantize" | "qdq" | "qdq_backward" | "gemv";
export const KERNEL_KINDS: readonly KernelKind[] = [
  "quantize",
  "dequantize",
  "qdq",
  "qdq_backward",
  "gemv",
];

/**
 * Where block scales sit in their buffer: `plain` is row-major over the block
 * grid; `nvidia_128x4` is the tiled layout of block-scaled tensor-core GEMMs
 * (ir/layout/swizzle.ts), padded to 128 rows and 4 scale columns with 0 bytes.
 */
export type ScaleLayout = "plain" | "nvidia_128x4";
export const SCALE_LAYOUTS: readonly ScaleLayout[] = ["plain", "nvidia_128x4"];

export interface Rotation {
  readonly kind: "hadamard";
  /** block size of the Hadamard transform, a power of two in 16..256 */
  readonly size: number;
  /** random sign flips from this seed; none when undefined */
  readonly seed?: number;
}

export interface KernelSpec {
  readonly name: string;
  readonly kind: KernelKind;
  /** the scheme of the quantized operand (for gemv: the weights) */
  readonly scheme: Scheme;
  /** dtype of the unquantized tensor read (quantize, qdq) or of the activations (gemv) */
  readonly input: DType;
  /** dtype of the unquantized tensor written (dequantize, qdq, gemv) */
  readonly output: DType;
  /** element codes packed per the layout pass (`packed`) or one per byte/word */
  readonly layout: "packed" | "unpacked";
  /** placement of the scales written (quantize) or read (dequantize, gemv); plain when undefined */
  readonly scaleLayout?: ScaleLayout;
  readonly rotate?: Rotation;
  /** gemv: accumulator type and reduction order (`fixed` is bit-exact; `any` is held to the error bound) */
  readonly accumulate?: "f32";
  readonly order?: "fixed" | "any";
}

/** Where a declaration came from, for messages and manifests. */
export interface Origin {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

export interface Program {
  readonly formats: ReadonlyMap<string, Format>;
  readonly schemes: ReadonlyMap<string, Scheme>;
  readonly kernels: ReadonlyMap<string, KernelSpec>;
  /** declaration sites by name */
  readonly origins: ReadonlyMap<string, Origin>;
}

/**
 * The tensors of a compiled plan as a PyTorch user sees them: a dtype from
 * the number format a buffer holds (E4M3 scales are float8_e4m3fn, FP16
 * scales float16, E8M0 scales uint8, packed codes uint8) and a shape from the
 * tensor being quantized, in the checkpoint layouts of SEMANTICS.md section 5:
 * for a weight [N, K], FP4 codes are uint8 [N, K/2] and per-16 scales
 * [N, K/16]. Used by the C++ binding, the Python wrapper and the manifest.
 */
import type { ElemType } from "../../ir/kernel.js";
import type { Format } from "../../ir/formats/index.js";
import { formatBits } from "../../ir/formats/index.js";
import type { BufferDecl, LengthRule, Plan } from "../../passes/lower.js";

export type TorchDtype =
  | "float32"
  | "float16"
  | "bfloat16"
  | "float8_e4m3fn"
  | "float8_e5m2"
  | "uint8"
  | "int8"
  | "int16"
  | "int32";

export interface TorchTensor {
  readonly name: string;
  readonly role: BufferDecl["role"];
  readonly elem: ElemType;
  readonly length: LengthRule;
  readonly dtype: TorchDtype;
  /** the format whose codes it holds, for the documentation (undefined: plain float32) */
  readonly format?: string;
  /** its shape for a tensor of shape S (README and docstrings) */
  readonly shapeText: string;
  /** what the values are, where neither the dtype nor the format says it */
  readonly note?: string;
}

const NOTES: Record<string, string> = {
  tscale: "tensor amax, encode scale, decode scale (ModelOpt's weight_scale_2)",
  dq_offset: "the mean added back to the decoded scales",
};

const isFloat = (f: Format, e: number, m: number) =>
  f.kind === "float" && f.exponent === e && f.mantissa === m;

/** The torch dtype of a buffer holding codes of `f` (raw bytes where torch has no such dtype). */
export function dtypeOfFormat(f: Format, elem: ElemType): TorchDtype {
  if (f.kind === "float" && f.specials !== "e8m0") {
    if (isFloat(f, 8, 23) && f.specials === "ieee") return "float32";
    if (isFloat(f, 5, 10) && f.specials === "ieee") return "float16";
    if (isFloat(f, 8, 7) && f.specials === "ieee") return "bfloat16";
    if (isFloat(f, 4, 3) && f.bias === 7 && f.specials === "nan_only") return "float8_e4m3fn";
    if (isFloat(f, 5, 2) && f.bias === 15 && f.specials === "ieee") return "float8_e5m2";
  }
  if (f.kind === "int" && f.signed && formatBits(f) === 8 && elem === "u8") return "int8";
  return dtypeOfElem(elem);
}

/** torch has no unsigned 16- or 32-bit dtype before 2.3: the same bits as int16 / int32. */
export function dtypeOfElem(elem: ElemType): TorchDtype {
  return ({ f32: "float32", u8: "uint8", i8: "int8", u16: "int16", u32: "int32" } as const)[elem];
}

/** The format a plan buffer holds, by its role in the plan (undefined: float32 values). */
function formatOf(plan: Plan, name: string): Format | "input" | undefined {
  const s = plan.spec.scheme;
  const nested = s.doubleQuant?.scheme;
  if (name === "x" || name === "gy") return "input";
  if (name === "codes" || name === "codes_unpacked" || name === "zeros") return s.element;
  if (name === "scales") return s.scale.format;
  if (name === "dq_codes" && nested) return nested.element;
  if (name === "dq_scales" && nested) return nested.scale.format;
  return undefined;
}

const INPUT_DTYPE = { f32: "float32", f16: "float16", bf16: "bfloat16" } as const;

/** Shapes for a tensor of shape S = [..., K] (a weight [N, K] for gemv). */
function shapeText(plan: Plan, b: BufferDecl): string {
  const s = plan.spec.scheme;
  const block = s.block;
  const grid =
    block.kind === "tile"
      ? `[..., ceil(R/${block.rows}), ceil(C/${block.cols})]`
      : block.size === "all"
        ? block.axis === -1
          ? "[..., 1]"
          : `S with axis ${block.axis} as 1`
        : block.axis === -1
          ? `[..., ceil(K/${block.size})]`
          : `S with axis ${block.axis} as ceil(n/${block.size})`;
  const gemv = plan.spec.kind === "gemv";
  const S = gemv ? "[N, K]" : "[..., K]";
  switch (b.length) {
    case "elements":
      return S;
    case "packed":
      return plan.codeLayout.kind === "nibbles"
        ? gemv
          ? "[N, K/2]"
          : "[..., K/2]"
        : plan.codeLayout.kind === "bits6"
          ? gemv
            ? "[N, 3K/4]"
            : "[..., 3K/4]"
          : S;
    case "blocks":
      return gemv ? grid.replace("...", "N") : grid;
    case "nested_blocks":
      return `[ceil(blocks/${blockSize(plan)})]`;
    case "blocks_128x4":
      return `[pad(${gemv ? "N" : "rows"}, 128), pad(${grid.replace(/^\[\.\.\., |\]$/g, "")}, 4)] (NVIDIA 128x4 swizzle)`;
    case "tscale":
      return "[3]";
    case "one":
      return "[1]";
    case "rows":
      return "[N]";
    case "columns":
      return "[K]";
  }
}

const blockSize = (plan: Plan): string => {
  const b = plan.spec.scheme.doubleQuant?.scheme.block;
  return b?.kind === "axis" ? String(b.size) : "?";
};

/** Every buffer of `plan` with its torch dtype and shape. */
export function torchTensors(plan: Plan): TorchTensor[] {
  return plan.buffers.map((b) => {
    const f = formatOf(plan, b.name);
    const packed = b.length === "packed";
    const dtype: TorchDtype =
      f === "input"
        ? INPUT_DTYPE[plan.spec.input]
        : f && !packed
          ? dtypeOfFormat(f, b.elem)
          : dtypeOfElem(b.elem);
    return {
      name: b.name,
      role: b.role,
      elem: b.elem,
      length: b.length,
      dtype,
      ...(f && f !== "input" ? { format: f.name } : {}),
      shapeText: shapeText(plan, b),
      ...(NOTES[b.name] ? { note: NOTES[b.name] } : {}),
    };
  });
}

/** float8 tensors are also accepted as uint8 (torch before 2.1, or checkpoints stored as bytes). */
export const acceptsBytes = (t: TorchTensor): boolean =>
  t.dtype === "float8_e4m3fn" || t.dtype === "float8_e5m2" || t.dtype === "int8";

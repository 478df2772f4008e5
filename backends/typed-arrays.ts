/** The typed array that holds each KernelIR element type, and the kind of a given array, by name. */
import type { ElemType } from "../ir/kernel.js";

export const ARRAY_NAME: Record<ElemType, string> = {
  f32: "Float32Array",
  u8: "Uint8Array",
  i8: "Int8Array",
  u16: "Uint16Array",
  u32: "Uint32Array",
};

/** "Float32Array" and the like for a typed array; typeof for anything else. */
export const arrayKind = (a: unknown): string =>
  ArrayBuffer.isView(a) ? Object.prototype.toString.call(a).slice(8, -1) : typeof a;

/**
 * KernelIR: the small, explicit program every backend prints. A kernel is a
 * list of typed statements over typed buffers, scalars and constant tables,
 * in the spirit of tinygrad's UOps. Every float operation is one IEEE binary32
 * operation rounded to nearest even (no contraction, no reassociation), so a
 * backend that prints each op as the target's plain f32 op is bit-exact.
 *
 * Backends never see schemes or graphs: passes/lower.ts produces KernelIR.
 *
 * NaN payloads are unspecified: which NaN an op returns when its operands are
 * NaNs differs between targets (IEEE 754 leaves it open), so lowered kernels
 * never store a computed NaN without canonicalizing it (0x7FC00000).
 */

/** Value types. `bool` is the result of comparisons. */
export type ScalarType = "f32" | "i32" | "u32" | "bool";

/**
 * Buffer element types. Loads widen to a scalar type: f32 -> f32; u8/u16/u32 ->
 * u32 (zero-extended); i8 -> i32 (sign-extended). Stores narrow by truncation.
 */
export type ElemType = "f32" | "u8" | "u16" | "u32" | "i8";

export const loadType = (e: ElemType): ScalarType =>
  e === "f32" ? "f32" : e === "i8" ? "i32" : "u32";

export interface BufferParam {
  readonly kind: "buffer";
  readonly name: string;
  readonly elem: ElemType;
  readonly access: "read" | "write" | "read_write";
}

export interface ScalarParam {
  readonly kind: "scalar";
  readonly name: string;
  readonly type: "f32" | "i32" | "u32";
}

export type Param = BufferParam | ScalarParam;

/** A constant lookup table, indexed from 0. */
export interface Table {
  readonly name: string;
  readonly type: "f32" | "u32";
  readonly values: readonly number[];
}

export type BinaryOp =
  | "add"
  | "sub"
  | "mul"
  | "div" // f32: IEEE; i32/u32: wrapping (div: truncating, never by 0)
  | "min"
  | "max" // i32/u32 only (f32 min/max differ across targets on NaN and -0: use select)
  | "and"
  | "or"
  | "xor" // i32/u32 bitwise; bool logical
  | "shl"
  | "shr" // i32/u32; shr is arithmetic for i32, logical for u32; shift counts 0..31
  | "eq"
  | "ne"
  | "lt"
  | "le"
  | "gt"
  | "ge"; // -> bool; f32 comparisons are IEEE (false with NaN)

export type UnaryOp =
  | "neg" // f32: flips the sign bit (also of 0 and NaN); i32: wrapping
  | "abs" // f32: clears the sign bit; i32: wrapping
  | "floor" // f32
  | "not" // bool: logical; i32/u32: bitwise
  | "clz"; // u32: count of leading zero bits (32 for 0)

export type Expr =
  | { readonly op: "const"; readonly type: ScalarType; readonly value: number | boolean }
  | { readonly op: "var"; readonly name: string; readonly type: ScalarType }
  | {
      readonly op: "load";
      readonly buffer: string;
      readonly index: Expr;
      readonly type: ScalarType;
    }
  | {
      readonly op: "binary";
      readonly kind: BinaryOp;
      readonly a: Expr;
      readonly b: Expr;
      readonly type: ScalarType;
    }
  | { readonly op: "unary"; readonly kind: UnaryOp; readonly a: Expr; readonly type: ScalarType }
  | {
      readonly op: "select";
      readonly cond: Expr;
      readonly a: Expr;
      readonly b: Expr;
      readonly type: ScalarType;
    }
  /** reinterpret the 32 bits: f32 <-> u32 <-> i32 */
  | { readonly op: "bitcast"; readonly a: Expr; readonly type: ScalarType }
  /** numeric conversion: i32/u32 -> f32 (round to nearest even), f32 -> i32/u32 (truncate; operand in range), i32 <-> u32 (same bits), bool -> u32 (0/1) */
  | { readonly op: "convert"; readonly a: Expr; readonly type: ScalarType }
  | {
      readonly op: "table";
      readonly table: string;
      readonly index: Expr;
      readonly type: ScalarType;
    }
  /**
   * The top `bits` bits of Philox4x32-10 (ir/philox.ts `randomBits`) for element
   * `index` under the 64-bit seed (seedLo, seedHi): counter (index >> 2, 0, 0, 0)
   * with the index as unsigned 32 bits, word index & 3. Result u32.
   */
  | {
      readonly op: "random";
      readonly seedLo: Expr;
      readonly seedHi: Expr;
      readonly index: Expr;
      readonly bits: number;
      readonly type: "u32";
    };

export type Stmt =
  /** declares a mutable local, initialised */
  | { readonly op: "let"; readonly name: string; readonly type: ScalarType; readonly value: Expr }
  | { readonly op: "assign"; readonly name: string; readonly value: Expr }
  | { readonly op: "store"; readonly buffer: string; readonly index: Expr; readonly value: Expr }
  | {
      readonly op: "if";
      readonly cond: Expr;
      readonly then: readonly Stmt[];
      readonly else?: readonly Stmt[];
    }
  /** for (let v = start; v < end; v++): v is i32, start/end evaluated once */
  | {
      readonly op: "for";
      readonly var: string;
      readonly start: Expr;
      readonly end: Expr;
      readonly body: readonly Stmt[];
    }
  | { readonly op: "comment"; readonly text: string };

export interface Kernel {
  readonly name: string;
  readonly params: readonly Param[];
  readonly tables: readonly Table[];
  readonly body: readonly Stmt[];
  /**
   * A backend may fuse an f32 multiply with the add of its product (one
   * rounding instead of two). Only `order: any` GEMV sets it: its bound holds
   * either way. The evaluator and every backend by default compute them apart.
   */
  readonly contract?: boolean;
}

// ---- builders: keep lowering code short and typed ---------------------------

export const K = {
  f32: (value: number): Expr => ({ op: "const", type: "f32", value }),
  i32: (value: number): Expr => ({ op: "const", type: "i32", value }),
  u32: (value: number): Expr => ({ op: "const", type: "u32", value: value >>> 0 }),
  bool: (value: boolean): Expr => ({ op: "const", type: "bool", value }),
  v: (name: string, type: ScalarType): Expr => ({ op: "var", name, type }),
  load: (buffer: string, index: Expr, type: ScalarType): Expr => ({
    op: "load",
    buffer,
    index,
    type,
  }),
  bin: (kind: BinaryOp, a: Expr, b: Expr): Expr => ({
    op: "binary",
    kind,
    a,
    b,
    type: ["eq", "ne", "lt", "le", "gt", "ge"].includes(kind) ? "bool" : a.type,
  }),
  un: (kind: UnaryOp, a: Expr): Expr => ({
    op: "unary",
    kind,
    a,
    type: kind === "clz" ? "u32" : a.type,
  }),
  select: (cond: Expr, a: Expr, b: Expr): Expr => ({ op: "select", cond, a, b, type: a.type }),
  bitcast: (a: Expr, type: ScalarType): Expr => ({ op: "bitcast", a, type }),
  convert: (a: Expr, type: ScalarType): Expr => ({ op: "convert", a, type }),
  table: (table: string, index: Expr, type: ScalarType): Expr => ({
    op: "table",
    table,
    index,
    type,
  }),
  let: (name: string, value: Expr): Stmt => ({ op: "let", name, type: value.type, value }),
  assign: (name: string, value: Expr): Stmt => ({ op: "assign", name, value }),
  store: (buffer: string, index: Expr, value: Expr): Stmt => ({
    op: "store",
    buffer,
    index,
    value,
  }),
  if: (cond: Expr, then: Stmt[], otherwise?: Stmt[]): Stmt =>
    otherwise ? { op: "if", cond, then, else: otherwise } : { op: "if", cond, then },
  for: (v: string, start: Expr, end: Expr, body: Stmt[]): Stmt => ({
    op: "for",
    var: v,
    start,
    end,
    body,
  }),
  comment: (text: string): Stmt => ({ op: "comment", text }),
};

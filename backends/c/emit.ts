/**
 * KernelIR printed as C99: one function per kernel, a table from IR op to C
 * text. Used as the native reference of the benches (gcc -O3 -march=native
 * -ffp-contract=off keeps every f32 op a single IEEE op) and as the starting
 * point of the CUDA printer. Casts spell out the IR's u32/i32 semantics.
 */
import type { ElemType, Expr, Kernel, ScalarType, Stmt } from "../../ir/kernel.js";
import { INFIX } from "../../ir/kernel-print.js";

export const CTYPE: Record<ScalarType, string> = {
  f32: "float",
  i32: "int32_t",
  u32: "uint32_t",
  bool: "int",
};
export const ELEM: Record<ElemType, string> = {
  f32: "float",
  u8: "uint8_t",
  i8: "int8_t",
  u16: "uint16_t",
  u32: "uint32_t",
};

/** An exact C99 hex-float literal for an f32 value (decimal text can round). */
export function f32Literal(v: number): string {
  if (Number.isNaN(v)) return "NAN";
  if (v === Infinity) return "INFINITY";
  if (v === -Infinity) return "(-INFINITY)";
  const bits = new Uint32Array(Float32Array.of(v).buffer)[0];
  const sign = bits >>> 31 ? "-" : "";
  const exp = (bits >>> 23) & 0xff;
  const frac = ((bits & 0x7fffff) << 1).toString(16).padStart(6, "0");
  if (exp === 0) return `(${sign}0x0.${frac}p-126f)`;
  return `(${sign}0x1.${frac}p${exp - 127}f)`;
}

/**
 * What differs between C-family targets: how an f32 arithmetic op, an f32
 * sign op and a buffer index are spelled. Everything else is the shared table
 * below. The C99 dialect uses plain operators (gcc -ffp-contract=off).
 */
export interface CDialect {
  /** f32 add/sub/mul/div; undefined: the infix operator */
  readonly f32Binary?: (kind: "add" | "sub" | "mul" | "div", a: string, b: string) => string;
  /** f32 neg/abs; undefined: -x and fabsf */
  readonly f32Unary?: (kind: "neg" | "abs", a: string) => string;
  /** a load, store or table index; undefined: the expression as printed */
  readonly index?: (e: Expr) => string;
  /** a variable read; undefined: its name */
  readonly variable?: (name: string, type: ScalarType) => string;
}

export const C99: CDialect = {};

export function printExprC(e: Expr): string {
  return printExprIn(C99, e);
}

/** One KernelIR expression as C-family text in dialect `d`. */
export function printExprIn(d: CDialect, e: Expr): string {
  const p = (x: Expr) => printExprIn(d, x);
  const index = (x: Expr) => (d.index ? d.index(x) : p(x));
  switch (e.op) {
    case "const":
      if (e.type === "f32") return f32Literal(e.value as number);
      if (e.type === "bool") return e.value ? "1" : "0";
      return e.type === "u32"
        ? `${(e.value as number) >>> 0}u`
        : `((int32_t)${(e.value as number) | 0})`;
    case "var":
      return d.variable ? d.variable(e.name, e.type) : e.name;
    case "load":
      return `((${CTYPE[e.type]})${e.buffer}[${index(e.index)}])`;
    case "table":
      return `${e.table}[${index(e.index)}]`;
    case "binary": {
      const a = p(e.a);
      const b = p(e.b);
      const ops = INFIX;
      if (e.a.type === "f32" && d.f32Binary && ["add", "sub", "mul", "div"].includes(e.kind))
        return d.f32Binary(e.kind as "add" | "sub" | "mul" | "div", a, b);
      if (e.kind === "min" || e.kind === "max") return `qkc_${e.kind}_${e.a.type}(${a}, ${b})`;
      if (e.a.type === "i32" && ["add", "sub", "mul"].includes(e.kind))
        return `((int32_t)((uint32_t)${a} ${ops[e.kind]} (uint32_t)${b}))`; // wrapping
      // shift counts are taken modulo 32 (ir/kernel.ts), which C leaves undefined past 31
      if (e.kind === "shl")
        return e.a.type === "i32"
          ? `((int32_t)((uint32_t)${a} << (${b} & 31)))`
          : `(${a} << (${b} & 31))`;
      if (e.kind === "shr") return `(${a} >> (${b} & 31))`;
      if (e.a.type === "bool" && (e.kind === "and" || e.kind === "or"))
        return `(${a} ${e.kind === "and" ? "&&" : "||"} ${b})`;
      return `(${a} ${ops[e.kind]} ${b})`;
    }
    case "unary": {
      const a = p(e.a);
      if (e.type === "f32" && d.f32Unary && (e.kind === "neg" || e.kind === "abs"))
        return d.f32Unary(e.kind, a);
      switch (e.kind) {
        case "neg":
          return e.type === "f32" ? `(-${a})` : `((int32_t)(0u - (uint32_t)${a}))`;
        case "abs":
          return e.type === "f32" ? `fabsf(${a})` : `qkc_abs_i32(${a})`;
        case "floor":
          return `floorf(${a})`;
        case "not":
          return e.type === "bool" ? `(!${a})` : `(~${a})`;
        case "clz":
          return `qkc_clz(${a})`;
      }
      break;
    }
    case "select":
      return `(${p(e.cond)} ? ${p(e.a)} : ${p(e.b)})`;
    case "bitcast":
      if (e.type === "f32" && e.a.type !== "f32") return `qkc_as_f32((uint32_t)${p(e.a)})`;
      if (e.type !== "f32" && e.a.type === "f32")
        return `((${CTYPE[e.type]})qkc_as_u32(${p(e.a)}))`;
      return `((${CTYPE[e.type]})${p(e.a)})`;
    case "convert":
      return `((${CTYPE[e.type]})${p(e.a)})`;
    case "random":
      return `qkc_philox_bits(${p(e.seedLo)}, ${p(e.seedHi)}, (uint32_t)${p(e.index)}, ${e.bits})`;
  }
  throw new Error(`cannot print ${JSON.stringify(e).slice(0, 60)}`);
}

function printStmts(
  stmts: readonly Stmt[],
  indent: string,
  out: string[],
  declared: Set<string>,
): void {
  for (const s of stmts) {
    switch (s.op) {
      case "let":
        out.push(
          `${indent}${declared.has(s.name) ? "" : CTYPE[s.type] + " "}${s.name} = ${printExprC(s.value)};`,
        );
        declared.add(s.name);
        break;
      case "assign":
        out.push(`${indent}${s.name} = ${printExprC(s.value)};`);
        break;
      case "store":
        out.push(
          `${indent}${s.buffer}[${printExprC(s.index)}] = (${bufferType(s.buffer)})(${printExprC(s.value)});`,
        );
        break;
      case "if":
        out.push(`${indent}if (${printExprC(s.cond)}) {`);
        printStmts(s.then, indent + "  ", out, new Set(declared));
        if (s.else?.length) {
          out.push(`${indent}} else {`);
          printStmts(s.else, indent + "  ", out, new Set(declared));
        }
        out.push(`${indent}}`);
        break;
      case "for":
        out.push(
          `${indent}for (int32_t ${s.var} = ${printExprC(s.start)}, ${s.var}_end = ${printExprC(s.end)}; ${s.var} < ${s.var}_end; ${s.var}++) {`,
        );
        printStmts(s.body, indent + "  ", out, new Set(declared));
        out.push(`${indent}}`);
        break;
      case "comment":
        out.push(`${indent}/* ${s.text.replace(/\*\//g, "* /")} */`);
        break;
    }
  }
}

let bufferTypes = new Map<string, string>();
const bufferType = (name: string) => bufferTypes.get(name) ?? "float";

/**
 * The helpers printed expressions call, for a C-family target: `fn` qualifies
 * each function (C: `static inline`; CUDA adds `__host__ __device__`), `clz`
 * spells a count of leading zeros of a nonzero u32.
 */
export function cPrelude(fn = "static inline", clz = "__builtin_clz(x)"): string {
  return `static inline float qkc_as_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t qkc_as_u32(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline uint32_t qkc_clz(uint32_t x) { return x ? (uint32_t)${clz} : 32u; }
static inline int32_t qkc_abs_i32(int32_t x) { return x < 0 ? (int32_t)(0u - (uint32_t)x) : x; }
static inline int32_t qkc_min_i32(int32_t a, int32_t b) { return a < b ? a : b; }
static inline int32_t qkc_max_i32(int32_t a, int32_t b) { return a < b ? b : a; }
static inline uint32_t qkc_min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }
static inline uint32_t qkc_max_u32(uint32_t a, uint32_t b) { return a < b ? b : a; }
static inline uint32_t qkc_philox_bits(uint32_t k0, uint32_t k1, uint32_t index, int bits) {
  uint32_t c0 = index >> 2, c1 = 0, c2 = 0, c3 = 0;
  for (int r = 0; r < 10; r++) {
    if (r) { k0 += 0x9E3779B9u; k1 += 0xBB67AE85u; }
    uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
    uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
    c1 = (uint32_t)p1; c3 = (uint32_t)p0; c0 = n0; c2 = n2;
  }
  uint32_t j = index & 3u; /* selects, not an array: no local memory on a GPU */
  uint32_t word = j == 0u ? c0 : j == 1u ? c1 : j == 2u ? c2 : c3;
  return bits >= 32 ? word : word >> (32 - bits);
}
`.replaceAll("static inline", fn);
}

export const C_PRELUDE = `#include <stdint.h>
#include <string.h>
#include <math.h>
${cPrelude()}`;

export function printKernelC(k: Kernel): string {
  bufferTypes = new Map(
    k.params
      .filter((p) => p.kind === "buffer")
      .map((p) => [p.name, ELEM[(p as { elem: ElemType }).elem]]),
  );
  const params = k.params.map((p) =>
    p.kind === "buffer"
      ? `${p.access === "read" ? "const " : ""}${ELEM[p.elem]}* restrict ${p.name}`
      : `${CTYPE[p.type]} ${p.name}`,
  );
  const out: string[] = [];
  for (const t of k.tables)
    out.push(
      `static const ${t.type === "f32" ? "float" : "uint32_t"} ${t.name}[${t.values.length}] = { ${t.values.map((v) => (t.type === "f32" ? f32Literal(v) : `${v >>> 0}u`)).join(", ")} };`,
    );
  out.push(`void ${k.name}(${params.join(", ")}) {`);
  printStmts(k.body, "  ", out, new Set());
  out.push("}");
  return out.join("\n");
}

/**
 * The WebAssembly emitter: KernelIR through binaryen's builder API, one
 * exported function per kernel (named as the kernel), scalar code. The body is
 * a table from IR op to wasm instruction in the spirit of tinygrad's renderers;
 * the few ops wasm lacks as one instruction (integer min/max/abs, i32 division
 * of -2^31 by -1) are spelled out next to the table.
 *
 * Module shape
 * - Memory is imported as `env.memory` (min: the reserved region, max: 65536
 *   pages = 4 GiB) so the runtime owns it. Layout:
 *     [0, 16)              zero guard, never written
 *     [16, reservedBytes)  constant tables, one active data segment each, 16-byte
 *                          aligned, identical tables (same type and bytes) shared
 *     [reservedBytes, ...) the runtime's: buffers, 16-byte aligned, per call
 *   reservedBytes is a multiple of 64 KiB (at least one page).
 * - Parameters in the kernel's param order: a buffer is an i32 byte offset into
 *   memory; an i32/u32 scalar is i32; an f32 scalar is f32. Kernels return nothing.
 * - A custom section `qkc.manifest` (JSON: reservedBytes, each kernel's params,
 *   table offsets) makes the binary self-describing for the runtime.
 * - Only MVP features; binaryen's optimizer runs only with `optimize: true`.
 *
 * Values: bool is an i32 0/1; i32 and u32 are both wasm i32, their signedness
 * picks the instruction (div, shr, lt/le/gt/ge, min/max, convert). Names follow
 * the reference evaluator (ir/kernel-eval.ts): one flat namespace per kernel, a
 * `let` declares its name from that statement on, a later `let` of the same name
 * and type reuses the local, a `for` variable is an i32 local that holds the
 * iteration's value (assigning it in the body does not change the iteration;
 * after the loop it holds the last value). Every kernel is checked while it is
 * emitted (names, operand and result types, constants, tables), so an invalid
 * kernel is a `WasmEmitError` naming the kernel and the culprit, never a binaryen
 * validation failure; a module binaryen still rejects is a qkc bug and the error
 * carries binaryen's message.
 */
import {
  loadType,
  type BinaryOp,
  type BufferParam,
  type ElemType,
  type Expr,
  type Kernel,
  type ScalarType,
  type Stmt,
  type Table,
} from "../../ir/kernel.js";
import { printExpr } from "../../ir/kernel-print.js";
import {
  binaryen,
  capturePrints,
  setLocalName,
  type ExpressionRef as Ref,
  type Module,
  type Type,
} from "./binaryen.js";
import { emitPhilox, PHILOX } from "./philox.js";
import { vectorizeLoop, type LoopContext } from "./vectorize.js";
import { decodeLoop } from "./decode16.js";
import { gemvRows } from "./gemv-rows.js";
import {
  ALIGN,
  MANIFEST_SECTION,
  MAX_PAGES,
  PAGE_BYTES,
  TABLE_BASE,
  type WasmArtifact,
  type WasmManifest,
} from "./abi.js";

export {
  ALIGN,
  MANIFEST_SECTION,
  MAX_PAGES,
  PAGE_BYTES,
  TABLE_BASE,
  type WasmArtifact,
  type WasmManifest,
} from "./abi.js";

export interface EmitOptions {
  /** run binaryen's default optimization passes (off by default: the printed module is the IR, op for op) */
  readonly optimize?: boolean;
  /** vectorize per-element loops with SIMD128 (vectorize.ts; on by default, bit-exact with the scalar code) */
  readonly simd?: boolean;
  /** import a shared memory (for worker threads, threads.ts); the runtime must pass a shared WebAssembly.Memory */
  readonly sharedMemory?: boolean;
  /**
   * use relaxed SIMD's f32x4.relaxed_madd where a kernel allows contraction
   * (`order: any` GEMV): faster, fused or not as the machine does it (both within
   * the bound), and the module then needs a runtime with relaxed SIMD
   */
  readonly relaxedSimd?: boolean;
}

export class WasmEmitError extends Error {
  override name = "WasmEmitError";
}

const ELEM_BYTES: Record<ElemType, number> = { f32: 4, u8: 1, i8: 1, u16: 2, u32: 4 };
const INT: readonly ScalarType[] = ["i32", "u32"];
const NUMERIC: readonly ScalarType[] = ["f32", "i32", "u32"];
const ALL: readonly ScalarType[] = ["f32", "i32", "u32", "bool"];
const COMPARISONS: readonly BinaryOp[] = ["eq", "ne", "lt", "le", "gt", "ge"];

const wasmType = (t: ScalarType): Type => (t === "f32" ? binaryen.f32 : binaryen.i32);
const align = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

export function emitWasm(kernels: readonly Kernel[], options: EmitOptions = {}): WasmArtifact {
  const names = new Set<string>();
  for (const k of kernels) {
    if (names.has(k.name)) throw new WasmEmitError(`kernel ${k.name}: two kernels have this name`);
    if (k.name === PHILOX)
      throw new WasmEmitError(`kernel ${k.name}: the name is reserved for qkc's Philox function`);
    names.add(k.name);
  }
  const tables = layoutTables(kernels);
  const manifest: WasmManifest = {
    format: "qkc-wasm",
    version: 1,
    reservedBytes: tables.reservedBytes,
    kernels: kernels.map((k) => ({ name: k.name, params: k.params })),
    tableOffsets: tables.offsets,
  };
  const m = new binaryen.Module();
  try {
    const simd = options.simd !== false;
    const shared = options.sharedMemory === true;
    m.setFeatures(
      (simd ? binaryen.Features.SIMD128 : binaryen.Features.MVP) |
        (simd && options.relaxedSimd ? binaryen.Features.RelaxedSIMD : binaryen.Features.MVP) |
        (shared ? binaryen.Features.Atomics : binaryen.Features.MVP),
    );
    m.setMemory(
      tables.reservedBytes / PAGE_BYTES,
      MAX_PAGES,
      null,
      tables.segments.map((s) => ({ offset: m.i32.const(s.offset), data: s.data, passive: false })),
      shared,
    );
    m.addMemoryImport("0", "env", "memory", shared);
    if (kernels.some((k) => usesRandom(k.body))) emitPhilox(m);
    for (const k of kernels)
      emitKernel(
        m,
        k,
        tables.offsets[k.name],
        simd,
        simd && options.relaxedSimd === true && k.contract === true,
      );
    m.addCustomSection(MANIFEST_SECTION, new TextEncoder().encode(JSON.stringify(manifest)));
    const { value: valid, printed } = capturePrints(() => m.validate());
    if (!valid)
      throw new WasmEmitError(
        `qkc bug: binaryen rejects the wasm module for ${kernels.map((k) => k.name).join(", ")}:\n` +
          (printed || "(binaryen printed its message on stderr)"),
      );
    if (options.optimize) m.optimize();
    return {
      binary: m.emitBinary(),
      wat: m.emitText(),
      reservedBytes: tables.reservedBytes,
      tableOffsets: tables.offsets,
      manifest,
    };
  } finally {
    m.dispose();
  }
}

// ---- tables ---------------------------------------------------------------

function tableBytes(k: Kernel, t: Table): Uint8Array {
  const bytes = new Uint8Array(t.values.length * 4);
  const view = new DataView(bytes.buffer);
  t.values.forEach((v, i) => {
    if (t.type === "f32") {
      if (typeof v !== "number" || (Math.fround(v) !== v && !Number.isNaN(v)))
        throw new WasmEmitError(
          `kernel ${k.name}: table ${t.name}[${i}] = ${v} is not a float32 value`,
        );
      view.setFloat32(i * 4, v, true);
    } else if (t.type === "u32") {
      if (!Number.isInteger(v) || v < 0 || v >= 2 ** 32 || Object.is(v, -0))
        throw new WasmEmitError(
          `kernel ${k.name}: table ${t.name}[${i}] = ${v} is not a u32 value`,
        );
      view.setUint32(i * 4, v, true);
    } else {
      throw new WasmEmitError(
        `kernel ${k.name}: table ${t.name} has type ${String(t.type)}; tables are f32 or u32`,
      );
    }
  });
  return bytes;
}

function layoutTables(kernels: readonly Kernel[]) {
  const offsets: Record<string, Record<string, number>> = {};
  const segments: { offset: number; data: Uint8Array }[] = [];
  const shared = new Map<string, number>();
  let at = TABLE_BASE;
  for (const k of kernels) {
    const own: Record<string, number> = (offsets[k.name] = {});
    for (const t of k.tables) {
      if (t.name in own)
        throw new WasmEmitError(`kernel ${k.name}: two tables are named ${t.name}`);
      const data = tableBytes(k, t);
      const key = `${t.type}:${Array.from(data, (b) => b.toString(16).padStart(2, "0")).join("")}`;
      let offset = shared.get(key);
      if (offset === undefined) {
        offset = at;
        shared.set(key, offset);
        segments.push({ offset, data });
        at = align(at + data.length);
      }
      own[t.name] = offset;
    }
  }
  return { offsets, segments, reservedBytes: Math.max(1, Math.ceil(at / PAGE_BYTES)) * PAGE_BYTES };
}

// ---- kernels --------------------------------------------------------------

function usesRandom(stmts: readonly Stmt[]): boolean {
  const inExpr = (e: Expr): boolean => {
    switch (e.op) {
      case "random":
        return true;
      case "const":
      case "var":
        return false;
      case "load":
      case "table":
        return inExpr(e.index);
      case "binary":
        return inExpr(e.a) || inExpr(e.b);
      case "unary":
      case "bitcast":
      case "convert":
        return inExpr(e.a);
      case "select":
        return inExpr(e.cond) || inExpr(e.a) || inExpr(e.b);
    }
  };
  return stmts.some((s) => {
    switch (s.op) {
      case "let":
      case "assign":
        return inExpr(s.value);
      case "store":
        return inExpr(s.index) || inExpr(s.value);
      case "if":
        return inExpr(s.cond) || usesRandom(s.then) || usesRandom(s.else ?? []);
      case "for":
        return inExpr(s.start) || inExpr(s.end) || usesRandom(s.body);
      case "comment":
        return false;
    }
  });
}

/** Can evaluating `e` trap in wasm (memory access, integer division, float -> int)? Such operands of `select` are only evaluated when chosen. */
export function mayTrap(e: Expr): boolean {
  switch (e.op) {
    case "load":
    case "table":
      return true;
    case "const":
    case "var":
      return false;
    case "binary":
      return (e.kind === "div" && e.type !== "f32") || mayTrap(e.a) || mayTrap(e.b);
    case "convert":
      return (e.a.type === "f32" && e.type !== "f32") || mayTrap(e.a);
    case "unary":
    case "bitcast":
      return mayTrap(e.a);
    case "select":
      return mayTrap(e.cond) || mayTrap(e.a) || mayTrap(e.b);
    case "random":
      return mayTrap(e.seedLo) || mayTrap(e.seedHi) || mayTrap(e.index);
  }
}

export interface Local {
  readonly index: number;
  readonly type: ScalarType;
}

export type Bin = (a: Ref, b: Ref) => Ref;

function emitKernel(
  m: Module,
  k: Kernel,
  tableOffsets: Record<string, number>,
  simd: boolean,
  fuse: boolean,
): void {
  const fail = (msg: string): never => {
    throw new WasmEmitError(`kernel ${k.name}: ${msg}`);
  };
  const at = (e: Expr) => ` in \`${printExpr(e)}\``;

  // ---- names: parameters, then locals in order of first declaration
  const buffers = new Map<string, BufferParam>();
  const vars = new Map<string, Local>();
  const paramTypes: Type[] = [];
  const localNames: string[] = [];
  for (const p of k.params) {
    if (buffers.has(p.name) || vars.has(p.name)) fail(`two parameters are named ${p.name}`);
    if (p.kind === "buffer") {
      if (!(p.elem in ELEM_BYTES)) fail(`buffer ${p.name} has element type ${String(p.elem)}`);
      buffers.set(p.name, p);
      paramTypes.push(binaryen.i32);
    } else {
      if (!NUMERIC.includes(p.type))
        fail(`scalar ${p.name} has type ${String(p.type)}; scalars are f32, i32 or u32`);
      vars.set(p.name, { index: paramTypes.length, type: p.type });
      paramTypes.push(wasmType(p.type));
    }
    localNames.push(p.name);
  }
  const varTypes: Type[] = [];
  const newLocal = (name: string, type: ScalarType): Local => {
    const l = { index: paramTypes.length + varTypes.length, type };
    varTypes.push(wasmType(type));
    localNames.push(name);
    return l;
  };
  const newVector = (name: string): number => {
    varTypes.push(binaryen.v128);
    localNames.push(name);
    return paramTypes.length + varTypes.length - 1;
  };
  let temps = 0;
  const temp = (type: ScalarType) => newLocal(`#t${temps++}`, type);
  const declare = (name: string, type: ScalarType, what: string): Local => {
    if (buffers.has(name)) fail(`${what} ${name} has the name of a buffer parameter`);
    const l = vars.get(name);
    if (l) {
      if (l.type !== type)
        fail(`${what} ${name} is ${type}, but ${name} is already a ${l.type} variable`);
      return l;
    }
    const fresh = newLocal(name, type);
    vars.set(name, fresh);
    return fresh;
  };
  const lookup = (name: string, where: string): Local => {
    const l = vars.get(name);
    if (l) return l;
    if (buffers.has(name)) return fail(`${name} is a buffer, not a variable${where}`);
    return fail(`variable ${name} is used before its let${where}`);
  };
  const get = (l: Local) => m.local.get(l.index, wasmType(l.type));
  const set = (l: Local, v: Ref) => m.local.set(l.index, v);

  // ---- type checks
  const want = (e: Expr, types: readonly ScalarType[], what: string, ctx: Expr) => {
    if (!types.includes(e.type))
      fail(`${what} must be ${types.join(" or ")}, not ${String(e.type)}${at(ctx)}`);
  };
  const same = (a: Expr, b: Expr, ctx: Expr) => {
    if (a.type !== b.type)
      fail(`operands are ${a.type} and ${b.type}; they must have one type${at(ctx)}`);
  };

  // ---- the op table
  /** i32 ops that do not depend on signedness */
  const anyInt: Partial<Record<BinaryOp, Bin>> = {
    add: m.i32.add,
    sub: m.i32.sub,
    mul: m.i32.mul,
    and: m.i32.and,
    or: m.i32.or,
    xor: m.i32.xor,
    shl: m.i32.shl,
    eq: m.i32.eq,
    ne: m.i32.ne,
  };
  /**
   * f(x, y, ...) for an op that reads its operands more than once: a local.get
   * or a constant is copied, anything else is set to a temporary local first.
   */
  const reusing = (type: ScalarType, operands: Ref[], f: (...xs: (() => Ref)[]) => Ref): Ref => {
    const setup: Ref[] = [];
    const xs = operands.map((a) => {
      const id = binaryen.getExpressionId(a);
      if (id === binaryen.LocalGetId || id === binaryen.ConstId) {
        let used = false;
        return () => (used ? m.copyExpression(a) : ((used = true), a));
      }
      const t = temp(type);
      setup.push(set(t, a));
      return () => get(t);
    });
    const body = f(...xs);
    return setup.length ? m.block(null, [...setup, body], wasmType(type)) : body;
  };
  const minMax =
    (lt: Bin, min: boolean): Bin =>
    (a, b) =>
      reusing("i32", [a, b], (x, y) =>
        min ? m.select(lt(x(), y()), x(), y()) : m.select(lt(x(), y()), y(), x()),
      );
  const BINARY: Record<"f32" | "i32" | "u32", Partial<Record<BinaryOp, Bin>>> = {
    f32: {
      add: m.f32.add,
      sub: m.f32.sub,
      mul: m.f32.mul,
      div: m.f32.div,
      eq: m.f32.eq,
      ne: m.f32.ne,
      lt: m.f32.lt,
      le: m.f32.le,
      gt: m.f32.gt,
      ge: m.f32.ge,
    },
    i32: {
      ...anyInt,
      // wrapping: -2^31 / -1 is -2^31, where wasm's div_s traps; x / -1 is 0 - x
      div: (a, b) =>
        reusing("i32", [a, b], (x, y) => {
          const minusOne = () => m.i32.eq(y(), m.i32.const(-1));
          const safe = m.i32.div_s(x(), m.select(minusOne(), m.i32.const(1), y()));
          return m.select(minusOne(), m.i32.sub(m.i32.const(0), x()), safe);
        }),
      shr: m.i32.shr_s,
      lt: m.i32.lt_s,
      le: m.i32.le_s,
      gt: m.i32.gt_s,
      ge: m.i32.ge_s,
      min: minMax(m.i32.lt_s, true),
      max: minMax(m.i32.lt_s, false),
    },
    u32: {
      ...anyInt,
      div: m.i32.div_u,
      shr: m.i32.shr_u,
      lt: m.i32.lt_u,
      le: m.i32.le_u,
      gt: m.i32.gt_u,
      ge: m.i32.ge_u,
      min: minMax(m.i32.lt_u, true),
      max: minMax(m.i32.lt_u, false),
    },
  };

  /** loads widen: u8/u16 zero-extend, i8 sign-extends */
  const LOAD: Record<ElemType, (ptr: Ref) => Ref> = {
    f32: (p) => m.f32.load(0, 4, p),
    u32: (p) => m.i32.load(0, 4, p),
    u16: (p) => m.i32.load16_u(0, 2, p),
    u8: (p) => m.i32.load8_u(0, 1, p),
    i8: (p) => m.i32.load8_s(0, 1, p),
  };
  /** stores truncate */
  const STORE: Record<ElemType, (ptr: Ref, v: Ref) => Ref> = {
    f32: (p, v) => m.f32.store(0, 4, p, v),
    u32: (p, v) => m.i32.store(0, 4, p, v),
    u16: (p, v) => m.i32.store16(0, 2, p, v),
    u8: (p, v) => m.i32.store8(0, 1, p, v),
    i8: (p, v) => m.i32.store8(0, 1, p, v),
  };

  const binary = (e: Extract<Expr, { op: "binary" }>): Ref => {
    const { kind, a, b } = e;
    const cmp = COMPARISONS.includes(kind);
    if (cmp) {
      same(a, b, e);
      if (e.type !== "bool") fail(`${kind} gives bool, not ${e.type}${at(e)}`);
    } else if (kind === "and" || kind === "or" || kind === "xor") {
      want(a, ["i32", "u32", "bool"], `the operands of ${kind}`, e);
      if (a.type === "bool" || b.type === "bool" || e.type === "bool") {
        same(a, b, e);
        if (e.type !== "bool") fail(`${kind} of bools gives bool, not ${e.type}${at(e)}`);
      } else {
        want(b, INT, `the operands of ${kind}`, e);
        want(e, INT, `the result of ${kind}`, e);
      }
    } else if (kind === "shl" || kind === "shr") {
      want(a, INT, `the value shifted by ${kind}`, e);
      want(b, INT, `the shift count of ${kind}`, e);
      if (kind === "shr" && e.type !== a.type)
        fail(`shr of a ${a.type} gives ${a.type}, not ${e.type}${at(e)}`);
      want(e, INT, `the result of ${kind}`, e);
    } else if (kind === "add" || kind === "sub" || kind === "mul") {
      want(a, NUMERIC, `the operands of ${kind}`, e);
      if (a.type === "f32" || b.type === "f32" || e.type === "f32") {
        same(a, b, e);
        if (e.type !== "f32") fail(`${kind} of f32 gives f32, not ${e.type}${at(e)}`);
      } else {
        want(b, INT, `the operands of ${kind}`, e);
        want(e, INT, `the result of ${kind}`, e);
      }
    } else if (kind === "div" || kind === "min" || kind === "max") {
      want(a, kind === "div" ? NUMERIC : INT, `the operands of ${kind}`, e);
      same(a, b, e);
      if (e.type !== a.type) fail(`${kind} of ${a.type} gives ${a.type}, not ${e.type}${at(e)}`);
    } else {
      fail(`unknown binary op ${String(kind)}${at(e)}`);
    }
    const x = ex(a);
    const y = ex(b);
    // comparisons of bools compare 0/1 as unsigned integers
    const table = BINARY[a.type === "bool" ? "u32" : (a.type as "f32" | "i32" | "u32")];
    const op = table[kind] ?? fail(`${kind} is not defined for ${a.type}${at(e)}`);
    return op(x, y);
  };

  const unary = (e: Extract<Expr, { op: "unary" }>): Ref => {
    const t = e.a.type;
    if (e.kind === "clz") {
      want(e.a, INT, "the operand of clz", e);
      want(e, INT, "the result of clz", e);
    } else if (e.type !== t) fail(`${e.kind} of ${t} gives ${t}, not ${e.type}${at(e)}`);
    const a = ex(e.a);
    switch (e.kind) {
      case "neg":
        want(e.a, NUMERIC, "the operand of neg", e);
        return t === "f32" ? m.f32.neg(a) : m.i32.sub(m.i32.const(0), a);
      case "abs":
        want(e.a, NUMERIC, "the operand of abs", e);
        if (t === "f32") return m.f32.abs(a);
        if (t === "u32") return a;
        return reusing("i32", [a], (x) =>
          m.select(m.i32.lt_s(x(), m.i32.const(0)), m.i32.sub(m.i32.const(0), x()), x()),
        );
      case "floor":
        want(e.a, ["f32"], "the operand of floor", e);
        return m.f32.floor(a);
      case "not":
        want(e.a, ["i32", "u32", "bool"], "the operand of not", e);
        return t === "bool" ? m.i32.eqz(a) : m.i32.xor(a, m.i32.const(-1));
      case "clz":
        return m.i32.clz(a);
    }
    return fail(`unknown unary op ${String(e.kind)}${at(e)}`);
  };

  const address = (buffer: string, index: Expr, where: string): { elem: ElemType; ptr: Ref } => {
    const p = buffers.get(buffer) ?? fail(`no buffer parameter ${buffer}${where}`);
    if (!INT.includes(index.type))
      fail(`the index into ${buffer} must be i32 or u32, not ${index.type}${where}`);
    const shift = Math.log2(ELEM_BYTES[p.elem]);
    const i = ex(index);
    return {
      elem: p.elem,
      ptr: m.i32.add(
        m.local.get(k.params.indexOf(p), binaryen.i32),
        shift ? m.i32.shl(i, m.i32.const(shift)) : i,
      ),
    };
  };

  const constant = (e: Extract<Expr, { op: "const" }>): Ref => {
    const v = e.value;
    const bad = (what: string) => fail(`constant ${String(v)} is not ${what}${at(e)}`);
    // the evaluator would keep the sign of an integer -0 through a convert to f32
    if (e.type !== "f32" && Object.is(v, -0))
      fail(`constant -0 is not an ${e.type}; write 0${at(e)}`);
    switch (e.type) {
      case "f32": {
        if (typeof v !== "number") return bad("a number");
        if (Math.fround(v) !== v && !Number.isNaN(v))
          return bad("a float32 value (round it with Math.fround)");
        const bits = new Uint32Array(new Float32Array([v]).buffer)[0];
        return m.f32.const_bits(bits | 0);
      }
      case "i32":
        if (!Number.isInteger(v) || (v as number) < -(2 ** 31) || (v as number) >= 2 ** 31)
          return bad("an i32");
        return m.i32.const(v as number);
      case "u32":
        if (!Number.isInteger(v) || (v as number) < 0 || (v as number) >= 2 ** 32)
          return bad("a u32");
        return m.i32.const((v as number) | 0);
      case "bool":
        if (typeof v !== "boolean") return bad("a boolean");
        return m.i32.const(v ? 1 : 0);
    }
    return fail(`constant of unknown type ${String((e as { type: unknown }).type)}`);
  };

  const ex = (e: Expr): Ref => {
    switch (e.op) {
      case "const":
        return constant(e);
      case "var": {
        const l = lookup(e.name, stmtContext);
        if (l.type !== e.type) fail(`variable ${e.name} is ${l.type}, but is read as ${e.type}`);
        return get(l);
      }
      case "load": {
        const { elem, ptr } = address(e.buffer, e.index, at(e));
        if (e.type !== loadType(elem))
          fail(
            `a load from ${elem} buffer ${e.buffer} gives ${loadType(elem)}, not ${e.type}${at(e)}`,
          );
        return LOAD[elem](ptr);
      }
      case "table": {
        const t = k.tables.find((t) => t.name === e.table) ?? fail(`no table ${e.table}${at(e)}`);
        if (e.type !== t.type) fail(`table ${t.name} holds ${t.type}, not ${e.type}${at(e)}`);
        want(e.index, INT, `the index into table ${t.name}`, e);
        const ptr = m.i32.add(
          m.i32.const(tableOffsets[t.name]),
          m.i32.shl(ex(e.index), m.i32.const(2)),
        );
        return t.type === "f32" ? m.f32.load(0, 4, ptr) : m.i32.load(0, 4, ptr);
      }
      case "binary":
        return binary(e);
      case "unary":
        return unary(e);
      case "select": {
        want(e.cond, ["bool", "i32", "u32"], "the condition of select", e);
        same(e.a, e.b, e);
        if (e.type !== e.a.type)
          fail(`select of ${e.a.type} gives ${e.a.type}, not ${e.type}${at(e)}`);
        const [c, a, b] = [ex(e.cond), ex(e.a), ex(e.b)];
        // wasm's select evaluates both operands; the evaluator only the chosen one
        return mayTrap(e.a) || mayTrap(e.b) ? m.if(c, a, b) : m.select(c, a, b);
      }
      case "bitcast": {
        want(e.a, NUMERIC, "the operand of bitcast", e);
        want(e, NUMERIC, "the result of bitcast", e);
        const a = ex(e.a);
        if (e.type === "f32" && e.a.type !== "f32") return m.f32.reinterpret(a);
        if (e.type !== "f32" && e.a.type === "f32") return m.i32.reinterpret(a);
        return a;
      }
      case "convert": {
        want(e, NUMERIC, "the result of convert", e);
        want(e.a, ALL, "the operand of convert", e);
        const a = ex(e.a);
        const from = e.a.type;
        if (e.type === "f32")
          return from === "i32"
            ? m.f32.convert_s.i32(a)
            : from === "f32"
              ? a
              : m.f32.convert_u.i32(a);
        if (from === "f32") return e.type === "i32" ? m.i32.trunc_s.f32(a) : m.i32.trunc_u.f32(a);
        return a; // i32 <-> u32 keep the bits; bool is already 0/1
      }
      case "random": {
        if (!Number.isInteger(e.bits) || e.bits < 1 || e.bits > 32)
          fail(`random takes 1 to 32 bits, not ${e.bits}${at(e)}`);
        const type: string = e.type;
        if (type !== "u32") fail(`random gives u32, not ${type}${at(e)}`);
        for (const [what, x] of [
          ["seedLo", e.seedLo],
          ["seedHi", e.seedHi],
          ["index", e.index],
        ] as const)
          want(x, INT, `the ${what} of random`, e);
        const word = m.call(PHILOX, [ex(e.seedLo), ex(e.seedHi), ex(e.index)], binaryen.i32);
        return e.bits === 32 ? word : m.i32.shr_u(word, m.i32.const(32 - e.bits));
      }
    }
    return fail(`unknown expression op ${String((e as { op: unknown }).op)}`);
  };

  let labels = 0;
  /** where the statement being emitted is, for messages about names */
  let stmtContext = "";
  const context = (s: Stmt): string => {
    switch (s.op) {
      case "let":
        return ` in let ${s.name}`;
      case "assign":
        return ` in the assignment to ${s.name}`;
      case "store":
        return ` in the store to ${s.buffer}`;
      case "if":
        return " in the condition of an if";
      case "for":
        return ` in the bounds of for ${s.var}`;
      default:
        return "";
    }
  };
  const st = (s: Stmt): Ref => {
    stmtContext = context(s);
    switch (s.op) {
      case "let": {
        if (!ALL.includes(s.type)) fail(`let ${s.name} has type ${String(s.type)}`);
        if (s.value.type !== s.type)
          fail(`let ${s.name}: ${s.type} is given a ${s.value.type} value`);
        const value = ex(s.value); // the value is emitted before the name exists
        return set(declare(s.name, s.type, "let"), value);
      }
      case "assign": {
        const l = lookup(s.name, stmtContext);
        if (l.type !== s.value.type)
          fail(`${s.name} is ${l.type}, but is assigned a ${s.value.type} value`);
        return set(l, ex(s.value));
      }
      case "store": {
        const p = buffers.get(s.buffer) ?? fail(`no buffer parameter ${s.buffer} to store to`);
        if (p.access === "read") fail(`buffer ${s.buffer} is read-only, but is stored to`);
        const { elem, ptr } = address(s.buffer, s.index, ` in the store to ${s.buffer}`);
        const ok = elem === "f32" ? s.value.type === "f32" : s.value.type !== "f32";
        if (!ok) fail(`a ${s.value.type} value cannot be stored to ${elem} buffer ${s.buffer}`);
        const v = ex(s.value);
        return STORE[elem](ptr, v);
      }
      case "if": {
        want(s.cond, ["bool", "i32", "u32"], "the condition of if", s.cond);
        const cond = ex(s.cond);
        const then = m.block(null, stmts(s.then));
        return s.else?.length ? m.if(cond, then, m.block(null, stmts(s.else))) : m.if(cond, then);
      }
      case "for": {
        // for (v = start; v < end; v++), v an i32; start and end evaluated once (end first, as the evaluator does)
        want(s.start, ["i32"], `the start of for ${s.var}`, s.start);
        want(s.end, ["i32"], `the end of for ${s.var}`, s.end);
        const id = labels++;
        const end = newLocal(`#end${id}`, "i32");
        const start = newLocal(`#start${id}`, "i32");
        const setup = [set(end, ex(s.end)), set(start, ex(s.start))];
        const tail = scalarLoop(s, get(start), get(end));
        // decode loops 16 codes per step (decode16.ts; GEMV rows two at a time, gemv-rows.ts), else the generic 4-lane vectorizer
        const vector = simd
          ? (gemvRows(loopContext, s, start.index, end.index) ??
            decodeLoop(loopContext, s, start.index, end.index) ??
            vectorizeLoop(loopContext, s, start.index, end.index))
          : undefined;
        return m.block(null, vector ? [...setup, vector, tail.loop] : [...setup, tail.loop]);
      }
      case "comment":
        return m.nop(); // not reached: stmts() drops comments
    }
    return fail(`unknown statement op ${String((s as { op: unknown }).op)}`);
  };

  /**
   * The scalar loop of `s` from `from` to `to` (i32 values, evaluated once). Its counter
   * local is returned so that a vectorized prefix can start it later.
   */
  const scalarLoop = (s: Extract<Stmt, { op: "for" }>, from: Ref, to: Ref) => {
    const id = labels++;
    const end = newLocal(`#end${id}`, "i32");
    const counter = newLocal(`#i${id}`, "i32");
    const v = declare(s.var, "i32", "for variable");
    const exit = `for${id}.exit`;
    const next = `for${id}.next`;
    const loop = m.block(null, [
      set(end, to),
      set(counter, from),
      m.block(exit, [
        m.loop(
          next,
          m.block(null, [
            m.br(exit, m.i32.ge_s(get(counter), get(end))),
            set(v, get(counter)),
            ...stmts(s.body),
            set(counter, m.i32.add(get(counter), m.i32.const(1))),
            m.br(next),
          ]),
        ),
      ]),
    ]);
    return { loop, counter };
  };

  const stmts = (list: readonly Stmt[]) => list.filter((s) => s.op !== "comment").map(st);
  const loopContext: LoopContext = {
    m,
    kernel: k,
    fuse,
    ex,
    stmts,
    scalarLoop: (s, from, to) => scalarLoop(s, from, to).loop,
    declare: (name, type) => declare(name, type, "let"),
    lookup: (name) => vars.get(name),
    temp: (type) => (type === "v128" ? newVector(`#v${temps++}`) : temp(type).index),
    vectorLocal: (name) => newVector(name),
    buffer: (name) => {
      const p = buffers.get(name);
      return p && { elem: p.elem, access: p.access, param: k.params.indexOf(p) };
    },
    loadAt: (name, index) => {
      const p = buffers.get(name)!;
      const shift = Math.log2(ELEM_BYTES[p.elem]);
      const ptr = m.i32.add(
        m.local.get(k.params.indexOf(p), binaryen.i32),
        shift ? m.i32.shl(index, m.i32.const(shift)) : index,
      );
      return LOAD[p.elem](ptr);
    },
    tableAt: (name, index) => {
      const t = k.tables.find((t) => t.name === name)!;
      const ptr = m.i32.add(m.i32.const(tableOffsets[t.name]), m.i32.shl(index, m.i32.const(2)));
      return t.type === "f32" ? m.f32.load(0, 4, ptr) : m.i32.load(0, 4, ptr);
    },
    table: (name) => {
      const t = k.tables.find((t) => t.name === name);
      return t && { table: t, offset: tableOffsets[t.name] };
    },
    binaryOp: (kind, type) =>
      BINARY[type === "bool" ? "u32" : (type as "f32" | "i32" | "u32")][kind],
    unaryOp: (kind, type, a) => {
      switch (kind) {
        case "neg":
          return type === "f32" ? m.f32.neg(a) : m.i32.sub(m.i32.const(0), a);
        case "abs":
          if (type === "f32") return m.f32.abs(a);
          if (type === "u32") return a;
          return reusing("i32", [a], (x) =>
            m.select(m.i32.lt_s(x(), m.i32.const(0)), m.i32.sub(m.i32.const(0), x()), x()),
          );
        case "floor":
          return m.f32.floor(a);
        case "not":
          return type === "bool" ? m.i32.eqz(a) : m.i32.xor(a, m.i32.const(-1));
        case "clz":
          return m.i32.clz(a);
      }
    },
    random: (seedLo, seedHi, index, bits) => {
      const word = m.call(PHILOX, [seedLo, seedHi, index], binaryen.i32);
      return bits === 32 ? word : m.i32.shr_u(word, m.i32.const(32 - bits));
    },
    label: () => labels++,
  };
  const body = m.block(null, stmts(k.body));
  const f = m.addFunction(k.name, binaryen.createType(paramTypes), binaryen.none, varTypes, body);
  localNames.forEach((name, i) => setLocalName(f, i, name));
  m.addFunctionExport(k.name, k.name);
}

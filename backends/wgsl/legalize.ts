/**
 * KernelIR rewritten into what WGSL can say exactly, before emit.ts prints it.
 *
 * - Sub-word storage: WGSL has no 8- or 16-bit storage, so u8/i8/u16 buffers
 *   become arrays of u32 words holding the same bytes (little-endian: element i
 *   of a u8 buffer is bits 8*(i%4).. of word i/4, exactly the host's Uint8Array
 *   over the same memory, so packed nibbles and 6-bit groups keep the layout's
 *   order). Loads shift and mask; stores go through `atomicAnd`/`atomicOr` on the
 *   word, because neighbouring invocations may write the other bytes of it.
 * - Specials: WGSL lets compilers assume no NaN or infinity, so `x != x` (and
 *   `x == x`) becomes a test on the bits of `bitcast<u32>(x)`, and f32 `abs`/`neg`
 *   become sign-bit operations, as the IR defines them.
 * - Literal-only subexpressions are folded with the KernelIR evaluator: in WGSL
 *   they would be const-expressions, where an overflow, a NaN or an out-of-range
 *   shift is a shader-creation error instead of the IR's wrapping result.
 * - f32 division is printed as a call of qkc_div (emit.ts), a correctly rounded
 *   division on the bits: WGSL allows 2.5 ulp, and engines use it (SwiftShader
 *   turns `x / 2688.0` into a multiply by a rounded reciprocal).
 * - Tables become one read-only u32 storage buffer (f32 entries as bits).
 * - Parallelism: the last top-level loop nest whose iterations are independent
 *   (no iteration assigns a variable declared outside it) is collapsed into one
 *   iteration space that invocations share; what comes before it (the prefix)
 *   runs in every invocation, its stores only in the first, or, when it loops
 *   (a tensor amax), once in an entry point of its own (`state`). A kernel that
 *   does not have that shape runs in one invocation: still exact, just serial.
 *
 * No `fma` is ever introduced: every f32 op stays the one binary32 op of the IR.
 */
import { exprVars, sameExpr } from "../../ir/kernel-walk.js";
import {
  K,
  type ScalarType,
  type BufferParam,
  type Expr,
  type Kernel,
  type ScalarParam,
  type Stmt,
} from "../../ir/kernel.js";
import { evaluateKernel } from "../../ir/kernel-eval.js";
import { f16 } from "../../ir/formats/index.js";
import { tableName } from "../../passes/lower/encode.js";
import { prefixMaxima } from "./reduce.js";

/** A statement of a legalized kernel: KernelIR statements plus the sub-word store. */
export type WStmt =
  | Exclude<Stmt, { op: "if" } | { op: "for" }>
  | {
      readonly op: "if";
      readonly cond: Expr;
      readonly then: readonly WStmt[];
      readonly else?: readonly WStmt[];
    }
  | {
      readonly op: "for";
      readonly var: string;
      readonly start: Expr;
      readonly end: Expr;
      readonly body: readonly WStmt[];
    }
  /** writes the low `bits` bits of `value` (u32) at bit `shift` of word `word` of an atomic buffer */
  | {
      readonly op: "store_bits";
      readonly buffer: string;
      readonly word: Expr;
      readonly shift: Expr;
      readonly bits: 8 | 16;
      readonly value: Expr;
    }
  /** runs only in the first invocation */
  | { readonly op: "lead"; readonly body: readonly WStmt[] }
  /**
   * a prefix loop computing a non-negative f32 maximum into `acc` (reduce.ts):
   * the prefix's workgroup splits its iterations and combines the partial
   * maxima in workgroup slot `slot`
   */
  | {
      readonly op: "max_reduce";
      readonly loop: Extract<WStmt, { op: "for" }>;
      readonly acc: string;
      readonly slot: number;
    };

export interface WgslBuffer {
  readonly name: string;
  /** the KernelIR element type; the WGSL array is of f32, i32... or u32 words */
  readonly elem: BufferParam["elem"];
  readonly access: BufferParam["access"];
  /** u8/i8/u16 held in u32 words */
  readonly words: boolean;
  /** sub-word and written: an array<atomic<u32>> */
  readonly atomic: boolean;
}

export interface WgslTable {
  readonly name: string;
  readonly offset: number;
  readonly length: number;
}

export interface LegalKernel {
  readonly name: string;
  readonly scalars: readonly ScalarParam[];
  /** binding order after the scalars' uniform: the kernel's buffers, then `qkc_tables` if any */
  readonly buffers: readonly WgslBuffer[];
  readonly tables: readonly WgslTable[];
  /** every table's values as u32 words, in `tables` order */
  readonly tableWords: Uint32Array;
  readonly prefix: readonly WStmt[];
  /** iterations of the parallel region, in terms of prefix variables (the shader's count) */
  readonly count: Expr;
  /** the same count in terms of scalars only (the host's, to size the dispatch) */
  readonly hostCount: Expr;
  /** name of the i32 iteration number the body reads */
  readonly iteration: string;
  readonly body: readonly WStmt[];
  /** false when the kernel runs in one invocation */
  readonly parallel: boolean;
  /** f16 inputs decoded by the hardware: the shader needs `enable f16` (LegalizeOptions) */
  readonly f16: boolean;
  /**
   * Set when the prefix loops (NVFP4's tensor amax): it then runs once, in its
   * own one-invocation entry point, which leaves these top-level prefix values
   * in the `qkc_state` buffer for the main entry point to read, instead of
   * every invocation repeating an O(n) loop. Its loops that are maxima
   * (`max_reduce`) are shared by the invocations of that entry point's
   * workgroup.
   */
  readonly state?: readonly { readonly name: string; readonly type: ScalarType }[];
}

export class WgslLegalizeError extends Error {
  override name = "WgslLegalizeError";
}

export const TABLES_BUFFER = "qkc_tables";
export const ITERATION = "qkc_it";
export const STATE_BUFFER = "qkc_state";

const i = K.i32;
const u = K.u32;

// ---- expressions ------------------------------------------------------------

const isConst = (e: Expr): boolean => e.op === "const";

/** Evaluates a literal-only expression exactly as the KernelIR evaluator does. */
function fold(e: Expr): Expr {
  const out = e.type === "f32" ? new Float32Array(1) : new Uint32Array(1);
  const value =
    e.type === "bool" ? K.convert(e, "u32") : e.type === "i32" ? K.bitcast(e, "u32") : e;
  evaluateKernel(
    {
      name: "fold",
      params: [
        { kind: "buffer", name: "out", elem: e.type === "f32" ? "f32" : "u32", access: "write" },
      ],
      tables: [],
      body: [K.store("out", i(0), value)],
    },
    { out },
  );
  const v = out[0];
  if (e.type === "f32") return K.f32(v);
  if (e.type === "bool") return K.bool(v !== 0);
  return e.type === "i32" ? K.i32(v | 0) : K.u32(v);
}

/** bits(x) & 0x7fffffff > 0x7f800000: x is a NaN, decided on its bits */
const isNaNBits = (x: Expr): Expr =>
  K.bin("gt", K.bin("and", K.bitcast(x, "u32"), u(0x7fffffff)), u(0x7f800000));

interface Storage {
  readonly f16: boolean;
  readonly buffers: ReadonlyMap<string, WgslBuffer>;
  readonly tables: ReadonlyMap<string, WgslTable & { type: "f32" | "u32" }>;
}

function wordOf(b: WgslBuffer, index: Expr): { word: Expr; shift: Expr; bits: 8 | 16 } {
  const bits = b.elem === "u16" ? 16 : 8;
  const lanes = 32 / bits;
  return {
    word: K.bin("shr", index, i(Math.log2(lanes))),
    shift: K.bin("mul", K.convert(K.bin("and", index, i(lanes - 1)), "u32"), u(bits)),
    bits,
  };
}

function expr(e: Expr, st: Storage): Expr {
  const x = (a: Expr) => expr(a, st);
  switch (e.op) {
    case "const":
    case "var":
      return e;
    case "load": {
      const b = st.buffers.get(e.buffer);
      if (!b) throw new WgslLegalizeError(`load from ${e.buffer}, which is not a buffer parameter`);
      const index = x(e.index);
      if (!b.words) return { ...e, index };
      const { word, shift, bits } = wordOf(b, index);
      const w = K.load(e.buffer, word, "u32");
      if (b.elem === "i8")
        return K.bin("shr", K.bitcast(K.bin("shl", w, K.bin("sub", u(24), shift)), "i32"), i(24));
      return K.bin("and", K.bin("shr", w, shift), u(bits === 8 ? 0xff : 0xffff));
    }
    case "table": {
      // f16 inputs on an adapter with shader-f16: the hardware conversion (emit.ts qkc_half)
      if (st.f16 && e.table === F16_TABLE) return { ...e, index: x(e.index) };
      const t = st.tables.get(e.table);
      if (!t)
        throw new WgslLegalizeError(`lookup in ${e.table}, which is not a table of the kernel`);
      const word = K.load(
        TABLES_BUFFER,
        x(K.bin("add", e.index, e.index.type === "u32" ? u(t.offset) : i(t.offset))),
        "u32",
      );
      return t.type === "f32" ? K.bitcast(word, "f32") : word;
    }
    case "binary": {
      const a = x(e.a);
      const b = x(e.b);
      if (isConst(a) && isConst(b)) return fold({ ...e, a, b });
      if (a.type === "f32" && (e.kind === "ne" || e.kind === "eq") && sameExpr(a, b))
        return e.kind === "ne" ? isNaNBits(a) : K.un("not", isNaNBits(a));
      return { ...e, a, b };
    }
    case "unary": {
      const a = x(e.a);
      if (isConst(a)) return fold({ ...e, a });
      if (e.type === "f32" && (e.kind === "abs" || e.kind === "neg"))
        return K.bitcast(
          K.bin(
            e.kind === "abs" ? "and" : "xor",
            K.bitcast(a, "u32"),
            u(e.kind === "abs" ? 0x7fffffff : 0x80000000),
          ),
          "f32",
        );
      return { ...e, a };
    }
    case "select": {
      const cond = x(e.cond);
      if (cond.op === "const") return cond.value ? x(e.a) : x(e.b);
      return { ...e, cond, a: x(e.a), b: x(e.b) };
    }
    case "bitcast":
    case "convert": {
      const a = x(e.a);
      return isConst(a) ? fold({ ...e, a }) : { ...e, a };
    }
    case "random":
      return { ...e, seedLo: x(e.seedLo), seedHi: x(e.seedHi), index: x(e.index) };
  }
}

function stmts(list: readonly Stmt[], st: Storage): WStmt[] {
  return list.map((s): WStmt => {
    switch (s.op) {
      case "let":
      case "assign":
        return { ...s, value: expr(s.value, st) };
      case "store": {
        const b = st.buffers.get(s.buffer);
        if (!b)
          throw new WgslLegalizeError(`store to ${s.buffer}, which is not a buffer parameter`);
        if (b.access === "read")
          throw new WgslLegalizeError(`store to read-only buffer ${s.buffer}`);
        const index = expr(s.index, st);
        let value = expr(s.value, st);
        if (value.type === "bool") value = K.convert(value, "u32");
        if (b.words || b.elem === "u32") {
          if (value.type === "f32")
            throw new WgslLegalizeError(`an f32 value stored to ${b.elem} buffer ${s.buffer}`);
          if (value.type === "i32") value = K.bitcast(value, "u32");
        } else if (value.type !== "f32") {
          throw new WgslLegalizeError(`a ${value.type} value stored to f32 buffer ${s.buffer}`);
        }
        if (!b.words) return { op: "store", buffer: s.buffer, index, value };
        const { word, shift, bits } = wordOf(b, index);
        return { op: "store_bits", buffer: s.buffer, word, shift, bits, value };
      }
      case "if":
        return {
          op: "if",
          cond: expr(s.cond, st),
          then: stmts(s.then, st),
          ...(s.else ? { else: stmts(s.else, st) } : {}),
        };
      case "for":
        return { ...s, start: expr(s.start, st), end: expr(s.end, st), body: stmts(s.body, st) };
      case "comment":
        return s;
    }
  });
}

// ---- parallel region ----------------------------------------------------------

/** Variables a statement list writes, and the names it declares (at any depth). */
function effects(
  list: readonly WStmt[],
  assigned = new Set<string>(),
  declared = new Set<string>(),
) {
  for (const s of list) {
    if (s.op === "let") declared.add(s.name);
    else if (s.op === "assign") assigned.add(s.name);
    else if (s.op === "if") {
      effects(s.then, assigned, declared);
      effects(s.else ?? [], assigned, declared);
    } else if (s.op === "for") {
      declared.add(s.var);
      effects(s.body, assigned, declared);
    } else if (s.op === "lead") effects(s.body, assigned, declared);
    else if (s.op === "max_reduce") effects([s.loop], assigned, declared);
  }
  return { assigned, declared };
}

function buffersTouched(
  list: readonly WStmt[],
  kind: "load" | "store",
  out = new Set<string>(),
): Set<string> {
  const visit = (e: Expr): void => {
    if (e.op === "load") out.add(e.buffer);
    if (e.op === "load" || e.op === "table") visit(e.index);
    else if (e.op === "binary") {
      visit(e.a);
      visit(e.b);
    } else if (e.op === "select") {
      visit(e.cond);
      visit(e.a);
      visit(e.b);
    } else if (e.op === "unary" || e.op === "bitcast" || e.op === "convert") visit(e.a);
    else if (e.op === "random") {
      visit(e.seedLo);
      visit(e.seedHi);
      visit(e.index);
    }
  };
  for (const s of list) {
    if (s.op === "store" || s.op === "store_bits") {
      if (kind === "store") out.add(s.buffer);
      else {
        visit(s.op === "store" ? s.index : s.word);
        visit(s.value);
      }
    } else if (s.op === "let" || s.op === "assign") {
      if (kind === "load") visit(s.value);
    } else if (s.op === "if") {
      if (kind === "load") visit(s.cond);
      buffersTouched(s.then, kind, out);
      buffersTouched(s.else ?? [], kind, out);
    } else if (s.op === "for") {
      if (kind === "load") {
        visit(s.start);
        visit(s.end);
      }
      buffersTouched(s.body, kind, out);
    } else if (s.op === "lead") buffersTouched(s.body, kind, out);
    else if (s.op === "max_reduce") buffersTouched([s.loop], kind, out);
  }
  return out;
}

/** Independent iterations: the body assigns (or re-declares) nothing declared outside it. */
function independent(loop: Extract<WStmt, { op: "for" }>, outside: ReadonlySet<string>): boolean {
  const { assigned, declared } = effects(loop.body);
  if (assigned.has(loop.var)) return false;
  for (const a of assigned) if (!declared.has(a)) return false;
  for (const d of declared) if (outside.has(d)) return false;
  return true;
}

const withoutComments = (list: readonly WStmt[]) => list.filter((s) => s.op !== "comment");

/** Substitutes prefix `let`s that are never reassigned, so `e` reads only scalars. */
function inlineLets(
  e: Expr,
  lets: ReadonlyMap<string, Expr>,
  scalars: ReadonlySet<string>,
): Expr | undefined {
  const go = (x: Expr): Expr | undefined => {
    switch (x.op) {
      case "var":
        if (scalars.has(x.name)) return x;
        return lets.has(x.name) ? go(lets.get(x.name)!) : undefined;
      case "const":
        return x;
      case "binary": {
        const a = go(x.a);
        const b = go(x.b);
        return a && b ? { ...x, a, b } : undefined;
      }
      case "unary":
      case "bitcast":
      case "convert": {
        const a = go(x.a);
        return a ? { ...x, a } : undefined;
      }
      case "select": {
        const [c, a, b] = [go(x.cond), go(x.a), go(x.b)];
        return c && a && b ? { ...x, cond: c, a, b } : undefined;
      }
      default:
        return undefined; // loads, tables and random bits are not the host's
    }
  };
  return go(e);
}

function guardStores(list: readonly WStmt[]): WStmt[] {
  return list.map((s): WStmt => {
    if (s.op === "store" || s.op === "store_bits") return { op: "lead", body: [s] };
    if (s.op === "if")
      return { ...s, then: guardStores(s.then), ...(s.else ? { else: guardStores(s.else) } : {}) };
    if (s.op === "for") return { ...s, body: guardStores(s.body) };
    return s;
  });
}

interface Region {
  prefix: WStmt[];
  count: Expr;
  hostCount: Expr;
  body: WStmt[];
  parallel: boolean;
}

function serial(body: WStmt[]): Region {
  return { prefix: [], count: i(1), hostCount: i(1), body, parallel: false };
}

function region(body: WStmt[], scalars: ReadonlySet<string>, st: Storage): Region {
  let last = body.length - 1;
  while (last >= 0 && body[last].op === "comment") last--;
  const top = body[last];
  if (!top || top.op !== "for") return serial(body);
  const prefix = body.slice(0, last);
  const outside = new Set([...scalars, ...effects(prefix).declared]);
  const lets = new Map<string, Expr>();
  const prefixAssigned = effects(prefix).assigned;
  for (const s of prefix)
    if (s.op === "let" && !prefixAssigned.has(s.name)) lets.set(s.name, s.value);

  const loops: Extract<WStmt, { op: "for" }>[] = [];
  let loop: WStmt = top;
  while (loop.op === "for" && independent(loop, outside)) {
    const bounds = [...exprVars(loop.start), ...exprVars(loop.end)];
    if (bounds.some((v) => loops.some((l) => l.var === v) || !outside.has(v))) break;
    loops.push(loop);
    const inner = withoutComments(loop.body);
    if (inner.length !== 1 || inner[0].op !== "for") break;
    loop = inner[0];
  }
  if (loops.length === 0) return serial(body);
  // a prefix store read by the body would race with the first invocation
  const prefixStores = buffersTouched(prefix, "store");
  const innermost = loops[loops.length - 1];
  if ([...buffersTouched(innermost.body, "load")].some((b) => prefixStores.has(b)))
    return serial(body);

  const extent = (l: (typeof loops)[number]) => K.bin("max", K.bin("sub", l.end, l.start), i(0));
  const count = expr(
    loops.map(extent).reduce((a, b) => K.bin("mul", a, b)),
    st,
  );
  const hostCount = inlineLets(count, lets, scalars);
  if (!hostCount) return serial(body);

  // the iteration number back to each loop variable, innermost fastest
  const decode: WStmt[] = [];
  let rest: Expr = K.v(ITERATION, "i32");
  for (let j = loops.length - 1; j >= 0; j--) {
    const l = loops[j];
    const ext = `qkc_ext_${j}`;
    decode.unshift({ op: "let", name: ext, type: "i32", value: expr(extent(l), st) });
    const v = K.v(ext, "i32");
    const within = j === 0 ? rest : K.bin("sub", rest, K.bin("mul", K.bin("div", rest, v), v));
    decode.push({
      op: "let",
      name: l.var,
      type: "i32",
      value: expr(K.bin("add", l.start, within), st),
    });
    if (j > 0) {
      const q = `qkc_q_${j}`;
      decode.push({ op: "let", name: q, type: "i32", value: K.bin("div", rest, v) });
      rest = K.v(q, "i32");
    }
  }
  return {
    prefix: guardStores(prefix),
    count,
    hostCount,
    body: [...decode, ...innermost.body],
    parallel: true,
  };
}

// ---- the kernel -------------------------------------------------------------------

export interface LegalizeOptions {
  /**
   * Decode f16 inputs with the adapter's f16 conversion (needs `shader-f16`)
   * instead of the exact 64K-entry table; a decode of f16 is then a `table`
   * expression on F16_TABLE that emit.ts prints as `qkc_half`.
   */
  readonly f16?: boolean;
}

/** The decode table of f16 inputs (passes/lower decodeExpr of the f16 format). */
export const F16_TABLE = tableName(f16, "values");

export function legalize(k: Kernel, options: LegalizeOptions = {}): LegalKernel {
  const useF16 = options.f16 === true && k.tables.some((t) => t.name === F16_TABLE);
  const scalars = k.params.filter((p): p is ScalarParam => p.kind === "scalar");
  const stored = new Set<string>();
  const visitStores = (list: readonly Stmt[]) => {
    for (const s of list) {
      if (s.op === "store") stored.add(s.buffer);
      if (s.op === "if") {
        visitStores(s.then);
        visitStores(s.else ?? []);
      }
      if (s.op === "for") visitStores(s.body);
    }
  };
  visitStores(k.body);
  const buffers: WgslBuffer[] = k.params
    .filter((p): p is BufferParam => p.kind === "buffer")
    .map((p) => {
      const words = p.elem === "u8" || p.elem === "i8" || p.elem === "u16";
      return {
        name: p.name,
        elem: p.elem,
        access: p.access,
        words,
        atomic: words && p.access !== "read" && stored.has(p.name),
      };
    });
  const tables: (WgslTable & { type: "f32" | "u32" })[] = [];
  const words: number[] = [];
  const bits = new Uint32Array(1);
  const asF32 = new Float32Array(bits.buffer);
  for (const t of k.tables) {
    if (useF16 && t.name === F16_TABLE) continue;
    tables.push({ name: t.name, offset: words.length, length: t.values.length, type: t.type });
    for (const v of t.values) {
      if (t.type === "f32") asF32[0] = v;
      else bits[0] = v;
      words.push(bits[0]);
    }
  }
  const tablesBuffer: WgslBuffer = {
    name: TABLES_BUFFER,
    elem: "u32",
    access: "read",
    words: false,
    atomic: false,
  };
  const storage: Storage = {
    f16: useF16,
    buffers: new Map(buffers.map((b) => [b.name, b])),
    tables: new Map(tables.map((t) => [t.name, t])),
  };
  const r = region(stmts(k.body, storage), new Set(scalars.map((s) => s.name)), storage);
  let state: { name: string; type: ScalarType }[] | undefined;
  let prefix = r.prefix;
  if (r.parallel && loops(r.prefix)) {
    // legalized statements correspond one to one to the kernel's top-level ones
    const maxima = prefixMaxima(k.body.slice(0, r.prefix.length));
    if (maxima?.length)
      prefix = r.prefix.map((s, at): WStmt => {
        const slot = maxima.findIndex((m) => m.at === at);
        if (slot < 0) return s;
        if (s.op !== "for") throw new WgslLegalizeError(`prefix statement ${at} is not a loop`);
        return { op: "max_reduce", loop: s, acc: maxima[slot].acc, slot };
      });
    // only what the main entry point reads
    const read = varsIn(r.body, exprVars(r.count));
    state = [];
    for (const s of r.prefix)
      if (s.op === "let" && read.has(s.name) && !state.some((v) => v.name === s.name))
        state.push({ name: s.name, type: s.type });
  }
  const stateBuffer: WgslBuffer = {
    name: STATE_BUFFER,
    elem: "u32",
    access: "read_write",
    words: false,
    atomic: false,
  };
  return {
    name: k.name,
    scalars,
    buffers: [...buffers, ...(words.length ? [tablesBuffer] : []), ...(state ? [stateBuffer] : [])],
    tables: tables.map(({ name, offset, length }) => ({ name, offset, length })),
    tableWords: Uint32Array.from(words),
    prefix,
    count: r.count,
    hostCount: r.hostCount,
    iteration: ITERATION,
    body: r.body,
    parallel: r.parallel,
    f16: useF16,
    ...(state ? { state } : {}),
  };
}

/** Every variable the statements read. */
function varsIn(list: readonly WStmt[], out = new Set<string>()): Set<string> {
  for (const s of list) {
    if (s.op === "let" || s.op === "assign") exprVars(s.value, out);
    else if (s.op === "store") {
      exprVars(s.index, out);
      exprVars(s.value, out);
    } else if (s.op === "store_bits") {
      exprVars(s.word, out);
      exprVars(s.shift, out);
      exprVars(s.value, out);
    } else if (s.op === "if") {
      exprVars(s.cond, out);
      varsIn(s.then, out);
      varsIn(s.else ?? [], out);
    } else if (s.op === "for") {
      exprVars(s.start, out);
      exprVars(s.end, out);
      varsIn(s.body, out);
    } else if (s.op === "lead") varsIn(s.body, out);
    else if (s.op === "max_reduce") varsIn([s.loop], out);
  }
  return out;
}

function loops(list: readonly WStmt[]): boolean {
  return list.some(
    (s) =>
      s.op === "for" ||
      (s.op === "if" && (loops(s.then) || loops(s.else ?? []))) ||
      (s.op === "lead" && loops(s.body)) ||
      s.op === "max_reduce",
  );
}

/** The iteration count of a legalized kernel for the given scalars (the host sizes its dispatch with it). */
export function iterations(
  k: Pick<LegalKernel, "name" | "scalars" | "hostCount">,
  scalars: Record<string, number>,
): number {
  const out = new Int32Array(1);
  evaluateKernel(
    {
      name: `${k.name}_count`,
      params: [...k.scalars, { kind: "buffer", name: "out", elem: "u32", access: "write" }],
      tables: [],
      body: [K.store("out", i(0), K.bitcast(k.hostCount, "u32"))],
    },
    { out: new Uint32Array(out.buffer) },
    scalars,
  );
  return Math.max(out[0], 0);
}

/** Names a statement list assigns, and names it declares more than once (the printer makes both `var`s). */
export function effectsOf(list: readonly WStmt[]): {
  assigned: Set<string>;
  redeclared: Set<string>;
} {
  const seen = new Set<string>();
  const redeclared = new Set<string>();
  const visit = (l: readonly WStmt[]) => {
    for (const s of l) {
      if (s.op === "let") {
        if (seen.has(s.name)) redeclared.add(s.name);
        seen.add(s.name);
      } else if (s.op === "if") {
        visit(s.then);
        visit(s.else ?? []);
      } else if (s.op === "for" || s.op === "lead") visit(s.body);
      else if (s.op === "max_reduce") visit([s.loop]);
    }
  };
  visit(list);
  return { assigned: effects(list).assigned, redeclared };
}

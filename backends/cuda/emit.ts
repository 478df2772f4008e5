/**
 * KernelIR printed as CUDA C++: one `.cu` per kernel set with a `__global__`
 * function per IR kernel (plus a pre-pass for hoisted reductions) and an
 * `extern "C"` launcher taking device pointers, sizes and a stream; a header
 * declaring the launchers. Expressions come from the C printer's table
 * (backends/c/emit.ts) in a CUDA dialect: f32 arithmetic as __fadd_rn /
 * __fsub_rn / __fmul_rn / __fdiv_rn (never contracted into an FMA, whatever
 * -fmad says), sign ops on the bits, indices in 64 bits. schedule.ts decides
 * how loops map onto threads; nothing here changes an operation or its order.
 *
 * The same file compiles with nvcc, or with g++ and the CPU execution layer
 * of ./emulator (its `cuda_runtime.h` is found first on the include path).
 */
import {
  K,
  loadType,
  type ElemType,
  type Expr,
  type Kernel,
  type Param,
  type Stmt,
} from "../../ir/kernel.js";
import { INFIX } from "../../ir/kernel-print.js";
import { CTYPE, ELEM, cPrelude, f32Literal, printExprIn, type CDialect } from "../c/emit.js";
import { exprVars, walk, walkExprs } from "../../ir/kernel-walk.js";
import { schedule, type Reduction, type Schedule } from "./schedule.js";
import { HARDWARE, HARDWARE_PRELUDE, hardwareEncoders, type HardwareEncoder } from "./cvt.js";
import {
  accessBytes,
  chunkLength,
  laneChunks,
  replaceLoads,
  substitute,
  vectorAccesses,
  type LaneChunks,
  type VectorAccess,
} from "./vectorize.js";

/** Threads per CUDA block: 8 warps. */
export const THREADS = 256;
/**
 * Blocks per SM the register budget of a kernel with vector chunks must
 * allow (85 registers a thread): with no minimum ptxas aims at 48 registers
 * on sm_80/sm_90a and spills the unrolled chunks. Kernels without chunks
 * keep ptxas's own choice.
 */
export const CHUNK_MIN_BLOCKS = 3;
/**
 * The same for GEMV's lane chunks (128 registers a thread): a chunk of 32
 * codes and 32 activations in registers next to the 16 accumulators spills
 * at 85 in the 64-bit index instance.
 */
export const LANE_CHUNK_MIN_BLOCKS = 2;
/** Upper bound on the grid; grid-stride loops cover the rest. */
export const MAX_BLOCKS = 65535;

export interface CudaKernelInfo {
  readonly name: string;
  /** the extern "C" launcher */
  readonly launcher: string;
  readonly params: readonly Param[];
  readonly mode: Schedule["mode"];
  readonly lanes: number;
  readonly schedule: string;
  /** elements per vector chunk of the item's loops (1: none; vectorize.ts) */
  readonly chunk: number;
  /** bits of the narrowest vector load of the chunks (128 unless a chunk holds under 16 bytes; 0: none) */
  readonly vectorLoadBits: number;
  /** bytes of device workspace the launcher needs (0: no workspace parameter) */
  readonly workspaceBytes: number;
  /** the __global__ functions it launches, in order */
  readonly globals: readonly string[];
}

export interface CudaArtifact {
  readonly cu: string;
  readonly header: string;
  readonly kernels: readonly CudaKernelInfo[];
}

export interface CudaEmitOptions {
  /** file name of the header, included by the .cu */
  readonly headerName?: string;
  /** first comment line of both files */
  readonly title?: string;
  /** lanes per item for a kernel (default 32), e.g. the scheme's block length */
  readonly lanes?: (kernel: Kernel) => number;
}

/** The state of printing one kernel: which i32 variables are 64-bit indices. */
class Printer {
  readonly wide = new Set<string>();
  /** memo encoders done by a PTX conversion where the arch has it, by the lookup's variable */
  readonly hardware: ReadonlyMap<string, HardwareEncoder>;
  readonly dialect: CDialect;
  private readonly elems: Map<string, ElemType>;

  constructor(readonly k: Kernel) {
    this.hardware = new Map([...hardwareEncoders(k).values()].map((h) => [h.lookup.name, h]));
    this.elems = new Map(
      k.params.flatMap((p) => (p.kind === "buffer" ? [[p.name, p.elem] as const] : [])),
    );
    const lets = new Map<string, Expr>();
    walk(k.body, (s) => s.op === "let" && lets.set(s.name, s.value));
    const work: string[] = [];
    const seed = (e: Expr): void => {
      if (e.type !== "i32") return;
      if (e.op === "var") {
        if (!this.wide.has(e.name)) {
          this.wide.add(e.name);
          work.push(e.name);
        }
      } else if (e.op === "binary" && ["add", "sub", "mul", "div", "min", "max"].includes(e.kind)) {
        seed(e.a);
        seed(e.b);
      }
    };
    const indices = (e: Expr): void => {
      if (e.op === "load" || e.op === "table") seed(e.index);
      for (const c of Object.values(e))
        if (c && typeof c === "object" && "op" in c) indices(c as Expr);
    };
    walkExprs(k.body, indices);
    walk(k.body, (s) => s.op === "store" && seed(s.index));
    while (work.length) {
      const v = lets.get(work.pop()!);
      if (v) seed(v);
    }
    this.dialect = {
      f32Binary: (kind, a, b) => `__f${kind}_rn(${a}, ${b})`,
      f32Unary: (kind, a) =>
        kind === "neg"
          ? `qkc_as_f32(qkc_as_u32(${a}) ^ 0x80000000u)`
          : `qkc_as_f32(qkc_as_u32(${a}) & 0x7fffffffu)`,
      index: (e) => this.index(e),
      // a 64-bit index read as the IR's i32 elsewhere: i32 arithmetic stays 32-bit
      variable: (name, type) =>
        type === "i32" && this.wide.has(name) ? `((int32_t)${name})` : name,
    };
  }

  expr(e: Expr): string {
    return printExprIn(this.dialect, e);
  }

  /** An i32 index expression in 64-bit arithmetic (the same value wherever i32 did not wrap). */
  index(e: Expr): string {
    if (e.type !== "i32") return `(qkc_index_t)(${this.expr(e)})`;
    switch (e.op) {
      case "var":
        return this.wide.has(e.name) ? e.name : `(qkc_index_t)${e.name}`;
      case "const":
        return `(qkc_index_t)${e.value as number}`;
      case "binary":
        if (e.kind === "min" || e.kind === "max")
          return `qkc_i${e.kind}<qkc_index_t>(${this.index(e.a)}, ${this.index(e.b)})`;
        if (["add", "sub", "mul"].includes(e.kind))
          return `(${this.index(e.a)} ${INFIX[e.kind]} ${this.index(e.b)})`;
    }
    // division and everything else: the IR's own i32 value
    return `(qkc_index_t)(${this.expr(e)})`;
  }

  typeOf(name: string, t: Stmt & { op: "let" }): string {
    return t.type === "i32" && this.wide.has(name) ? "qkc_index_t" : CTYPE[t.type];
  }

  value(name: string, e: Expr): string {
    return e.type === "i32" && this.wide.has(name) ? this.index(e) : this.expr(e);
  }

  loopType(v: string): string {
    return this.wide.has(v) ? "qkc_index_t" : "int32_t";
  }

  elem(buffer: string): string {
    return ELEM[this.elems.get(buffer) ?? "f32"];
  }
}

interface Ctx {
  readonly p: Printer;
  readonly sched: Schedule;
  /** "item": group-mode item level (stores on lane 0, split loops); "lane": per lane; "pre": preamble */
  readonly where: "item" | "lane" | "pre" | "plain";
  readonly overrides?: ReadonlyMap<Stmt, (indent: string) => string[]>;
  /** item-level loops printed in chunks of consecutive iterations (vectorize.ts) */
  readonly chunks?: ReadonlyMap<Stmt, Chunking>;
}

interface Chunking {
  /** iterations per chunk */
  readonly length: number;
  readonly accesses: readonly VectorAccess[];
  /** a lane group loop (GEMV): its lanes run from vector registers */
  readonly lanes?: LaneChunks;
}

type Overrides = (body: readonly Stmt[]) => Map<Stmt, (indent: string) => string[]>;

function printStmts(
  ctx: Ctx,
  stmts: readonly Stmt[],
  indent: string,
  out: string[],
  declared: Set<string>,
): void {
  const { p } = ctx;
  for (let j = 0; j < stmts.length; j++) {
    const s = stmts[j];
    const override = ctx.overrides?.get(s);
    if (override) {
      out.push(...override(indent));
      continue;
    }
    const hw = s.op === "let" ? p.hardware.get(s.name) : undefined;
    if (hw && s.op === "let") {
      // the memo encoder (this let and the exact path after it), or one PTX conversion
      const { guard, fn } = HARDWARE[hw.format];
      const v = hw.input;
      out.push(
        `#if ${guard}`,
        `${indent}${declared.has(s.name) ? "" : "uint32_t "}${s.name} = ${v} != ${v} ? ${hw.nanCode}u : ${fn}(${v});`,
        `#else`,
      );
      out.push(
        `${indent}${declared.has(s.name) ? "" : "uint32_t "}${s.name} = ${p.expr(s.value)};`,
      );
      printStmts(ctx, [stmts[j + 1]], indent, out, new Set([...declared, s.name]));
      out.push(`#endif`);
      declared.add(s.name);
      j++;
      continue;
    }
    switch (s.op) {
      case "let":
        out.push(
          `${indent}${declared.has(s.name) ? "" : p.typeOf(s.name, s) + " "}${s.name} = ${p.value(s.name, s.value)};`,
        );
        declared.add(s.name);
        break;
      case "assign":
        out.push(`${indent}${s.name} = ${p.value(s.name, s.value)};`);
        break;
      case "store": {
        const text = `${s.buffer}[${p.index(s.index)}] = (${p.elem(s.buffer)})(${p.expr(s.value)});`;
        if (ctx.where === "pre")
          out.push(`${indent}if (blockIdx.x == 0 && threadIdx.x == 0) ${text}`);
        else if (ctx.where === "item") {
          out.push(`${indent}if (qkc_lane == 0) ${text}`);
          if (ctx.sched.syncAfterWrites) out.push(`${indent}__syncwarp(qkc_mask);`);
        } else out.push(`${indent}${text}`);
        break;
      }
      case "if":
        out.push(`${indent}if (${p.expr(s.cond)}) {`);
        printStmts(ctx, s.then, indent + "  ", out, new Set(declared));
        if (s.else?.length) {
          out.push(`${indent}} else {`);
          printStmts(ctx, s.else, indent + "  ", out, new Set(declared));
        }
        out.push(`${indent}}`);
        break;
      case "for": {
        const split = ctx.where === "item" ? ctx.sched.loops.get(s) : undefined;
        const chunk = ctx.where === "plain" ? ctx.chunks?.get(s) : undefined;
        if (split === "map") printMap(ctx, s, indent, out, declared);
        else if (split) printReduction(ctx, s, split, indent, out, declared);
        else if (chunk?.lanes) printLaneChunks(ctx, s, chunk.lanes, indent, out, declared);
        else if (chunk) {
          out.push(`${indent}/* ${s.var}: in order, ${chunk.length} iterations at a time */`);
          printChunks(
            ctx,
            s,
            chunk,
            "0",
            String(chunk.length),
            indent,
            out,
            declared,
            () => new Map(),
          );
        } else {
          const t = p.loopType(s.var);
          const bound = (e: Expr) => (t === "qkc_index_t" ? p.index(e) : p.expr(e));
          out.push(
            `${indent}for (${t} ${s.var} = ${bound(s.start)}, ${s.var}_end = ${bound(s.end)}; ${s.var} < ${s.var}_end; ${s.var}++) {`,
          );
          printStmts(ctx, s.body, indent + "  ", out, new Set(declared));
          out.push(`${indent}}`);
        }
        break;
      }
      case "comment":
        out.push(`${indent}/* ${s.text.replace(/\*\//g, "* /")} */`);
        break;
    }
  }
}

type For = Extract<Stmt, { op: "for" }>;

const loopBound = (p: Printer, v: string) => (e: Expr) =>
  p.loopType(v) === "qkc_index_t" ? p.index(e) : p.expr(e);

/** The loop of an item split among its lanes: every `lanes`-th iteration, or chunks of them. */
function printLaneLoop(
  ctx: Ctx,
  s: For,
  indent: string,
  out: string[],
  declared: Set<string>,
  overrides: Overrides,
): void {
  const L = ctx.sched.lanes;
  const chunk = ctx.chunks?.get(s);
  if (chunk) {
    const V = chunk.length;
    out.push(
      `${indent}/* ${s.var}: lane l takes the chunks of ${V} iterations at ${V} l, ${V} (l + ${L}), ... */`,
    );
    printChunks(ctx, s, chunk, "qkc_lane", String(V * L), indent, out, declared, overrides);
    return;
  }
  const { p } = ctx;
  const t = p.loopType(s.var);
  const bound = loopBound(p, s.var);
  out.push(
    `${indent}/* ${s.var}: lane l takes iterations l, l + ${L}, ... */`,
    `${indent}for (${t} ${s.var} = ${bound(s.start)} + (${t})qkc_lane, ${s.var}_end = ${bound(s.end)}; ${s.var} < ${s.var}_end; ${s.var} += ${L}) {`,
  );
  printStmts(
    { ...ctx, where: "lane", overrides: overrides(s.body) },
    s.body,
    indent + "  ",
    out,
    new Set(declared),
  );
  out.push(`${indent}}`);
}

/**
 * A loop in chunks of V consecutive iterations, the first at `first` chunks
 * from the start, then every `step` iterations. A chunk that lies inside the
 * loop, with unit strides and aligned addresses, loads its vector buffers
 * before its iterations and stores them after, in 128-bit accesses; any
 * other chunk runs the loop body as written.
 */
function printChunks(
  ctx: Ctx,
  s: For,
  chunk: Chunking,
  first: string,
  step: string,
  indent: string,
  out: string[],
  declared: Set<string>,
  overrides: Overrides,
): void {
  const { p } = ctx;
  const V = chunk.length;
  const t = p.loopType(s.var);
  const bound = loopBound(p, s.var);
  const t0 = `qkc_${s.var}0`;
  const end = `${s.var}_end`;
  const i1 = indent + "  ";
  const i2 = i1 + "  ";
  const i3 = i2 + "  ";
  const strides = [
    ...new Set(
      chunk.accesses
        .filter((a) => !(a.stride.op === "const" && a.stride.value === 1))
        .map((a) => `${p.index(a.stride)} == 1`),
    ),
  ];
  out.push(
    `${indent}for (${t} ${t0} = ${bound(s.start)} + (${t})${V} * (${t})(${first}), ${end} = ${bound(s.end)}; ${t0} < ${end}; ${t0} += ${step}) {`,
  );
  const v = vectorLines(p, chunk.accesses, V, (a) => substitute(a.index, s.var, K.v(t0, "i32")));
  out.push(...v.decls.map((l) => i1 + l));
  out.push(`${i1}if (${[...strides, `${t0} + ${V} <= ${end}`, ...v.conds].join(" && ")}) {`);
  out.push(...v.loads.map((l) => i2 + l));
  const stores = chunk.accesses.filter((a) => a.kind === "store");
  for (const a of stores) out.push(`${i2}${ELEM[a.elem]} ${vecOf(a)}[${V}];`);
  // the body on the chunk's registers; lets only the replaced accesses' indices read are dropped
  const read = v
    .read(s.body, "qkc_i")
    .map((x) =>
      x.op === "store" && stores.some((a) => a.buffer === x.buffer) ? { ...x, index: K.i32(0) } : x,
    );
  const local = new Set<string>();
  walk(read, (x) => x.op === "let" && local.add(x.name));
  const outer = new Set<string>();
  walk(read, (x) => x.op === "assign" && !local.has(x.name) && outer.add(x.name));
  const body = pruneDead({ ...p.k, body: read }, outer).body;
  const own = overrides(body);
  for (const x of body) {
    const a = x.op === "store" ? stores.find((y) => y.buffer === x.buffer) : undefined;
    if (a && x.op === "store")
      own.set(x, (ind) => [`${ind}${vecOf(a)}[qkc_i] = (${ELEM[a.elem]})(${p.expr(x.value)});`]);
  }
  out.push(`${i2}QKC_UNROLL`, `${i2}for (int qkc_i = 0; qkc_i < ${V}; qkc_i++) {`);
  let readsVar = false;
  walkExprs(body, (e) => (readsVar ||= exprVars(e).has(s.var)));
  // (the overrides of indexed reductions read it too)
  if (readsVar || overrides(body).size) out.push(`${i3}const ${t} ${s.var} = ${t0} + (${t})qkc_i;`);
  printStmts({ ...ctx, where: "lane", overrides: own }, body, i3, out, new Set(declared));
  out.push(`${i2}}`);
  for (const a of stores) out.push(`${i2}qkc_vstore(${atOf(a)}, ${vecOf(a)});`);
  out.push(
    `${i1}} else {`,
    `${i2}for (${t} ${s.var} = ${t0}, qkc_${s.var}_stop = qkc_imin<${t}>(${t0} + ${V}, ${end}); ${s.var} < qkc_${s.var}_stop; ${s.var}++) {`,
  );
  printStmts(
    { ...ctx, where: "lane", overrides: overrides(s.body) },
    s.body,
    i3,
    out,
    new Set(declared),
  );
  out.push(`${i2}}`, `${i1}}`, `${indent}}`);
}

const atOf = (a: VectorAccess) => `qkc_${a.buffer}_at`;
const vecOf = (a: VectorAccess) => `qkc_${a.buffer}_v`;

/**
 * A chunk's vector accesses of V elements, the first of access `a` at
 * element index `first(a)`: the pointer declarations, the conditions under
 * which they are 16-byte accesses (aligned; a packed run starts on a byte),
 * the loads into registers, and `read`: statements with the replaced loads
 * reading element `at` of those registers.
 */
function vectorLines(
  p: Printer,
  accesses: readonly VectorAccess[],
  V: number,
  first: (a: VectorAccess) => Expr,
) {
  const decls: string[] = [];
  const conds: string[] = [];
  const loads: string[] = [];
  for (const a of accesses) {
    const index = p.index(first(a));
    if (a.packed) {
      const code = `qkc_${a.buffer}_code`;
      const nibbles = a.packed.kind === "nibbles";
      decls.push(
        `const qkc_index_t ${code} = ${index};`,
        `const uint8_t* ${atOf(a)} = ${a.buffer} + ${nibbles ? `(${code} >> 1)` : `3 * (${code} >> 2)`};`,
      );
      conds.push(`(${code} & ${nibbles ? 1 : 3}) == 0`);
    } else
      decls.push(
        `${a.kind === "load" ? "const " : ""}${ELEM[a.elem]}* ${atOf(a)} = ${a.buffer} + ${index};`,
      );
    conds.push(`qkc_aligned(${atOf(a)}, ${accessBytes(a, V)})`);
    if (a.kind === "load")
      loads.push(
        `${CTYPE[loadType(a.elem)]} ${vecOf(a)}[${V}];`,
        !a.packed
          ? `qkc_vload(${vecOf(a)}, ${atOf(a)});`
          : a.packed.kind === "nibbles"
            ? `qkc_vload_nibbles<${a.packed.order === "high_first"}>(${vecOf(a)}, ${atOf(a)});`
            : `qkc_vload_bits6<${accessBytes(a, V)}>(${vecOf(a)}, ${atOf(a)});`,
      );
  }
  const loaded = accesses.filter((a) => a.kind === "load");
  const packed = new Set(loaded.filter((a) => a.packed).map((a) => a.buffer));
  const read = (stmts: readonly Stmt[], at: string) =>
    replaceLoads(stmts, new Map(loaded.map((a) => [a.buffer, `${vecOf(a)}[${at}]`])), packed);
  return { decls, conds, loads, read };
}

/**
 * A lane group loop (GEMV, vectorize.ts laneChunks) in chunks of R
 * iterations: while all R G lanes are in range and the runs are contiguous
 * and aligned, the chunk's elements are loaded once and every lane reads its
 * own from registers, in the loop's order (iteration by iteration, lane 0
 * first); any other chunk runs the loop body as written.
 */
function printLaneChunks(
  ctx: Ctx,
  s: For,
  lc: LaneChunks,
  indent: string,
  out: string[],
  declared: Set<string>,
): void {
  const { p } = ctx;
  const { group, width: G, iterations: R } = lc;
  const t = p.loopType(s.var);
  const bound = loopBound(p, s.var);
  const t0 = `qkc_${s.var}0`;
  const end = `${s.var}_end`;
  const [i1, i2, i3] = [1, 2, 3].map((d) => indent + "  ".repeat(d));
  const base = substitute(group.base, s.var, K.v(t0, "i32"));
  const k = group.lanes[0].k;
  const v = vectorLines(p, lc.accesses, R * G, (a) => substitute(a.index, k, base));
  const strides = lc.accesses
    .filter((a) => !(a.stride.op === "const" && a.stride.value === 1))
    .map((a) => `${p.index(a.stride)} == 1`);
  const range = `${p.index(base)} + ${R * G} <= ${p.index(group.limit)}`;
  out.push(
    `${indent}/* ${s.var}: ${R} iteration${R > 1 ? "s" : ""} of ${G} lanes at a time, from vector registers while all lanes are in range */`,
    `${indent}for (${t} ${t0} = ${bound(s.start)}, ${end} = ${bound(s.end)}; ${t0} < ${end}; ${t0} += ${R}) {`,
    ...v.decls.map((l) => i1 + l),
    `${i1}if (${[...new Set(strides), `${t0} + ${R} <= ${end}`, range, ...v.conds].join(" && ")}) {`,
    ...v.loads.map((l) => i2 + l),
  );
  // lane c of iteration r reads element r G + c; the guards hold, so the lanes run unguarded
  // (the body's guards are lanes 0..G-1 in order: laneGroup)
  let c = 0;
  const lanes = s.body.flatMap((x): Stmt[] =>
    x.op === "if" ? v.read(x.then, `qkc_r * ${G} + ${c++}`) : [x],
  );
  const body = pruneDead({ ...p.k, body: lanes }, new Set(group.lanes.map((l) => l.acc))).body;
  out.push(
    `${i2}QKC_UNROLL`,
    `${i2}for (int qkc_r = 0; qkc_r < ${R}; qkc_r++) {`,
    `${i3}const ${t} ${s.var} = ${t0} + (${t})qkc_r;`,
  );
  printStmts({ ...ctx, where: "plain", chunks: undefined }, body, i3, out, new Set(declared));
  out.push(
    `${i2}}`,
    `${i1}} else {`,
    `${i2}for (${t} ${s.var} = ${t0}, qkc_${s.var}_stop = qkc_imin<${t}>(${t0} + ${R}, ${end}); ${s.var} < qkc_${s.var}_stop; ${s.var}++) {`,
  );
  printStmts({ ...ctx, chunks: undefined }, s.body, i3, out, new Set(declared));
  out.push(`${i2}}`, `${i1}}`, `${indent}}`);
}

function printMap(ctx: Ctx, s: For, indent: string, out: string[], declared: Set<string>): void {
  printLaneLoop(ctx, s, indent, out, declared, () => new Map());
  let stores = false;
  walk(s.body, (x) => (stores ||= x.op === "store"));
  if (stores && ctx.sched.syncAfterWrites) out.push(`${indent}__syncwarp(qkc_mask);`);
}

function printReduction(
  ctx: Ctx,
  s: For,
  rs: readonly Reduction[],
  indent: string,
  out: string[],
  declared: Set<string>,
): void {
  const { p } = ctx;
  const L = ctx.sched.lanes;
  // indexed reductions also keep the index of the value they took
  const overrides: Overrides = (body) => {
    const out = new Map<Stmt, (indent: string) => string[]>();
    for (const a of body) {
      if (a.op !== "assign" || !rs.some((r) => r.var === a.name && r.indexed)) continue;
      const sel = a.value as Extract<Expr, { op: "select" }>;
      out.set(a, (ind) => [
        `${ind}{`,
        `${ind}  const bool qkc_take = ${p.expr(sel.cond)};`,
        `${ind}  ${a.name} = qkc_take ? ${p.expr(sel.a)} : ${a.name};`,
        `${ind}  ${a.name}_at = qkc_take ? (qkc_index_t)${s.var} : ${a.name}_at;`,
        `${ind}}`,
      ]);
    }
    return out;
  };
  const names = rs.map((r) => r.var).join(", ");
  out.push(
    `${indent}/* ${s.var}: lanes scan their iterations in order, then combine ${names} exactly */`,
  );
  for (const r of rs)
    if (r.indexed) out.push(`${indent}qkc_index_t ${r.var}_at = qkc_index_max<qkc_index_t>();`);
  printLaneLoop(ctx, s, indent, out, declared, overrides);
  const folds = rs.filter((r) => r.kind !== "any");
  if (folds.length) {
    out.push(`${indent}for (int qkc_d = ${L / 2}; qkc_d > 0; qkc_d >>= 1) {`);
    for (const r of folds) {
      const cmp = r.kind === "first_max" ? ">" : "<";
      const o = `${r.var}_o`;
      const ty = typeOfVar(ctx.p.k, r.var);
      out.push(`${indent}  const ${ty} ${o} = __shfl_xor_sync(qkc_mask, ${r.var}, qkc_d, ${L});`);
      if (r.indexed) {
        out.push(
          `${indent}  const qkc_index_t ${o}_at = __shfl_xor_sync(qkc_mask, ${r.var}_at, qkc_d, ${L});`,
          `${indent}  const bool ${o}_wins = ${o} ${cmp} ${r.var} || (${o} == ${r.var} && ${o}_at < ${r.var}_at);`,
          `${indent}  ${r.var} = ${o}_wins ? ${o} : ${r.var};`,
          `${indent}  ${r.var}_at = ${o}_wins ? ${o}_at : ${r.var}_at;`,
        );
      } else out.push(`${indent}  ${r.var} = ${o} ${cmp} ${r.var} ? ${o} : ${r.var};`);
    }
    out.push(`${indent}}`);
  }
  for (const r of rs)
    if (r.kind === "any") out.push(`${indent}${r.var} = __any_sync(qkc_mask, ${r.var});`);
}

function typeOfVar(k: Kernel, name: string): string {
  let t = "float";
  walk(k.body, (s) => s.op === "let" && s.name === name && (t = CTYPE[s.type]));
  return t;
}

const paramDecl = (p: Param): string =>
  p.kind === "buffer"
    ? `${p.access === "read" ? "const " : ""}${ELEM[p.elem]}* __restrict__ ${p.name}`
    : `${CTYPE[p.type]} ${p.name}`;

/** Integer expressions over scalars and pure preamble lets, printable on the host; undefined if not. */
function hostCount(
  p: Printer,
  preamble: readonly Stmt[],
  e: Expr,
  lets: string[],
  seen: Set<string>,
): boolean {
  const defs = new Map<string, Expr>();
  const assigned = new Set<string>();
  walk(preamble, (s) => {
    if (s.op === "let") defs.set(s.name, s.value);
    if (s.op === "assign") assigned.add(s.name);
  });
  const scalars = new Set(p.k.params.filter((x) => x.kind === "scalar").map((x) => x.name));
  const pure = (x: Expr): boolean => {
    if (x.type === "f32" || x.op === "load" || x.op === "table" || x.op === "random") return false;
    if (x.op === "var") {
      if (scalars.has(x.name)) return true;
      const d = defs.get(x.name);
      if (!d || assigned.has(x.name) || !pure(d)) return false;
      if (!seen.has(x.name)) {
        seen.add(x.name);
        lets.push(
          `  const ${x.type === "i32" ? "qkc_index_t" : CTYPE[x.type]} ${x.name} = ${x.type === "i32" ? p.index(d) : p.expr(d)};`,
        );
      }
      return true;
    }
    return Object.values(x).every(
      (c) => !(c && typeof c === "object" && "op" in c) || pure(c as Expr),
    );
  };
  return pure(e);
}

/**
 * Drops locals nothing reads (a variable read only by its own updates counts
 * as unread), so that the printed kernel has no unused variables. Expressions
 * have no side effects: this changes no result.
 */
export function pruneDead(k: Kernel, keep: ReadonlySet<string> = new Set()): Kernel {
  let body = k.body;
  for (;;) {
    const reads = new Map<string, number>();
    const count = (e: Expr, self?: string): void => {
      if (e.op === "var" && e.name !== self) reads.set(e.name, (reads.get(e.name) ?? 0) + 1);
      for (const c of Object.values(e))
        if (c && typeof c === "object" && "op" in c) count(c as Expr, self);
    };
    walk(body, (s) => {
      if (s.op === "assign") count(s.value, s.name);
      else if (s.op === "let") count(s.value, s.name);
      else if (s.op === "store") {
        count(s.index);
        count(s.value);
      } else if (s.op === "if") count(s.cond);
      else if (s.op === "for") {
        count(s.start);
        count(s.end);
      }
    });
    const dead = (s: Stmt) =>
      (s.op === "let" || s.op === "assign") && !reads.has(s.name) && !keep.has(s.name);
    let removed = 0;
    const prune = (stmts: readonly Stmt[]): Stmt[] =>
      stmts.flatMap((s): Stmt[] => {
        if (dead(s)) {
          removed++;
          return [];
        }
        if (s.op === "if")
          return [{ ...s, then: prune(s.then), ...(s.else ? { else: prune(s.else) } : {}) }];
        if (s.op === "for") return [{ ...s, body: prune(s.body) }];
        return [s];
      });
    const next = prune(body);
    if (!removed) return { ...k, body };
    body = next;
  }
}

/**
 * Chunked loops among `loops` of kernel `k` (vectorize.ts), with chunks of at
 * most `limit` iterations: those with a vector access.
 */
function chunking(k: Kernel, loops: readonly Stmt[], limit: number): Map<Stmt, Chunking> {
  const found = loops.flatMap((s) => (s.op === "for" ? [[s, vectorAccesses(k, s)] as const] : []));
  const length = Math.min(
    chunkLength(found.flatMap(([, a]) => a)),
    2 ** Math.floor(Math.log2(limit)),
  );
  const out = new Map<Stmt, Chunking>();
  if (length >= 2)
    for (const [s, accesses] of found) if (accesses.length) out.set(s, { length, accesses });
  // lane groups keep their own chunk (their iterations are not split among lanes)
  for (const [s, accesses] of found) {
    const lanes = !accesses.length && s.op === "for" ? laneChunks(k, s) : undefined;
    if (lanes)
      out.set(s, { length: lanes.iterations * lanes.width, accesses: lanes.accesses, lanes });
  }
  return out;
}

/**
 * The schedule with vector chunks: when the item's loops have vector
 * accesses, each lane takes chunks of V iterations, so an item of B
 * iterations needs B / V lanes (one: thread mode, its loops in order).
 */
function vectorSchedule(k: Kernel, lanesHint: number) {
  const first = schedule(k, lanesHint);
  if (first.mode === "serial" || first.syncAfterWrites)
    return { sched: first, chunks: new Map<Stmt, Chunking>() };
  const chunks = chunking(k, first.body, Math.max(1, lanesHint));
  const V = [...chunks.values()].find((c) => !c.lanes)?.length ?? 1;
  if (V === 1) return { sched: first, chunks };
  const sched = schedule(k, Math.max(1, Math.floor(lanesHint / V)));
  return { sched, chunks: sched.mode === "serial" ? new Map<Stmt, Chunking>() : chunks };
}

function narrowestLoadBits(chunks: ReadonlyMap<Stmt, Chunking>): number {
  const bits = [...chunks.values()].flatMap((c) =>
    c.accesses.filter((a) => a.kind === "load").map((a) => 8 * accessBytes(a, c.length)),
  );
  return bits.length ? Math.min(...bits) : 0;
}

const launchBounds = (chunks: ReadonlyMap<Stmt, Chunking>) => {
  const all = [...chunks.values()];
  const min = all.some((c) => c.lanes)
    ? LANE_CHUNK_MIN_BLOCKS
    : all.length
      ? CHUNK_MIN_BLOCKS
      : undefined;
  return `__launch_bounds__(${THREADS}${min ? `, ${min}` : ""})`;
};

/** C text of "some index can reach 2^30": the product of the kernel's i32 sizes, each at least 1. */
function wideTest(k: Kernel): string {
  const sizes = k.params.filter((p) => p.kind === "scalar" && p.type === "i32").map((p) => p.name);
  if (!sizes.length) return "false";
  return `${sizes.map((n) => `(double)(${n} > 1 ? ${n} : 1)`).join(" * ")} >= 1073741824.0`;
}

function printKernel(
  k: Kernel,
  lanesHint: number,
): { text: string; info: Omit<CudaKernelInfo, "name" | "params"> } {
  // hoisted reductions: pre-pass kernels; the main kernel reads their workspace word instead
  const hoisted = schedule(k, lanesHint).hoisted;
  const words = hoisted.length;
  const readBack = new Map(
    hoisted.map((h) => [
      h.at,
      K.assign(h.var, K.bitcast(K.load("qkc_ws", K.i32(h.word), "u32"), "f32")),
    ]),
  );
  const top = k.body.map((s, j) => readBack.get(j) ?? s);
  const main = pruneDead({ ...k, body: top });
  const { sched, chunks } = vectorSchedule(main, lanesHint);
  const p = new Printer(main);
  const out: string[] = [];
  const params = k.params.map(paramDecl);
  const wsParam = words ? [`uint32_t* __restrict__ qkc_ws`] : [];
  const allParams = [...params, ...wsParam].join(", ");
  const globals: string[] = [];
  const launches: string[] = [];
  const argNames = k.params.map((x) => x.name);

  for (const h of hoisted) {
    const pre = pruneDead(
      { ...k, body: [...top.slice(0, h.at).filter((s) => s.op !== "store"), k.body[h.at]] },
      new Set([h.var]),
    );
    const loop = pre.body[pre.body.length - 1] as For;
    const before = pre.body.slice(0, -1);
    const ph = new Printer(pre);
    const preChunk = chunking(pre, [loop], THREADS);
    const ctx: Ctx = { p: ph, sched: schedule(pre, 1), where: "plain", chunks: preChunk };
    const g = `${k.name}_amax${h.word}`;
    globals.push(g);
    out.push(
      `/* ${k.name}: ${h.var} = max over the tensor (non-negative, so the u32 bits order like the floats) */`,
      `template <typename qkc_index_t>`,
      `__global__ void ${launchBounds(preChunk)} ${g}(${allParams}) {`,
    );
    printStmts(ctx, before, "  ", out, new Set());
    const t = ph.loopType(loop.var);
    const bound = loopBound(ph, loop.var);
    const thread = `(blockIdx.x * (qkc_index_t)blockDim.x + threadIdx.x)`;
    out.push(`  const qkc_index_t qkc_stride = (qkc_index_t)gridDim.x * blockDim.x;`);
    const c = preChunk.get(loop);
    if (c) {
      out.push(
        `  /* thread i takes the chunks of ${c.length} elements at ${c.length} i, ${c.length} (i + threads), ... */`,
      );
      printChunks(
        ctx,
        loop,
        c,
        thread,
        `(${t})(${c.length} * qkc_stride)`,
        "  ",
        out,
        new Set(),
        () => new Map(),
      );
    } else {
      out.push(
        `  for (${t} ${loop.var} = ${bound(loop.start)} + (${t})${thread}, ${loop.var}_end = ${bound(loop.end)}; ${loop.var} < ${loop.var}_end; ${loop.var} += (${t})qkc_stride) {`,
      );
      printStmts(ctx, loop.body, "    ", out, new Set());
      out.push(`  }`);
    }
    out.push(
      `  for (int qkc_d = 16; qkc_d > 0; qkc_d >>= 1) {`,
      `    const float qkc_o = __shfl_xor_sync(0xffffffffu, ${h.var}, qkc_d);`,
      `    ${h.var} = qkc_o > ${h.var} ? qkc_o : ${h.var};`,
      `  }`,
      `  if ((threadIdx.x & 31u) == 0) atomicMax(&qkc_ws[${h.word}], qkc_as_u32(${h.var}));`,
      `}`,
      ``,
    );
    const lets: string[] = [];
    const n = `(${ph.index(loop.end)} - ${ph.index(loop.start)})`;
    const seen = new Set<string>();
    const known =
      hostCount(ph, before, loop.end, lets, seen) && hostCount(ph, before, loop.start, lets, seen);
    launches.push(
      `  { /* ${h.var} */`,
      ...(known ? lets.map((l) => "  " + l) : []),
      `    const qkc_index_t qkc_n = ${known ? n : String(THREADS * 1024)};`,
      `    if (qkc_wide) QKC_LAUNCH(${g}<int64_t>, qkc_grid(qkc_n), ${THREADS}, 0, stream, ${[...argNames, "workspace"].join(", ")});`,
      `    else QKC_LAUNCH(${g}<int32_t>, qkc_grid(qkc_n), ${THREADS}, 0, stream, ${[...argNames, "workspace"].join(", ")});`,
      `  }`,
    );
  }

  globals.push(`${k.name}_kernel`);
  const first = k.body.find((s) => s.op === "comment");
  out.push(
    `/* ${first?.op === "comment" ? first.text : k.name} */`,
    `/* schedule: ${sched.mode}, ${sched.why} */`,
    `template <typename qkc_index_t>`,
    `__global__ void ${launchBounds(chunks)} ${k.name}_kernel(${allParams}) {`,
  );
  if (sched.mode === "serial") {
    out.push(`  if (blockIdx.x != 0 || threadIdx.x != 0) return;`);
    printStmts({ p, sched, where: "plain" }, k.body, "  ", out, new Set());
    out.push(`}`);
  } else {
    const declared = new Set<string>();
    const preamble = sched.preamble.filter((x) => x !== first); // printed above the kernel
    printStmts({ p, sched, where: "pre" }, preamble, "  ", out, declared);
    const counts = sched.nest.map((f) => `qkc_n_${f.var}`);
    for (const f of sched.nest)
      out.push(
        `  const qkc_index_t qkc_n_${f.var} = qkc_imax<qkc_index_t>(0, ${p.index(f.end)} - ${p.index(f.start)});`,
      );
    out.push(`  const qkc_index_t qkc_items = ${counts.join(" * ")};`);
    const L = sched.mode === "group" ? sched.lanes : 1;
    const maskAt = out.length;
    if (L > 1) out.push(`  const unsigned qkc_lane = threadIdx.x % ${L}u;`);
    out.push(
      `  const qkc_index_t qkc_first = (qkc_index_t)((blockIdx.x * blockDim.x + threadIdx.x)${L > 1 ? ` / ${L}u` : ""});`,
      `  const qkc_index_t qkc_step = (qkc_index_t)(gridDim.x * blockDim.x${L > 1 ? ` / ${L}u` : ""});`,
    );
    // the nest position of the first item and of the stride as digits (innermost fastest):
    // the loop then advances by adding digits with carries, so it never divides
    const inner = [...sched.nest].reverse();
    const multi = sched.nest.length > 1;
    const digits = (x: string, into: string) => {
      out.push(`  qkc_index_t qkc_rest_${into} = ${x};`);
      for (const f of inner) {
        if (f === sched.nest[0]) {
          out.push(`  qkc_index_t qkc_${into}_${f.var} = qkc_rest_${into};`);
          continue;
        }
        const n = `qkc_imax<qkc_index_t>(1, qkc_n_${f.var})`;
        out.push(
          `  qkc_index_t qkc_${into}_${f.var} = qkc_rest_${into} % ${n};`,
          `  qkc_rest_${into} /= ${n};`,
        );
      }
    };
    if (multi) {
      digits("qkc_first", "at");
      digits("qkc_step", "by");
    }
    out.push(
      `  for (qkc_index_t qkc_item = qkc_first; qkc_item < qkc_items; qkc_item += qkc_step) {`,
    );
    for (const f of sched.nest) {
      const t = p.loopType(f.var);
      const at = multi ? `qkc_at_${f.var}` : "qkc_item";
      out.push(`    const ${t} ${f.var} = (${t})(${p.index(f.start)} + ${at});`);
    }
    const advance: string[] = [];
    if (multi)
      for (const f of inner) {
        advance.push(`    qkc_at_${f.var} += qkc_by_${f.var};`);
        if (f === sched.nest[0]) continue;
        const outer = sched.nest[sched.nest.indexOf(f) - 1].var;
        advance.push(
          `    if (qkc_at_${f.var} >= qkc_n_${f.var}) { qkc_at_${f.var} -= qkc_n_${f.var}; qkc_at_${outer}++; }`,
        );
      }
    const nestVars = new Set(sched.nest.map((f) => f.var));
    printStmts(
      { p, sched, where: L > 1 ? "item" : "plain", chunks },
      sched.body,
      "    ",
      out,
      new Set([...declared, ...nestVars]),
    );
    if (advance.length)
      out.push(`    /* the next item: the stride's digits added with carries */`, ...advance);
    out.push(`  }`, `}`);
    if (L > 1 && out.slice(maskAt).some((l) => l.includes("qkc_mask")))
      out.splice(
        maskAt + 1,
        0,
        `  const unsigned qkc_mask = ${L === 32 ? "0xffffffffu" : `0x${((2 ** L - 1) >>> 0).toString(16)}u << (threadIdx.x % 32u - qkc_lane)`};`,
      );
  }
  out.push(``);

  // items for the grid, computed on the host when the nest's bounds allow it
  const lets: string[] = [];
  const seen = new Set<string>();
  const known =
    sched.mode !== "serial" &&
    sched.nest.every(
      (f) =>
        hostCount(p, sched.preamble, f.start, lets, seen) &&
        hostCount(p, sched.preamble, f.end, lets, seen),
    );
  const L = sched.mode === "group" ? sched.lanes : 1;
  const items =
    sched.mode === "serial"
      ? "1"
      : known
        ? sched.nest
            .map((f) => `qkc_imax<qkc_index_t>(0, ${p.index(f.end)} - ${p.index(f.start)})`)
            .join(" * ")
        : String(THREADS * 1024);
  const launcherParams = [
    ...params,
    ...(words ? ["uint32_t* workspace"] : []),
    "cudaStream_t stream",
  ];
  out.push(
    `extern "C" cudaError_t ${k.name}(${launcherParams.join(", ")}) {`,
    `  using qkc_index_t = int64_t;`,
    `  /* 64-bit indices only for tensors of 2^30 elements or more (the product of the sizes bounds every index) */`,
    `  const bool qkc_wide = ${wideTest(k)};`,
    ...(words ? [`  cudaMemsetAsync(workspace, 0, ${4 * words}, stream);`] : []),
    ...launches,
    ...(known ? lets : []),
    `  const int64_t qkc_threads = (int64_t)(${items}) * ${L};`,
    `  const unsigned qkc_blocks = ${sched.mode === "serial" ? "1" : "qkc_grid(qkc_threads)"};`,
    `  if (qkc_wide) QKC_LAUNCH(${k.name}_kernel<int64_t>, qkc_blocks, ${THREADS}, 0, stream, ${[...argNames, ...(words ? ["workspace"] : [])].join(", ")});`,
    `  else QKC_LAUNCH(${k.name}_kernel<int32_t>, qkc_blocks, ${THREADS}, 0, stream, ${[...argNames, ...(words ? ["workspace"] : [])].join(", ")});`,
    `  return cudaGetLastError();`,
    `}`,
    ``,
  );
  return {
    text: out.join("\n"),
    info: {
      launcher: k.name,
      mode: sched.mode,
      lanes: L,
      chunk: chunks.size ? [...chunks.values()][0].length : 1,
      vectorLoadBits: narrowestLoadBits(chunks),
      schedule: sched.why,
      workspaceBytes: 4 * words,
      globals,
    },
  };
}

const PRELUDE = `#include <stdint.h>
#include <string.h>
#include <math.h>
#include <cuda_runtime.h>

#ifdef __CUDACC__
#define QKC_LAUNCH(kernel, grid, block, smem, stream, ...) kernel<<<grid, block, smem, stream>>>(__VA_ARGS__)
#else /* the CPU execution layer (backends/cuda/emulator) */
#define QKC_LAUNCH(kernel, grid, block, smem, stream, ...) \\
  qkc_emu::launch(__FILE__, __LINE__, kernel, grid, block, smem, stream, __VA_ARGS__)
#endif
#ifdef __CUDA_ARCH__
#define QKC_CLZ(x) __clz(x)
#else
#define QKC_CLZ(x) __builtin_clz(x)
#endif

${cPrelude("[[maybe_unused]] static __host__ __device__ __forceinline__", "QKC_CLZ(x)")}template <class T> __host__ __device__ __forceinline__ T qkc_imin(T a, T b) { return a < b ? a : b; }
template <class T> __host__ __device__ __forceinline__ T qkc_imax(T a, T b) { return a < b ? b : a; }
template <class T> __host__ __device__ __forceinline__ T qkc_index_max() { return sizeof(T) == 8 ? (T)INT64_MAX : (T)INT32_MAX; }
${HARDWARE_PRELUDE}#ifdef __CUDA_ARCH__ // the device pass only: a host compiler warns on an unknown pragma
#define QKC_UNROLL _Pragma("unroll")
#else
#define QKC_UNROLL
#endif
/* chunks of V elements moved in 16-byte accesses (one narrower access when the chunk is shorter) */
template <int B> struct qkc_access;
template <> struct qkc_access<16> { typedef uint4 type; };
template <> struct qkc_access<8> { typedef uint2 type; };
template <> struct qkc_access<4> { typedef uint32_t type; };
template <> struct qkc_access<2> { typedef uint16_t type; };
[[maybe_unused]] static __host__ __device__ __forceinline__ bool qkc_aligned(const void* p, unsigned bytes) {
  return ((uintptr_t)p & (bytes - 1)) == 0;
}
/* r[i] = p[i], widened as a KernelIR load, in accesses of W bytes at most; p is aligned to the access */
template <int W = 16, int V, class T, class R>
static __host__ __device__ __forceinline__ void qkc_vload(R (&r)[V], const T* p) {
  constexpr int B = V * (int)sizeof(T) < W ? V * (int)sizeof(T) : W, N = B / (int)sizeof(T);
  typedef typename qkc_access<B>::type A;
  QKC_UNROLL
  for (int k = 0; k < V; k += N) {
#ifdef __CUDA_ARCH__
    const A a = __ldg((const A*)(p + k)); /* read-only path: the kernel never stores this buffer */
#else
    A a;
    memcpy(&a, p + k, B);
#endif
    T t[N];
    memcpy(t, &a, B);
    QKC_UNROLL
    for (int i = 0; i < N; i++) r[k + i] = (R)t[i];
  }
}
/* r[i] = code i of the V nibbles at p (V / 2 bytes), the low nibble of a byte first unless HIGH */
template <bool HIGH, int V>
static __host__ __device__ __forceinline__ void qkc_vload_nibbles(uint32_t (&r)[V], const uint8_t* p) {
  uint32_t b[V / 2];
  qkc_vload(b, p);
  QKC_UNROLL
  for (int i = 0; i < V / 2; i++) {
    r[2 * i] = HIGH ? b[i] >> 4 : b[i] & 15u;
    r[2 * i + 1] = HIGH ? b[i] & 15u : b[i] >> 4;
  }
}
/* r[i] = code i of the V 6-bit codes at p (4 codes in 3 little-endian bytes), in accesses of W bytes */
template <int W, int V>
static __host__ __device__ __forceinline__ void qkc_vload_bits6(uint32_t (&r)[V], const uint8_t* p) {
  uint32_t b[V / 4 * 3];
  qkc_vload<W>(b, p);
  QKC_UNROLL
  for (int g = 0; g < V / 4; g++) {
    const uint32_t w = b[3 * g] | b[3 * g + 1] << 8 | b[3 * g + 2] << 16;
    QKC_UNROLL
    for (int j = 0; j < 4; j++) r[4 * g + j] = (w >> (6 * j)) & 63u;
  }
}
/* p[i] = v[i]; p is aligned to the access */
template <int V, class T>
static __host__ __device__ __forceinline__ void qkc_vstore(T* p, const T (&v)[V]) {
  constexpr int B = V * (int)sizeof(T) < 16 ? V * (int)sizeof(T) : 16, N = B / (int)sizeof(T);
  typedef typename qkc_access<B>::type A;
  QKC_UNROLL
  for (int k = 0; k < V; k += N) {
    A a;
    memcpy(&a, v + k, B);
#ifdef __CUDA_ARCH__
    *(A*)(p + k) = a;
#else
    memcpy(p + k, &a, B);
#endif
  }
}
#ifndef QKC_MAX_BLOCKS /* the grid's upper bound; tests lower it so that grid-stride loops wrap */
#define QKC_MAX_BLOCKS ${MAX_BLOCKS}
#endif
[[maybe_unused]] static inline unsigned qkc_grid(int64_t threads) {
  const int64_t blocks = (threads + ${THREADS - 1}) / ${THREADS};
  return (unsigned)(blocks < 1 ? 1 : blocks > QKC_MAX_BLOCKS ? QKC_MAX_BLOCKS : blocks);
}
`;

function tableText(t: Kernel["tables"][number]): string {
  const values = t.values.map((v) => (t.type === "f32" ? f32Literal(v) : `${v >>> 0}u`));
  const rows: string[] = [];
  for (let j = 0; j < values.length; j += 8) rows.push("  " + values.slice(j, j + 8).join(", "));
  return `__device__ const ${t.type === "f32" ? "float" : "uint32_t"} ${t.name}[${values.length}] = {\n${rows.join(",\n")}\n};`;
}

/**
 * Where the kernels read table `name`: undefined if nowhere; the preprocessor
 * guards of the hardware conversions whose `#else` holds every read; or an
 * empty set when some read is unguarded.
 */
function tableGuards(bodies: readonly string[], name: string): Set<string> | undefined {
  const guards = new Set<string>();
  let reads = 0;
  let unguarded = false;
  for (const b of bodies) {
    let guard: string | undefined;
    let inElse = false;
    for (const line of b.split("\n")) {
      if (line.startsWith("#if ")) guard = line.slice(4);
      else if (line === "#else") inElse = true;
      else if (line === "#endif") [guard, inElse] = [undefined, false];
      else if (line.includes(`${name}[`)) {
        reads++;
        if (guard && inElse) guards.add(guard);
        else unguarded = true;
      }
    }
  }
  if (!reads) return undefined;
  return unguarded ? new Set() : guards;
}

/** One kernel set as a .cu and its header. Tables with the same name are stored once. */
export function emitCuda(kernels: readonly Kernel[], opts: CudaEmitOptions = {}): CudaArtifact {
  const header = opts.headerName ?? "kernels.h";
  const title = opts.title ?? "qkc kernels";
  const tables = new Map<string, string>();
  const infos: CudaKernelInfo[] = [];
  const bodies: string[] = [];
  for (const k of kernels) {
    for (const t of k.tables) if (!tables.has(t.name)) tables.set(t.name, tableText(t));
    const { text, info } = printKernel(k, opts.lanes?.(k) ?? 32);
    bodies.push(text);
    infos.push({ name: k.name, params: k.params, ...info });
  }
  const cu = [
    `/* ${title}: generated by qkc from KernelIR; edit the .qs source, not this file. */`,
    `#include "${header}"`,
    PRELUDE,
    ...[...tables].flatMap(([name, t]) => {
      const guards = tableGuards(bodies, name);
      if (!guards) return [];
      // a memo read only on archs without the conversion that replaces it
      return guards.size === 1 ? [`#if !(${[...guards][0]})`, t, `#endif`] : [t];
    }),
    "",
    ...bodies,
    dispatch(infos),
  ].join("\n");
  return { cu, header: printHeader(title, infos), kernels: infos };
}

function launcherDecl(k: CudaKernelInfo): string {
  const params = [
    ...k.params.map(paramDecl).map((x) => x.replace("__restrict__ ", "")),
    ...(k.workspaceBytes ? ["uint32_t* workspace"] : []),
    "cudaStream_t stream",
  ];
  return `cudaError_t ${k.launcher}(${params.join(", ")});`;
}

function printHeader(title: string, kernels: readonly CudaKernelInfo[]): string {
  const lines = [
    `/* ${title}: launchers generated by qkc. Pointers are device memory; each call is enqueued on stream. */`,
    `#pragma once`,
    `#include <stdint.h>`,
    `#include <cuda_runtime.h>`,
    `#ifdef __cplusplus`,
    `extern "C" {`,
    `#endif`,
  ];
  for (const k of kernels) {
    lines.push(
      `/* ${k.name}: ${k.mode} schedule, ${k.schedule}${k.workspaceBytes ? `; needs ${k.workspaceBytes} bytes of workspace` : ""} */`,
    );
    lines.push(launcherDecl(k));
    if (k.workspaceBytes)
      lines.push(`#define ${k.name.toUpperCase()}_WORKSPACE_BYTES ${k.workspaceBytes}`);
  }
  lines.push(`#ifdef __cplusplus`, `}`, `#endif`, ``);
  return lines.join("\n");
}

/**
 * `qkc_dispatch(name, buffers, scalars, workspace, stream)`: every launcher by
 * name with untyped arguments (scalars as their 32-bit patterns), for hosts
 * that do not link against the header: the CPU runner and the benches.
 */
function dispatch(kernels: readonly CudaKernelInfo[]): string {
  const lines = [
    `#ifdef QKC_DISPATCH`,
    `extern "C" int qkc_workspace_bytes(const char* name) {`,
    ...kernels
      .filter((k) => k.workspaceBytes)
      .map((k) => `  if (strcmp(name, "${k.launcher}") == 0) return ${k.workspaceBytes};`),
    `  return 0;`,
    `}`,
    `/* -1: no such kernel; -2: wrong number of buffers or scalars; else the launcher's cudaError_t */`,
    `extern "C" int qkc_dispatch(const char* name, int nbuffers, void** buffers, int nscalars, const uint32_t* scalars, void* workspace, cudaStream_t stream) {`,
    `  (void)buffers; (void)scalars; (void)workspace;`,
  ];
  for (const k of kernels) {
    let b = 0;
    let s = 0;
    const args = k.params.map((p) =>
      p.kind === "buffer"
        ? `(${ELEM[p.elem]}*)buffers[${b++}]`
        : p.type === "f32"
          ? `qkc_as_f32(scalars[${s++}])`
          : `(${CTYPE[p.type]})scalars[${s++}]`,
    );
    if (k.workspaceBytes) args.push("(uint32_t*)workspace");
    args.push("stream");
    lines.push(
      `  if (strcmp(name, "${k.launcher}") == 0)`,
      `    return nbuffers != ${b} || nscalars != ${s} ? -2 : (int)${k.launcher}(${args.join(", ")});`,
    );
  }
  lines.push(`  return -1;`, `}`, `#endif`, ``);
  return lines.join("\n");
}

/**
 * Which loops of a kernel move their data with 128-bit accesses, and how.
 *
 * A loop `for t` whose iterations are split among lanes is printed in chunks
 * of V consecutive iterations per lane (emit.ts). A buffer access inside it is
 * a *vector access* when its index is affine in t, `base + t * stride`, with
 * base and stride invariant in the loop: when the stride is 1 at run time and
 * the chunk's first element is aligned, the chunk's V elements are one
 * contiguous run, loaded before the chunk's iterations (or stored after them)
 * with 16-byte accesses. Otherwise the chunk runs its iterations one by one.
 *
 * Moving a load earlier or a store later changes nothing only if no other
 * access in the kernel can see the difference, so a vector access must be:
 * - a load of a buffer the kernel never stores, reached in every iteration
 *   (not under an `if`, a select's arm or the right side of && / ||), all
 *   loads of that buffer in the loop at the same index;
 * - or the loop's only store to a buffer the kernel never loads, at the top
 *   level of the loop body (every iteration stores it).
 * A read of a packed code (passes/lower/pack.ts packedCodeExpr, recognized
 * by matchPackedCode) counts as a load of its code index: when every load of
 * the buffer in the loop is such a read at one index, a chunk of V codes
 * starting on a byte boundary (an even index for nibbles, a multiple of 4
 * for 6-bit codes) is V / 2 or 3 V / 4 contiguous bytes, loaded once and
 * split into codes in registers.
 * V is 16 bytes over the narrowest loaded element (half a byte for a nibble,
 * 3/4 for a 6-bit code, rounded up to a power of two), so that every vector
 * load is 128 bits when the bytes allow.
 *
 * The lane groups of GEMV (backends/lane-groups.ts) are vectorized as one
 * loop over their element index: lane 0's statements are its body, and a
 * chunk of the group loop is R iterations of G lanes, all in range.
 */
import type { ElemType, Expr, Kernel, Stmt } from "../../ir/kernel.js";
import type { CodeLayout } from "../../ir/graph.js";
import { children, exprVars, sameExpr, walk, walkExprs } from "../../ir/kernel-walk.js";
import { matchPackedCode } from "../../passes/lower/pack.js";
import { laneGroup, type LaneGroup } from "../lane-groups.js";
import { loadedBuffers, storedBuffers } from "./schedule.js";

type For = Extract<Stmt, { op: "for" }>;

export const ELEM_BYTES: Record<ElemType, number> = { f32: 4, u32: 4, u16: 2, u8: 1, i8: 1 };

export interface VectorAccess {
  readonly buffer: string;
  readonly elem: ElemType;
  readonly kind: "load" | "store";
  /** the index with the loop's lets substituted: an expression of the loop variable and invariants */
  readonly index: Expr;
  readonly stride: Expr;
  /** the store statement (kind "store") */
  readonly store?: Extract<Stmt, { op: "store" }>;
  /** a load of packed codes: `index` is the code's (bytes at index / 2, or 3 (index / 4) for 6 bits) */
  readonly packed?: PackedLayout;
}

export type PackedLayout = Exclude<CodeLayout, { kind: "unpacked" }>;

/** Bytes of memory per element of an access. */
export const bytesPerElement = (a: VectorAccess): number =>
  a.packed ? (a.packed.kind === "nibbles" ? 0.5 : 0.75) : ELEM_BYTES[a.elem];

/**
 * Bytes per access of a chunk of `v` elements: 16 (several accesses when the
 * chunk is longer), else the largest power of two dividing the chunk's bytes
 * (24 bytes of 6-bit codes: three of 8).
 */
export function accessBytes(a: VectorAccess, v: number): number {
  const bytes = v * bytesPerElement(a);
  return Math.min(16, bytes & -bytes);
}

/** `e` with every sub-expression for which `f` gives a replacement replaced (outermost first). */
export function rewrite(e: Expr, f: (x: Expr) => Expr | undefined): Expr {
  const done = f(e);
  if (done) return done;
  const m = (x: Expr) => rewrite(x, f);
  switch (e.op) {
    case "load":
    case "table":
      return { ...e, index: m(e.index) };
    case "binary":
      return { ...e, a: m(e.a), b: m(e.b) };
    case "unary":
    case "bitcast":
    case "convert":
      return { ...e, a: m(e.a) };
    case "select":
      return { ...e, cond: m(e.cond), a: m(e.a), b: m(e.b) };
    case "random":
      return { ...e, seedLo: m(e.seedLo), seedHi: m(e.seedHi), index: m(e.index) };
    case "const":
    case "var":
      return e;
  }
}

/** Replaces variable `name` by `by` in `e`. */
export const substitute = (e: Expr, name: string, by: Expr): Expr =>
  rewrite(e, (x) => (x.op === "var" && x.name === name ? by : undefined));

const pure = (e: Expr): boolean =>
  e.op !== "load" && e.op !== "table" && e.op !== "random" && children(e).every(pure);

/** `index` as base + t * stride, or undefined. */
function affine(index: Expr, t: string, variant: ReadonlySet<string>) {
  const invariant = (e: Expr) => pure(e) && ![...exprVars(e)].some((v) => variant.has(v));
  const terms: Expr[] = [];
  const flatten = (e: Expr): void => {
    if (e.op === "binary" && e.kind === "add" && e.type === "i32") {
      flatten(e.a);
      flatten(e.b);
    } else terms.push(e);
  };
  flatten(index);
  const isT = (e: Expr) => e.op === "var" && e.name === t;
  let stride: Expr | undefined;
  for (const x of terms) {
    if (invariant(x)) continue;
    if (stride) return undefined;
    if (isT(x)) stride = { op: "const", type: "i32", value: 1 };
    else if (x.op === "binary" && x.kind === "mul" && isT(x.a) && invariant(x.b)) stride = x.b;
    else if (x.op === "binary" && x.kind === "mul" && isT(x.b) && invariant(x.a)) stride = x.a;
    else return undefined;
  }
  return stride && { stride };
}

/** Loads evaluated in every iteration of a straight-line statement list, and all the others. */
function loadsByReach(stmts: readonly Stmt[]) {
  const always: Extract<Expr, { op: "load" }>[] = [];
  const sometimes: Extract<Expr, { op: "load" }>[] = [];
  const visit = (e: Expr, sure: boolean): void => {
    if (e.op === "load") (sure ? always : sometimes).push(e);
    if (e.op === "select") {
      visit(e.cond, sure);
      visit(e.a, false);
      visit(e.b, false);
    } else if (e.op === "binary" && e.type === "bool" && (e.kind === "and" || e.kind === "or")) {
      visit(e.a, sure);
      visit(e.b, false);
    } else for (const c of children(e)) visit(c, sure);
  };
  for (const s of stmts) {
    if (s.op === "if") {
      visit(s.cond, true);
      walkExprs([...s.then, ...(s.else ?? [])], (e) => visit(e, false));
    } else walkExprs([s], (e) => visit(e, true));
  }
  return { always, sometimes };
}

/** The packed code reads in `stmts` (matchPackedCode), outermost only. */
function packedReads(stmts: readonly Stmt[]) {
  const out: { layout: CodeLayout; buffer: string; at: Expr }[] = [];
  const visit = (e: Expr): void => {
    const m = matchPackedCode(e);
    if (m) out.push(m);
    else children(e).forEach(visit);
  };
  walkExprs(stmts, visit);
  return out;
}

/**
 * The vector accesses of `loop` in kernel `k` (empty: the loop stays scalar).
 * `k` is the whole kernel, whose other loads and stores decide what may move;
 * `outer` names variables that vary although the loop does not assign them.
 */
export function vectorAccesses(
  k: Kernel,
  loop: For,
  outer: readonly string[] = [],
): VectorAccess[] {
  let nested = false;
  walk(loop.body, (s) => (nested ||= s.op === "for"));
  if (nested) return [];
  const lets = new Map<string, Expr>();
  const variant = new Set([loop.var, ...outer]);
  walk(loop.body, (s) => {
    if (s.op === "let") variant.add(s.name);
    if (s.op === "assign") variant.add(s.name);
  });
  const assigned = new Set<string>();
  walk(loop.body, (s) => s.op === "assign" && assigned.add(s.name));
  for (const s of loop.body) if (s.op === "let" && !assigned.has(s.name)) lets.set(s.name, s.value);
  const resolve = (e: Expr): Expr => {
    let out = e;
    for (let changed = true; changed;) {
      changed = false;
      for (const v of exprVars(out))
        if (lets.has(v)) {
          out = substitute(out, v, lets.get(v)!);
          changed = true;
        }
    }
    return out;
  };
  const elems = new Map(
    k.params.flatMap((p) => (p.kind === "buffer" ? [[p.name, p.elem] as const] : [])),
  );
  const kernelStores = storedBuffers(k.body);
  const kernelLoads = loadedBuffers(k.body);
  const out: VectorAccess[] = [];

  const { always, sometimes } = loadsByReach(loop.body);
  const storesHere = new Set<string>();
  walk(loop.body, (s) => s.op === "store" && storesHere.add(s.buffer));
  const codeReads = packedReads(loop.body);
  for (const buffer of new Set(always.map((l) => l.buffer))) {
    if (kernelStores.has(buffer) || sometimes.some((l) => l.buffer === buffer)) continue;
    const reads = codeReads.filter((r) => r.buffer === buffer);
    const loads = always.filter((l) => l.buffer === buffer);
    // packed codes: every load of the buffer is part of one code read (a nibble reads one byte, a 6-bit code two)
    const layout = reads[0]?.layout;
    const packed = layout && layout.kind !== "unpacked" ? layout : undefined;
    if (packed) {
      if (reads.length * (packed.kind === "nibbles" ? 1 : 2) !== loads.length) continue;
      if (reads.some((r) => JSON.stringify(r.layout) !== JSON.stringify(packed))) continue;
    }
    const indices = (packed ? reads.map((r) => r.at) : loads.map((l) => l.index)).map(resolve);
    if (indices.some((i) => !sameExpr(i, indices[0]))) continue;
    const a = affine(indices[0], loop.var, variant);
    const elem = elems.get(buffer);
    if (a && elem)
      out.push({
        buffer,
        elem,
        kind: "load",
        index: indices[0],
        stride: a.stride,
        ...(packed ? { packed } : {}),
      });
  }
  for (const buffer of storesHere) {
    if (kernelLoads.has(buffer)) continue;
    const stores: Extract<Stmt, { op: "store" }>[] = [];
    walk(loop.body, (s) => s.op === "store" && s.buffer === buffer && stores.push(s));
    const [store] = stores;
    if (stores.length !== 1 || !loop.body.includes(store)) continue;
    const index = resolve(store.index);
    const a = affine(index, loop.var, variant);
    const elem = elems.get(buffer);
    if (a && elem) out.push({ buffer, elem, kind: "store", index, stride: a.stride, store });
  }
  return out;
}

/** Elements per chunk for loops with these accesses: 16 bytes of the narrowest loaded (else stored) element. */
export function chunkLength(accesses: readonly VectorAccess[]): number {
  const loads = accesses.filter((a) => a.kind === "load");
  const from = loads.length ? loads : accesses;
  if (!from.length) return 1;
  return 2 ** Math.ceil(Math.log2(16 / Math.min(...from.map(bytesPerElement))));
}

/** A lane group loop (GEMV) whose lanes read vector registers while all are in range. */
export interface LaneChunks {
  readonly group: LaneGroup;
  /** lanes per iteration (G) */
  readonly width: number;
  /** iterations per chunk (R): the chunk is R G elements */
  readonly iterations: number;
  /** the accesses of lane 0's statements, as a loop over its element index */
  readonly accesses: readonly VectorAccess[];
}

/**
 * The lane group chunks of `loop` in kernel `k`, or undefined. The group's
 * base must advance by G per iteration (consecutive iterations continue one
 * run of elements) and some load must be a vector access.
 */
export function laneChunks(k: Kernel, loop: For): LaneChunks | undefined {
  const group = laneGroup(loop);
  if (!group) return undefined;
  const width = group.lanes.length;
  const step = affine(group.base, loop.var, new Set([loop.var]));
  if (!(step?.stride.op === "const" && step.stride.value === width)) return undefined;
  // the chunk tests its range once, so the limit must not change between its iterations
  if (exprVars(group.limit).has(loop.var)) return undefined;
  const [first] = group.lanes;
  const lanes: For = {
    op: "for",
    var: first.k,
    start: group.base,
    end: group.limit,
    body: first.stmts,
  };
  const accesses = vectorAccesses(k, lanes, [loop.var]);
  if (!accesses.some((a) => a.kind === "load") || accesses.some((a) => a.kind === "store"))
    return undefined;
  const iterations = Math.max(1, chunkLength(accesses) / width);
  return { group, width, iterations, accesses };
}

/**
 * Expressions of `stmts` with every load of a buffer in `by` replaced by that
 * buffer's variable; for a buffer in `packed`, every code read of it.
 */
export function replaceLoads(
  stmts: readonly Stmt[],
  by: ReadonlyMap<string, string>,
  packed: ReadonlySet<string> = new Set(),
): Stmt[] {
  const e = (x: Expr): Expr =>
    rewrite(x, (y) => {
      const read = packed.size ? matchPackedCode(y) : undefined;
      if (read && packed.has(read.buffer))
        return { op: "var", name: by.get(read.buffer)!, type: y.type };
      return y.op === "load" && by.has(y.buffer) && !packed.has(y.buffer)
        ? { op: "var", name: by.get(y.buffer)!, type: y.type }
        : undefined;
    });
  return stmts.map((s): Stmt => {
    switch (s.op) {
      case "let":
      case "assign":
        return { ...s, value: e(s.value) };
      case "store":
        return { ...s, index: e(s.index), value: e(s.value) };
      case "if":
        return {
          ...s,
          cond: e(s.cond),
          then: replaceLoads(s.then, by, packed),
          ...(s.else ? { else: replaceLoads(s.else, by, packed) } : {}),
        };
      case "for":
        return { ...s, start: e(s.start), end: e(s.end), body: replaceLoads(s.body, by, packed) };
      case "comment":
        return s;
    }
  });
}

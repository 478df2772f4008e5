/**
 * How a KernelIR kernel maps onto CUDA threads. The IR is sequential loops;
 * this reads their shape and decides, without changing any arithmetic:
 *
 * - the parallel loop nest: the last top-level `for` and the loops perfectly
 *   nested in it with bounds that do not depend on each other. Its iterations
 *   ("items": a quantization block, a GEMV row, a packed byte) are independent
 *   in every kernel passes/lower produces; they are flattened to one 64-bit
 *   index and spread over a grid-stride loop.
 * - `group` mode: a fixed group of `lanes` threads (a warp or a power-of-two
 *   part of one) shares an item. Loops of the item body are either maps (each
 *   iteration writes only its own locals and elements: lanes take every
 *   `lanes`-th iteration) or reductions the lanes can split exactly (below);
 *   item-level statements run on every lane with the same values, stores only
 *   on lane 0. Anything else gives `thread` mode: one thread per item.
 * - exact reductions: `acc = select(P && a > acc, a, acc)` (or `<`) keeps the
 *   first extreme value in loop order. Lanes scan their iterations in order,
 *   then combine (value, first index) pairs with warp shuffles, which yields
 *   the same first extreme. When `a` is an |x| (no -0, NaN never taken) equal
 *   values have equal bits and the index is not needed. `acc = acc || c` is
 *   combined with __any_sync. Sums keep their declared order: a loop that adds
 *   into an outer variable is never split.
 * - hoisted reductions: a top-level non-negative max before the nest (the
 *   tensor amax of two-level schemes) becomes a pre-pass kernel with a warp
 *   reduction and atomicMax on the bits (non-negative f32 order = u32 order)
 *   into a workspace word, read back by the main kernel.
 * - `serial` mode: whatever else, run by one thread (correct, slow; none of
 *   the current kernels needs it).
 */
import type { Expr, Kernel, Stmt } from "../../ir/kernel.js";
import { children, exprVars, sameExpr, walk, walkExprs } from "../../ir/kernel-walk.js";

export interface Reduction {
  readonly var: string;
  readonly kind: "first_max" | "first_min" | "any";
  /** true when ties must be broken by iteration index (values may be -0/+0) */
  readonly indexed: boolean;
}

export interface Hoisted {
  /** index of the `for` among the kernel's top-level statements */
  readonly at: number;
  readonly var: string;
  /** workspace word */
  readonly word: number;
}

export interface Schedule {
  readonly mode: "group" | "thread" | "serial";
  readonly lanes: number;
  /** top-level statements before the nest */
  readonly preamble: readonly Stmt[];
  /** the parallel nest, outermost first */
  readonly nest: readonly Extract<Stmt, { op: "for" }>[];
  readonly body: readonly Stmt[];
  readonly hoisted: readonly Hoisted[];
  /** per item-level loop of the body (group mode): map or the reductions it carries */
  readonly loops: ReadonlyMap<Stmt, "map" | readonly Reduction[]>;
  /** some buffer is written and read inside one item: lanes sync after writes */
  readonly syncAfterWrites: boolean;
  /** why the mode was chosen, for the generated comment */
  readonly why: string;
}

type For = Extract<Stmt, { op: "for" }>;

export function loadedBuffers(stmts: readonly Stmt[]): Set<string> {
  const out = new Set<string>();
  const visit = (e: Expr): void => {
    if (e.op === "load") out.add(e.buffer);
    for (const c of children(e)) visit(c);
  };
  walkExprs(stmts, visit);
  return out;
}

export function storedBuffers(stmts: readonly Stmt[]): Set<string> {
  const out = new Set<string>();
  walk(stmts, (s) => s.op === "store" && out.add(s.buffer));
  return out;
}

const declaredIn = (stmts: readonly Stmt[]): Set<string> => {
  const out = new Set<string>();
  walk(stmts, (s) => {
    if (s.op === "let") out.add(s.name);
    if (s.op === "for") out.add(s.var);
  });
  return out;
};

/** Variables assigned in `stmts` that are declared outside them. */
function outerAssigns(stmts: readonly Stmt[]): Extract<Stmt, { op: "assign" }>[] {
  const local = declaredIn(stmts);
  const out: Extract<Stmt, { op: "assign" }>[] = [];
  walk(stmts, (s) => s.op === "assign" && !local.has(s.name) && out.push(s));
  return out;
}

const hasLoop = (stmts: readonly Stmt[]): boolean => {
  let found = false;
  walk(stmts, (s) => (found ||= s.op === "for"));
  return found;
};

// Object.is on constants: JSON prints NaN and +-Infinity as null, and -0 as 0
const same = sameExpr;

/** The reduction an assignment performs, if it is one the lanes can split exactly. */
function reductionOf(
  s: Extract<Stmt, { op: "assign" }>,
  lets: ReadonlyMap<string, Expr>,
): Reduction | undefined {
  const v = s.value;
  const acc = (e: Expr) => e.op === "var" && e.name === s.name;
  if (
    v.op === "binary" &&
    v.kind === "or" &&
    v.type === "bool" &&
    acc(v.a) &&
    !exprVars(v.b).has(s.name)
  )
    return { var: s.name, kind: "any", indexed: false };
  if (v.op !== "select" || !acc(v.b) || exprVars(v.a).has(s.name)) return undefined;
  let cmp = v.cond;
  if (cmp.op === "binary" && cmp.kind === "and" && !exprVars(cmp.a).has(s.name)) cmp = cmp.b;
  if (cmp.op !== "binary" || (cmp.kind !== "gt" && cmp.kind !== "lt")) return undefined;
  if (!same(cmp.a, v.a) || !acc(cmp.b)) return undefined;
  const def = v.a.op === "var" ? lets.get(v.a.name) : v.a;
  const magnitude = def?.op === "unary" && def.kind === "abs";
  return { var: s.name, kind: cmp.kind === "gt" ? "first_max" : "first_min", indexed: !magnitude };
}

function letValues(stmts: readonly Stmt[]): Map<string, Expr> {
  const out = new Map<string, Expr>();
  walk(stmts, (s) => s.op === "let" && out.set(s.name, s.value));
  return out;
}

/** A loop whose only effect on outer state is exact reductions, and that stores nothing. */
function reductionsOf(loop: For, lets: ReadonlyMap<string, Expr>): Reduction[] | undefined {
  if (storedBuffers(loop.body).size || hasLoop(loop.body)) return undefined;
  const assigns = outerAssigns(loop.body);
  const found: Reduction[] = [];
  for (const a of assigns) {
    const r = reductionOf(a, lets);
    if (!r || found.some((x) => x.var === r.var)) return undefined;
    // the accumulator must be assigned at the top level of the body only
    if (!loop.body.includes(a)) return undefined;
    found.push(r);
  }
  return found.length ? found : undefined;
}

/** Default lanes per item: the warp. A hint (the scheme's block length) narrows it. */
export function schedule(k: Kernel, lanesHint = 32): Schedule {
  const lanes = Math.max(1, Math.min(32, 2 ** Math.floor(Math.log2(Math.max(1, lanesHint)))));
  const top = k.body;
  const lets = letValues(top);
  const serial = (why: string): Schedule => ({
    mode: "serial",
    lanes: 1,
    preamble: top,
    nest: [],
    body: [],
    hoisted: [],
    loops: new Map(),
    syncAfterWrites: false,
    why,
  });
  let last = -1;
  top.forEach((s, j) => s.op === "for" && (last = j));
  if (last < 0) return serial("no loop");
  if (top.slice(last + 1).some((s) => s.op !== "comment"))
    return serial("statements follow the outer loop");
  const preamble = top.slice(0, last);
  const hoisted: Hoisted[] = [];
  for (const [at, s] of preamble.entries()) {
    if (s.op === "if" && hasLoop([s])) return serial("a loop inside a top-level if");
    if (s.op !== "for") continue;
    const r = reductionsOf(s, lets);
    const init = r?.length === 1 ? lets.get(r[0].var) : undefined;
    const zero = init?.op === "const" && init.value === 0 && !Object.is(init.value, -0);
    if (!r || r.length !== 1 || r[0].kind !== "first_max" || r[0].indexed || !zero)
      return serial("a top-level loop that is not a non-negative max");
    if (storedBuffers(preamble.slice(0, at)).size) return serial("a store before a reduction");
    hoisted.push({ at, var: r[0].var, word: hoisted.length });
  }
  const stored = storedBuffers(preamble);
  for (const b of loadedBuffers(top))
    if (stored.has(b)) return serial(`${b} is stored by the preamble and read`);

  const nest: For[] = [top[last] as For];
  for (;;) {
    const inner = nest[nest.length - 1].body.filter((s) => s.op !== "comment");
    if (inner.length !== 1 || inner[0].op !== "for") break;
    const f = inner[0];
    const uses = new Set([...exprVars(f.start), ...exprVars(f.end)]);
    if (nest.some((n) => uses.has(n.var))) break;
    nest.push(f);
  }
  const body = nest[nest.length - 1].body;
  const thread = (why: string): Schedule => ({
    mode: "thread",
    lanes: 1,
    preamble,
    nest,
    body,
    hoisted,
    loops: new Map(),
    syncAfterWrites: false,
    why,
  });
  if (lanes === 1) return thread("one lane per item");
  const loops = new Map<Stmt, "map" | readonly Reduction[]>();
  const bodyLets = letValues(body);
  for (const s of body) {
    if (s.op === "if" && hasLoop([s])) return thread("a loop under a condition in the item");
    if (s.op !== "for") continue;
    const assigns = outerAssigns(s.body);
    if (assigns.length === 0) loops.set(s, "map");
    else {
      const r = reductionsOf(s, bodyLets);
      if (!r) return thread(`loop ${s.var} carries ${assigns[0].name} in a declared order`);
      loops.set(s, r);
    }
  }
  if (loops.size === 0) return thread("no loop inside an item");
  const written = storedBuffers(body);
  const syncAfterWrites = [...loadedBuffers(body)].some((b) => written.has(b));
  return {
    mode: "group",
    lanes,
    preamble,
    nest,
    body,
    hoisted,
    loops,
    syncAfterWrites,
    why: `${lanes} lanes per item`,
  };
}

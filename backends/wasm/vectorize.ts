/**
 * SIMD128 for the per-element loops of lowered kernels, inside the WebAssembly
 * backend (the KernelIR stays scalar; other printers never see this).
 *
 * A `for` loop is vectorized four iterations at a time when its body is
 * straight-line code over lane-wise ops, so that lane i of every vector op is
 * exactly the scalar op of iteration g + i (f32x4 arithmetic is IEEE binary32
 * with round to nearest even, like f32). What makes that true, checked here:
 *
 * - Every value is classified as uniform (the same in all iterations: a scalar
 *   local, computed once per group), affine (base + lane * stride, an i32 index)
 *   or varying (a v128). Loads at an affine index of stride 1 are one vector
 *   load; other loads and table lookups are gathered lane by lane; ops without
 *   a SIMD128 form (integer division, clz, Philox) run per lane.
 * - `index * v` with `v` a loop-invariant variable (the `inner` stride of a
 *   block) is taken as stride 1 under a runtime guard `v == 1`; other guards
 *   keep the vector path off when two buffers of one element type that the
 *   loop stores to or loads from are the same memory (the runtime allows one
 *   array for two parameters), unless both are read and written at the same index.
 * - A variable declared outside the loop and assigned inside is a reduction
 *   only in forms whose result does not depend on the order of iterations:
 *   `acc = acc | e` and `acc = select(c & (v > acc), v, acc)` (any of > < >= <=)
 *   where `v` cannot be -0 (it is an `abs`, or an integer), so equal candidates
 *   have equal bits. Lanes keep their own accumulator, folded into the scalar
 *   one after the vector part. A reduction nothing reads is dropped.
 * - An `if` in the body: when its condition is false in every lane the group
 *   goes on as vectors; otherwise the group's four iterations run as the scalar
 *   body (which is why no store may come before an `if`).
 * - Stores go to an affine index of stride 1, narrowing by truncation as the
 *   scalar stores do.
 * Iterations left over (fewer than four, or the whole loop when a guard fails)
 * run as the scalar loop; after the loop its variable holds the last value.
 * Anything else leaves the loop scalar. `test/wasm-simd.test.ts` holds the cases.
 */
import type {
  BinaryOp,
  ElemType,
  Expr,
  Kernel,
  ScalarType,
  Stmt,
  Table,
  UnaryOp,
} from "../../ir/kernel.js";
import { children, sameExpr, walk } from "../../ir/kernel-walk.js";
import { laneGroup } from "../lane-groups.js";
import { binaryen, type ExpressionRef as Ref, type Module } from "./binaryen.js";
import { mayTrap, type Bin, type Local } from "./emit.js";
import { emitSmallTable, memoPattern, nanLanes } from "./swizzle.js";
import { emitLaneEncoder, laneEncoder, type LaneEncoder } from "./lane-encoder.js";
import { encodeLoop } from "./encode16.js";
import { statsLoop } from "./stats16.js";
import { packLoop } from "./pack16.js";
import { blockLoop } from "./blocks4.js";

type For = Extract<Stmt, { op: "for" }>;

/** What the scalar emitter lends the vectorizer. */
export interface LoopContext {
  readonly m: Module;
  readonly kernel: Kernel;
  /** fuse an f32 multiply with the add of its product (relaxed SIMD, a kernel that allows it) */
  readonly fuse: boolean;
  /** a scalar expression (uniform values) */
  ex(e: Expr): Ref;
  stmts(list: readonly Stmt[]): Ref[];
  /** the scalar loop of `s` over [from, to) */
  scalarLoop(s: For, from: Ref, to: Ref): Ref;
  /** the scalar local of a variable, declared if new */
  declare(name: string, type: ScalarType): Local;
  lookup(name: string): Local | undefined;
  temp(type: ScalarType | "v128"): number;
  vectorLocal(name: string): number;
  buffer(name: string): { elem: ElemType; access: string; param: number } | undefined;
  loadAt(buffer: string, index: Ref): Ref;
  tableAt(table: string, index: Ref): Ref;
  table(name: string): { table: Table; offset: number } | undefined;
  binaryOp(kind: BinaryOp, operandType: ScalarType): Bin | undefined;
  unaryOp(kind: UnaryOp, type: ScalarType, a: Ref): Ref;
  random(seedLo: Ref, seedHi: Ref, index: Ref, bits: number): Ref;
  label(): number;
}

const LANES = 4;
const ELEM_SHIFT: Record<ElemType, number> = { f32: 2, u32: 2, u16: 1, u8: 0, i8: 0 };

/** Why a loop stays scalar (never escapes this file). */
class Scalar extends Error {}
const refuse = (why: string): never => {
  throw new Scalar(why);
};

/**
 * `a`: an i32 whose lane i is base + offsets[i], with the base known to be a
 * multiple of `align` and, when `nonneg`, at least 0 (so that division by a
 * divisor of `align` and masks below it act on the offsets alone).
 */
type Affine = {
  readonly k: "a";
  readonly offsets: readonly number[];
  readonly align: number;
  readonly nonneg: boolean;
};
type Kind = { readonly k: "u" } | Affine | { readonly k: "v" };
/** the alignment of a base known to be 0 */
const ZERO_ALIGN = 2 ** 30;
const CONTIGUOUS = [0, 1, 2, 3];
const sameLanes = (a: readonly number[], b: readonly number[]) => a.every((x, i) => x === b[i]);
const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
const U: Kind = { k: "u" };
const VARY: Kind = { k: "v" };

/** an emitted value: a scalar Ref (uniform), an affine i32 (base Ref), or a v128 */
type Val =
  | { readonly k: "u"; readonly ref: Ref; readonly type: ScalarType }
  | { readonly k: "a"; readonly base: Ref; readonly offsets: readonly number[] }
  | { readonly k: "v"; readonly ref: Ref; readonly type: ScalarType };

/** `f` on `e` and every sub-expression, pre-order */
function walkExpr(e: Expr, f: (e: Expr) => void): void {
  f(e);
  for (const c of children(e)) walkExpr(c, f);
}

/** is statement `x` `loop` itself or inside its body? */
function inside(loop: Stmt, x: Stmt): boolean {
  let found = loop === x;
  if (loop.op === "for")
    walk(loop.body, (y) => {
      if (y === x) found = true;
    });
  return found;
}

function stmtExprs(s: Stmt): Expr[] {
  switch (s.op) {
    case "let":
    case "assign":
      return [s.value];
    case "store":
      return [s.index, s.value];
    case "if":
      return [s.cond];
    case "for":
      return [s.start, s.end];
    case "comment":
      return [];
  }
}

const reads = (e: Expr, name: string): number => {
  let n = 0;
  walkExpr(e, (x) => {
    if (x.op === "var" && x.name === name) n++;
  });
  return n;
};

interface Reduction {
  readonly name: string;
  readonly type: ScalarType;
  readonly form: "or" | "select" | "lane";
  /** or: the other operand; select: the candidate value; lane: the added value */
  readonly value: Expr;
  /** select: the whole condition (reads the accumulator) and the comparison */
  readonly cond?: Expr;
  readonly cmp?: BinaryOp;
  /** lane: the accumulator is the left operand of its add */
  readonly accFirst?: boolean;
  readonly dead: boolean;
  vector: number;
}

const COMPARE: readonly BinaryOp[] = ["gt", "lt", "ge", "le"];

/** Emits the vector part of `s` (before its scalar tail), or undefined when the loop stays scalar. */
export function vectorizeLoop(
  ctx: LoopContext,
  s: For,
  startLocal: number,
  endLocal: number,
): Ref | undefined {
  try {
    // quantize's block loop four blocks per step (blocks4.ts); its element, statistics and
    // packing loops 16 lanes per step (encode16.ts, stats16.ts, pack16.ts)
    const wide =
      blockLoop(ctx, s, startLocal, endLocal) ??
      encodeLoop(ctx, s, startLocal, endLocal) ??
      statsLoop(ctx, s, startLocal, endLocal) ??
      packLoop(ctx, s, startLocal, endLocal);
    if (wide) return wide;
    const groups = laneGroups(s);
    if (groups) return emitLaneGroups(ctx, s, groups, startLocal, endLocal);
    return new LoopVectorizer(ctx, s).emit(startLocal, endLocal);
  } catch (e) {
    if (e instanceof Scalar) return undefined;
    throw e;
  }
}

/**
 * Lane groups: a loop body that is G copies of one lane body, as lowered GEMV's
 * 16 lane accumulators (passes/lower/gemv.ts):
 *     let k_c = base + c; if (k_c < limit) { ...lane c, ending in acc_c = acc_c + p... }
 * for c = 0..G-1, identical up to the names of their variables. While all G
 * lanes are in range, four lanes at a time run as one vector body whose
 * accumulator lanes are acc_4q .. acc_4q+3: each lane's sum sees the same
 * additions in the same order. Other iterations run as the scalar body.
 */
export interface LaneGroups {
  readonly base: Expr;
  readonly limit: Expr;
  readonly index: string;
  readonly template: readonly Stmt[];
  /** accumulator per lane, lane 0's first */
  readonly accs: readonly string[];
}

/** `s`'s lane group (backends/lane-groups.ts) when its lanes come in fours */
export function laneGroups(s: For): LaneGroups | undefined {
  const g = laneGroup(s, LANES);
  if (!g || g.lanes.length % LANES !== 0) return undefined;
  const [first] = g.lanes;
  return {
    base: g.base,
    limit: g.limit,
    index: first.k,
    template: first.stmts,
    accs: g.lanes.map((l) => l.acc),
  };
}

function emitLaneGroups(
  ctx: LoopContext,
  s: For,
  g: LaneGroups,
  startLocal: number,
  endLocal: number,
): Ref {
  const { m } = ctx;
  const i32 = binaryen.i32;
  const G = g.accs.length;
  if (G % LANES !== 0) refuse("lane groups not a multiple of 4");
  // the template as a loop over its lane index: k_0 from a multiple of 4 (see loopVarKind)
  const template: For = {
    op: "for",
    var: g.index,
    start: { op: "const", type: "i32", value: 0 },
    end: g.limit,
    body: g.template,
  };
  const vz = new LoopVectorizer(ctx, template, { loop: s });
  // the lanes' own variables (k_c and the lane bodies') must not be read after the loop
  const declared = new Set<string>();
  walk(s.body, (x) => {
    if (x.op === "let") declared.add(x.name);
  });
  walk(ctx.kernel.body, (x) => {
    if (x === s) return;
    for (const e of stmtExprs(x))
      walkExpr(e, (r) => {
        if (r.op === "var" && declared.has(r.name) && !inside(s, x))
          refuse(`${r.name} is read after the loop`);
      });
  });
  const kb = ctx.declare(s.var, "i32");
  const lane = ctx.declare(g.index, "i32");
  const counter = ctx.temp("i32");
  const first = ctx.temp("i32");
  const vectors = Array.from({ length: G / LANES }, () => ctx.temp("v128"));
  const accLocals = g.accs.map((a) => ctx.lookup(a) ?? refuse(`no accumulator ${a}`));
  const get = (l: number) => m.local.get(l, i32);
  const quads = vectors.map((vec, q) => [
    m.local.set(lane.index, m.i32.add(get(first), m.i32.const(q * LANES))),
    ...vz.laneBody(lane.index, vec),
  ]);
  const exit = `lanes${ctx.label()}`;
  const next = `${exit}.next`;
  const init = vectors.map((vec, q) =>
    m.local.set(
      vec,
      [1, 2, 3].reduce(
        (v, i) =>
          m.f32x4.replace_lane(
            v,
            i as unknown as Ref,
            m.local.get(accLocals[q * LANES + i].index, binaryen.f32),
          ),
        m.f32x4.splat(m.local.get(accLocals[q * LANES].index, binaryen.f32)),
      ),
    ),
  );
  const fold = vectors.flatMap((vec, q) =>
    [0, 1, 2, 3].map((i) =>
      m.local.set(
        accLocals[q * LANES + i].index,
        m.f32x4.extract_lane(m.local.get(vec, binaryen.v128), i as unknown as Ref),
      ),
    ),
  );
  return m.block(null, [
    ...init,
    m.local.set(counter, get(startLocal)),
    m.block(exit, [
      m.loop(
        next,
        m.block(null, [
          m.br(exit, m.i32.ge_s(get(counter), get(endLocal))),
          m.local.set(kb.index, get(counter)),
          m.local.set(first, ctx.ex(g.base)),
          // all lanes in range, or the rest runs as scalar code
          m.br(
            exit,
            m.i32.eqz(m.i32.lt_s(m.i32.add(get(first), m.i32.const(G - 1)), ctx.ex(g.limit))),
          ),
          ...quads.flat(),
          m.local.set(counter, m.i32.add(get(counter), m.i32.const(1))),
          m.br(next),
        ]),
      ),
    ]),
    ...fold,
    m.local.set(startLocal, get(counter)),
  ]);
}

export class LoopVectorizer {
  private readonly m: Module;
  private readonly body: readonly Stmt[];
  /** variables the loop body declares (let), in all of its statements */
  private readonly local = new Set<string>();
  private readonly kinds = new Map<string, Kind>();
  private readonly reductions = new Map<string, Reduction>();
  private readonly guardVars = new Set<string>();
  private readonly stored = new Set<string>();
  /** the local holding the group's first iteration */
  private group = -1;
  /** vector (v128) or affine-base (i32) locals of body variables */
  private readonly slots = new Map<string, number>();
  /** memo encoders (a let and the if after it) done as vector encoders (lane-encoder.ts) */
  private readonly encoders = new Map<Stmt, LaneEncoder>();

  /** variables set once, by a let of a constant, anywhere in the kernel */
  private readonly constants = new Map<string, number>();

  constructor(
    private readonly ctx: LoopContext,
    private readonly s: For,
    /** lane-group mode (GroupVectorizer): the real loop, and per-lane accumulators allowed */
    private readonly groupMode?: { readonly loop: Stmt },
    /** block mode (blocks4.ts): the real loop, and variables already held in v128 locals */
    private readonly blockMode?: {
      readonly loop: Stmt;
      readonly given: ReadonlyMap<string, number>;
    },
  ) {
    this.m = ctx.m;
    this.body = s.body.filter((x) => x.op !== "comment");
    for (const [name, l] of blockMode?.given ?? []) {
      this.kinds.set(name, VARY);
      this.slots.set(name, l);
    }
    const defs = new Map<string, Stmt[]>();
    walk(ctx.kernel.body, (x) => {
      if (x.op === "let" || x.op === "assign") defs.set(x.name, [...(defs.get(x.name) ?? []), x]);
    });
    for (const [name, list] of defs) {
      const [d] = list;
      if (list.length === 1 && d.op === "let" && d.value.op === "const" && d.type === "i32")
        this.constants.set(name, d.value.value as number);
    }
    this.analyze();
  }

  /** `e` with let-constants written as constants (V8 then divides by a known block size with shifts) */
  private fold(e: Expr): Expr {
    const c = e.op === "var" ? this.constants.get(e.name) : undefined;
    if (c !== undefined) return { op: "const", type: "i32", value: c };
    switch (e.op) {
      case "load":
      case "table":
        return { ...e, index: this.fold(e.index) };
      case "binary":
        return { ...e, a: this.fold(e.a), b: this.fold(e.b) };
      case "unary":
      case "bitcast":
      case "convert":
        return { ...e, a: this.fold(e.a) };
      case "select":
        return { ...e, cond: this.fold(e.cond), a: this.fold(e.a), b: this.fold(e.b) };
      default:
        return e;
    }
  }

  private constOf(e: Expr): number | undefined {
    if (e.op === "const" && typeof e.value === "number") return e.value;
    return e.op === "var" ? this.constants.get(e.name) : undefined;
  }

  // ---- analysis -------------------------------------------------------------

  private analyze(): void {
    const { body, s } = this;
    walk(body, (x) => {
      if (x.op === "for") refuse("a nested loop");
      if (x.op === "let") this.local.add(x.name);
    });
    if (this.local.has(s.var)) refuse("the loop variable is redeclared");
    // assignments to outer variables: reductions at the top level only
    walk(body, (x) => {
      if (x.op !== "assign" || this.local.has(x.name)) return;
      if (x.name === s.var) refuse("the loop variable is assigned");
      if (!body.includes(x)) refuse(`${x.name} is assigned inside an if`);
      if (this.reductions.has(x.name)) refuse(`${x.name} is assigned twice`);
      this.reductions.set(x.name, this.reduction(x));
    });
    // body variables must not be read after the loop (they would hold the last iteration's value)
    const outside = new Set<string>();
    const collect = (list: readonly Stmt[]) => {
      for (const x of list) {
        if (x === s || x === this.groupMode?.loop || x === this.blockMode?.loop) continue;
        for (const e of stmtExprs(x))
          walkExpr(e, (v) => {
            if (v.op === "var") outside.add(v.name);
          });
        if (x.op === "if") {
          collect(x.then);
          collect(x.else ?? []);
        } else if (x.op === "for") collect(x.body);
      }
    };
    collect(this.ctx.kernel.body);
    for (const name of this.local)
      if (outside.has(name)) refuse(`${name} is read outside the loop`);
    // stores: top level, none before an if
    let storedYet = false;
    for (const x of body) {
      if (x.op === "if") {
        if (storedYet) refuse("a store before an if");
        if (x.else?.length) refuse("an if with an else");
      }
      if (x.op === "store") storedYet = true;
    }
    walk(body, (x) => {
      if (x.op === "store") this.stored.add(x.buffer);
    });
    // a variable set only inside an if must not be read at the top level (the vector path skips the if)
    const top = new Set(body.flatMap((x) => (x.op === "let" || x.op === "assign" ? [x.name] : [])));
    for (const x of body)
      for (const e of stmtExprs(x))
        walkExpr(e, (v) => {
          if (v.op === "var" && this.local.has(v.name) && !top.has(v.name))
            refuse(`${v.name} is set only inside an if`);
        });
    this.classify();
    body.forEach((x, j) => {
      if (!memoPattern(this.ctx.kernel, x, body[j + 1])) return;
      const enc = laneEncoder(this.ctx.kernel, x, body[j + 1]);
      if (typeof enc !== "string") this.encoders.set(x, enc);
    });
    for (const x of body)
      if (x.op === "store") {
        const k = this.kindOf(x.index);
        if (k.k !== "a" || !sameLanes(k.offsets, CONTIGUOUS))
          refuse(`a store to ${x.buffer} at a non-contiguous index`);
      }
  }

  private reduction(x: Extract<Stmt, { op: "assign" }>): Reduction {
    const outer = this.ctx.lookup(x.name) ?? refuse(`${x.name} is not declared`);
    const type = outer.type;
    const acc = (e: Expr) => e.op === "var" && e.name === x.name;
    // a reduction read anywhere but in its own update is order-dependent or dead
    let others = 0;
    walk(this.ctx.kernel.body, (st) => {
      for (const e of stmtExprs(st)) others += reads(e, x.name);
    });
    others -= reads(x.value, x.name);
    let inBody = 0;
    walk(this.body, (st) => {
      if (st !== x) for (const e of stmtExprs(st)) inBody += reads(e, x.name);
    });
    if (inBody) refuse(`${x.name} is read in the loop besides its update`);
    const dead = others === 0;
    const v = x.value;
    if (v.op === "binary" && v.kind === "or" && type !== "f32") {
      const other = acc(v.a) ? v.b : acc(v.b) ? v.a : undefined;
      if (other && reads(other, x.name) === 0)
        return { name: x.name, type, form: "or", value: other, dead, vector: -1 };
    }
    if (this.groupMode && v.op === "binary" && v.kind === "add" && type === "f32") {
      // lane groups: every lane has its own accumulator, updated in its own order
      const other = acc(v.a) ? v.b : acc(v.b) ? v.a : undefined;
      if (other && reads(other, x.name) === 0)
        return {
          name: x.name,
          type,
          form: "lane",
          value: other,
          accFirst: acc(v.a),
          dead: false,
          vector: -1,
        };
    }
    if (v.op === "select" && acc(v.b) && reads(v.a, x.name) === 0) {
      const cmp = this.comparison(v.cond, v.a, x.name);
      if (cmp && (type !== "f32" || this.neverMinusZero(v.a)))
        return {
          name: x.name,
          type,
          form: "select",
          value: v.a,
          cond: v.cond,
          cmp,
          dead,
          vector: -1,
        };
    }
    if (dead) return { name: x.name, type, form: "or", value: v, dead, vector: -1 };
    return refuse(`${x.name} is not an order-independent reduction`);
  }

  /** `v OP acc` or `c & (v OP acc)` / `(v OP acc) & c` with c free of acc: OP */
  private comparison(cond: Expr, v: Expr, acc: string): BinaryOp | undefined {
    const direct = (e: Expr) =>
      e.op === "binary" &&
      COMPARE.includes(e.kind) &&
      sameExpr(e.a, v) &&
      e.b.op === "var" &&
      e.b.name === acc
        ? e.kind
        : undefined;
    if (direct(cond)) return direct(cond);
    if (cond.op === "binary" && cond.kind === "and") {
      if (direct(cond.b) && reads(cond.a, acc) === 0) return direct(cond.b);
      if (direct(cond.a) && reads(cond.b, acc) === 0) return direct(cond.a);
    }
    return undefined;
  }

  private neverMinusZero(e: Expr): boolean {
    if (e.op === "unary" && e.kind === "abs") return true;
    if (e.op !== "var") return false;
    const defs = this.body.filter(
      (x) => (x.op === "let" || x.op === "assign") && x.name === e.name,
    ) as Extract<Stmt, { op: "let" }>[];
    let nested = false;
    walk(this.body, (x) => {
      if ((x.op === "let" || x.op === "assign") && x.name === e.name && !this.body.includes(x))
        nested = true;
    });
    return (
      !nested && defs.length === 1 && defs[0].value.op === "unary" && defs[0].value.kind === "abs"
    );
  }

  /** body variables' kinds, to a fixpoint over their top-level definitions */
  private classify(): void {
    for (const name of this.local) this.kinds.set(name, U);
    for (let changed = true; changed;) {
      changed = false;
      for (const x of this.body) {
        if ((x.op !== "let" && x.op !== "assign") || !this.local.has(x.name)) continue;
        const before = this.kinds.get(x.name)!;
        const now = join(before, this.kindOf(x.value));
        if (
          now.k !== before.k ||
          (now.k === "a" &&
            before.k === "a" &&
            (now.align !== before.align || now.nonneg !== before.nonneg))
        ) {
          this.kinds.set(x.name, now);
          changed = true;
        }
      }
    }
    // variables set only inside ifs keep U: the vector path never runs those statements
  }

  private isInvariantVar(name: string): boolean {
    if (this.blockMode?.given.has(name)) return false;
    return !this.local.has(name) && !this.reductions.has(name) && name !== this.s.var;
  }

  private loopVarKind(): Affine {
    // the group's first iteration is start + 4j (lane groups: a multiple of 4, at least 0)
    const c = this.groupMode ? 0 : this.constOf(this.s.start);
    return {
      k: "a",
      offsets: CONTIGUOUS,
      align: c !== undefined && c % LANES === 0 ? LANES : 1,
      nonneg: c !== undefined && c >= 0,
    };
  }

  private binaryKind(e: Extract<Expr, { op: "binary" }>): Kind {
    const k = this.affineKind(e);
    // equal in every lane: computed once per group by the scalar code (the loop variable holds lane 0)
    return k.k === "a" && k.offsets.every((o) => o === k.offsets[0]) ? U : k;
  }

  private affineKind(e: Extract<Expr, { op: "binary" }>): Kind {
    const a = this.kindOf(e.a);
    const b = this.kindOf(e.b);
    if (a.k === "u" && b.k === "u") return U;
    if (e.type !== "i32" || a.k === "v" || b.k === "v") return VARY;
    const constant = (x: Expr) => this.constOf(x);
    /** a uniform operand as an affine of offsets 0 */
    const lift = (k: Kind, x: Expr): Affine => {
      if (k.k === "a") return k;
      const c = constant(x);
      return {
        k: "a",
        offsets: [0, 0, 0, 0],
        align: c === undefined ? 1 : c === 0 ? ZERO_ALIGN : Math.abs(c),
        nonneg: c !== undefined && c >= 0,
      };
    };
    const x = lift(a, e.a);
    const y = lift(b, e.b);
    const c = constant(e.b);
    switch (e.kind) {
      case "add":
      case "sub": {
        const sign = e.kind === "add" ? 1 : -1;
        return {
          k: "a",
          offsets: x.offsets.map((o, i) => o + sign * y.offsets[i]),
          align: gcd(x.align, y.align),
          nonneg: x.nonneg && y.nonneg && (e.kind === "add" || y.align === ZERO_ALIGN),
        };
      }
      case "mul": {
        const [aff, other] = a.k === "a" ? [a, e.b] : [b as Affine, e.a];
        const f = constant(other);
        if (f !== undefined)
          return {
            k: "a",
            offsets: aff.offsets.map((o) => o * f),
            align: f === 0 ? ZERO_ALIGN : Math.min(ZERO_ALIGN, aff.align * Math.abs(f)),
            nonneg: aff.nonneg && f >= 0,
          };
        if (other.op === "var" && this.isInvariantVar(other.name)) {
          this.guardVars.add(other.name); // the vector path runs only when it is 1
          return aff;
        }
        return VARY;
      }
      case "div":
      case "shr": {
        // exact on the offsets when the base is a non-negative multiple of the divisor
        const d = c === undefined ? 0 : e.kind === "div" ? c : c >= 0 && c < 31 ? 2 ** c : 0;
        if (a.k !== "a" || d <= 0 || !x.nonneg || x.offsets.some((o) => o < 0)) return VARY;
        // lanes within one aligned run of a divisor: one quotient for all
        if (d % x.align === 0 && Math.max(...x.offsets) < x.align)
          return { k: "a", offsets: [0, 0, 0, 0], align: 1, nonneg: true };
        if (x.align % d !== 0) return VARY;
        return {
          k: "a",
          offsets: x.offsets.map((o) => Math.floor(o / d)),
          align: x.align === ZERO_ALIGN ? ZERO_ALIGN : x.align / d,
          nonneg: true,
        };
      }
      case "and": {
        // x & (2^j - 1) of a base that is a non-negative multiple of 2^j: the offsets' low bits
        if (a.k !== "a" || c === undefined || c < 0 || (c & (c + 1)) !== 0) return VARY;
        if (!x.nonneg || x.align % (c + 1) !== 0 || x.offsets.some((o) => o < 0)) return VARY;
        return { k: "a", offsets: x.offsets.map((o) => o & c), align: ZERO_ALIGN, nonneg: true };
      }
    }
    return VARY;
  }

  private kindOf(e: Expr): Kind {
    switch (e.op) {
      case "const":
        return U;
      case "var":
        if (e.name === this.s.var) return this.loopVarKind();
        if (this.reductions.has(e.name)) return VARY;
        return this.kinds.get(e.name) ?? U;
      case "load":
        return this.kindOf(e.index).k === "u" && !this.stored.has(e.buffer) ? U : VARY;
      case "table":
        return this.kindOf(e.index).k === "u" ? U : VARY;
      case "binary":
        return this.binaryKind(e);
      case "unary":
      case "bitcast":
      case "convert":
        return this.kindOf(e.a).k === "u" ? U : VARY;
      case "select":
        return [e.cond, e.a, e.b].every((x) => this.kindOf(x).k === "u") ? U : VARY;
      case "random":
        return [e.seedLo, e.seedHi, e.index].every((x) => this.kindOf(x).k === "u") ? U : VARY;
    }
  }

  // ---- emission -------------------------------------------------------------

  emit(startLocal: number, endLocal: number): Ref {
    const { m, ctx } = this;
    const i32 = binaryen.i32;
    const group = (this.group = ctx.temp("i32"));
    const vecEnd = ctx.temp("i32");
    const start = () => m.local.get(startLocal, i32);
    const end = () => m.local.get(endLocal, i32);
    // the vector body first: it records the guards it relies on
    const label = ctx.label();
    const groupLabel = `vgroup${label}`;
    for (const r of this.reductions.values()) if (!r.dead) r.vector = ctx.temp("v128");
    const vectorBody = this.statements(this.body, groupLabel);
    const guards: Ref[] = [m.i32.ge_s(m.i32.sub(end(), start()), m.i32.const(LANES))];
    for (const name of this.guardVars) {
      const l = ctx.lookup(name) ?? refuse(`no variable ${name}`);
      guards.push(m.i32.eq(m.local.get(l.index, i32), m.i32.const(1)));
    }
    guards.push(...this.aliasGuards());
    const all = guards.reduce((a, b) => m.i32.and(a, b));
    const loopLabel = `vloop${label}`;
    const v = ctx.declare(this.s.var, "i32");
    const init: Ref[] = [];
    const fold: Ref[] = [];
    for (const r of this.reductions.values()) {
      if (r.dead) continue;
      const outer = ctx.lookup(r.name)!;
      const acc = () => m.local.get(outer.index, wasmType(r.type));
      init.push(
        m.local.set(
          r.vector,
          r.form === "or" ? m.v128.const(new Array(16).fill(0)) : this.splat(acc(), r.type),
        ),
      );
      for (let lane = 0; lane < LANES; lane++) {
        const l = this.extract(m.local.get(r.vector, binaryen.v128), lane, r.type);
        if (r.form === "or") {
          fold.push(m.local.set(outer.index, m.i32.or(acc(), l)));
        } else {
          const t = ctx.temp(r.type);
          const lv = () => m.local.get(t, wasmType(r.type));
          const cmp = ctx.binaryOp(r.cmp!, r.type)!;
          fold.push(
            m.local.set(t, l),
            m.local.set(outer.index, m.select(cmp(lv(), acc()), lv(), acc())),
          );
        }
      }
    }
    return m.block(null, [
      m.local.set(vecEnd, start()),
      m.if(
        all,
        m.block(null, [
          m.local.set(
            vecEnd,
            m.i32.add(start(), m.i32.and(m.i32.sub(end(), start()), m.i32.const(-LANES))),
          ),
          ...init,
          m.local.set(group, start()),
          m.loop(
            loopLabel,
            m.block(null, [
              m.block(groupLabel, [m.local.set(v.index, m.local.get(group, i32)), ...vectorBody]),
              m.local.set(group, m.i32.add(m.local.get(group, i32), m.i32.const(LANES))),
              m.br(loopLabel, m.i32.lt_s(m.local.get(group, i32), m.local.get(vecEnd, i32))),
            ]),
          ),
          ...fold,
          m.local.set(v.index, m.i32.sub(m.local.get(vecEnd, i32), m.i32.const(1))),
        ]),
      ),
      m.local.set(startLocal, m.local.get(vecEnd, i32)),
    ]);
  }

  /** lane-group mode: the template's vector body for the lanes from `lane`'s value, accumulating into `vector` */
  laneBody(lane: number, vector: number): Ref[] {
    if (this.aliasGuards().length || this.guardVars.size) refuse("lane groups with guards");
    this.group = lane;
    for (const r of this.reductions.values()) {
      if (r.form !== "lane") refuse(`${r.name} is not a lane accumulator`);
      r.vector = vector;
    }
    return this.statements(this.body, "");
  }

  // ---- block mode (blocks4.ts): the body as straight-line code over 4 iterations

  /** the statements of `list` (of the body) for the 4 iterations from the value of local `first` */
  straight(list: readonly Stmt[], first: number): Ref[] {
    if (list.some((x) => x.op === "if")) refuse("an if among the block statements");
    this.group = first;
    // values equal in the four lanes are scalar code reading the loop variable: lane 0's value
    const { m, ctx } = this;
    const loopVar = ctx.declare(this.s.var, "i32").index;
    return [m.local.set(loopVar, m.local.get(first, binaryen.i32)), ...this.statements(list, "")];
  }

  /** `e` of the 4 iterations as one v128 (after `straight` set what it reads) */
  lanesOf(e: Expr): Ref {
    return this.vec(this.val(e), e.type);
  }

  /** iteration `lane`'s value of the i32 `e` */
  laneOf(e: Expr, lane: number): Ref {
    const { m } = this;
    const v = this.val(e);
    if (v.k === "u") return v.ref;
    if (v.k === "a") return m.i32.add(v.base, m.i32.const(v.offsets[lane]));
    return m.i32x4.extract_lane(v.ref, lane as unknown as Ref);
  }

  /** the run-time conditions the straight-line code relies on (strides of 1, buffers apart) */
  guards(): Ref[] {
    const { m, ctx } = this;
    const out = [...this.guardVars].map((name) => {
      const l = ctx.lookup(name) ?? refuse(`no variable ${name}`);
      return m.i32.eq(m.local.get(l.index, binaryen.i32), m.i32.const(1));
    });
    return [...out, ...this.aliasGuards()];
  }

  /** pointer inequality of buffers that could be one array and are used at different indices */
  private aliasGuards(): Ref[] {
    const { m, ctx } = this;
    const uses = new Map<string, Set<string>>();
    const note = (buffer: string, index: Expr) => {
      const set = uses.get(buffer) ?? new Set<string>();
      set.add(JSON.stringify(index));
      uses.set(buffer, set);
    };
    walk(this.body, (x) => {
      if (x.op === "store") note(x.buffer, x.index);
      for (const e of stmtExprs(x))
        walkExpr(e, (l) => {
          if (l.op === "load") note(l.buffer, l.index);
        });
    });
    const guards: Ref[] = [];
    for (const written of this.stored) {
      const w = ctx.buffer(written)!;
      if ((uses.get(written)?.size ?? 0) > 1) refuse(`${written} is used at two indices`);
      for (const [other, idx] of uses) {
        if (other === written) continue;
        const o = ctx.buffer(other)!;
        if (o.elem !== w.elem) continue;
        const same = idx.size === 1 && [...idx][0] === [...uses.get(written)!][0];
        if (same) continue;
        guards.push(
          m.i32.ne(m.local.get(w.param, binaryen.i32), m.local.get(o.param, binaryen.i32)),
        );
      }
    }
    return guards;
  }

  private statements(list: readonly Stmt[], groupLabel: string): Ref[] {
    const { m, ctx } = this;
    const out: Ref[] = [];
    let skip: Stmt | undefined;
    list.forEach((x, j) => {
      if (x === skip) return;
      const enc = this.encoders.get(x);
      if (enc && x.op === "let") {
        // NaN lanes take the exact path: the group runs as scalar code
        out.push(this.fallback(nanLanes(m, this.bitsOf(enc.input)), groupLabel));
        const code = emitLaneEncoder(
          m,
          () => this.bitsOf(enc.input),
          enc,
          () => ctx.temp("v128"),
        );
        out.push(m.local.set(this.slot(x.name, "v128"), code));
        skip = list[j + 1];
        return;
      }
      switch (x.op) {
        case "let":
        case "assign": {
          const r = this.reductions.get(x.name);
          if (r) {
            if (!r.dead) out.push(this.reduce(r));
            break;
          }
          const kind = this.kinds.get(x.name)!;
          const type = x.op === "let" ? x.type : x.value.type;
          if (kind.k === "u") {
            const l = ctx.declare(x.name, type);
            out.push(m.local.set(l.index, ctx.ex(x.value)));
          } else if (kind.k === "a") {
            const v = this.val(x.value);
            if (v.k !== "a") refuse(`${x.name} is not affine`);
            const slot = this.slot(x.name, "i32");
            out.push(
              m.local.set(slot, (v as { base: Ref }).base),
              // values equal in all lanes are scalar code reading the variable itself: lane 0's value
              m.local.set(
                ctx.declare(x.name, "i32").index,
                m.i32.add(m.local.get(slot, binaryen.i32), m.i32.const(kind.offsets[0])),
              ),
            );
          } else {
            out.push(m.local.set(this.slot(x.name, "v128"), this.vec(this.val(x.value), type)));
          }
          break;
        }
        case "store":
          out.push(this.store(x));
          break;
        case "if":
          out.push(this.fallback(this.mask(this.val(x.cond), x.cond.type), groupLabel));
          break;
        case "comment":
          break;
        case "for":
          refuse("a nested loop");
      }
    });
    return out;
  }

  /** when any lane of `mask` is set, the group's iterations run as the scalar body */
  private fallback(mask: Ref, groupLabel: string): Ref {
    const { m, ctx } = this;
    const group = () => m.local.get(this.group, binaryen.i32);
    const scalar = ctx.scalarLoop(this.s, group(), m.i32.add(group(), m.i32.const(LANES)));
    return m.if(m.v128.any_true(mask), m.block(null, [scalar, m.br(groupLabel)]));
  }

  private bitsOf(name: string): Ref {
    return this.vec(this.val({ op: "var", name, type: "f32" }), "f32");
  }

  private slot(name: string, type: "i32" | "v128"): number {
    let l = this.slots.get(name);
    if (l === undefined) {
      l = type === "v128" ? this.ctx.vectorLocal(`${name}#v`) : this.ctx.temp("i32");
      this.slots.set(name, l);
    }
    return l;
  }

  private reduce(r: Reduction): Ref {
    const { m } = this;
    const acc = () => m.local.get(r.vector, binaryen.v128);
    if (r.form === "or")
      return m.local.set(r.vector, m.v128.or(acc(), this.vec(this.val(r.value), r.type)));
    if (r.form === "lane") {
      const e = this.vec(this.val(r.value), r.type);
      return m.local.set(r.vector, r.accFirst ? m.f32x4.add(acc(), e) : m.f32x4.add(e, acc()));
    }
    const mask = this.mask(this.val(r.cond!), "bool");
    return m.local.set(
      r.vector,
      m.v128.bitselect(this.vec(this.val(r.value), r.type), acc(), mask),
    );
  }

  private store(x: Extract<Stmt, { op: "store" }>): Ref {
    const { m, ctx } = this;
    const b = ctx.buffer(x.buffer)!;
    const base = this.contiguousBase(this.val(x.index));
    const ptr = this.address(b.param, b.elem, base);
    const value = this.vec(this.val(x.value), x.value.type);
    switch (b.elem) {
      case "f32":
      case "u32":
        return m.v128.store(0, 1, ptr, value);
      case "u16":
        return m.v128.store64_lane(0, 1, 0, ptr, m.i8x16.shuffle(value, value, SHUFFLE_U16));
      case "u8":
      case "i8":
        return m.v128.store32_lane(0, 1, 0, ptr, m.i8x16.shuffle(value, value, SHUFFLE_U8));
    }
  }

  private address(param: number, elem: ElemType, index: Ref): Ref {
    const { m } = this;
    const shift = ELEM_SHIFT[elem];
    return m.i32.add(
      m.local.get(param, binaryen.i32),
      shift ? m.i32.shl(index, m.i32.const(shift)) : index,
    );
  }

  // ---- values ---------------------------------------------------------------

  private splat(ref: Ref, type: ScalarType): Ref {
    const { m } = this;
    if (type === "f32") return m.f32x4.splat(ref);
    if (type === "bool") return m.i32x4.splat(m.i32.sub(m.i32.const(0), ref));
    return m.i32x4.splat(ref);
  }

  /** lane `lane` of a vector as a scalar of `type` (bool: 0/1) */
  private extract(v: Ref, lane: number, type: ScalarType): Ref {
    const { m } = this;
    const at = lane as unknown as Ref;
    if (type === "f32") return m.f32x4.extract_lane(v, at);
    const x = m.i32x4.extract_lane(v, at);
    return type === "bool" ? m.i32.and(x, m.i32.const(1)) : x;
  }

  private build(lanes: Ref[], type: ScalarType): Ref {
    const { m } = this;
    let v = this.splat(lanes[0], type);
    for (let l = 1; l < LANES; l++) {
      const at = l as unknown as Ref;
      v =
        type === "f32"
          ? m.f32x4.replace_lane(v, at, lanes[l])
          : m.i32x4.replace_lane(
              v,
              at,
              type === "bool" ? m.i32.sub(m.i32.const(0), lanes[l]) : lanes[l],
            );
    }
    return v;
  }

  /** a value as a v128 of `type` lanes (bool: all-ones / zero masks) */
  private vec(v: Val, type: ScalarType): Ref {
    const { m } = this;
    if (v.k === "v") return v.ref;
    if (v.k === "u") return this.splat(v.ref, type);
    return m.i32x4.add(m.i32x4.splat(v.base), i32x4Const(m, [...v.offsets]));
  }

  private mask(v: Val, type: ScalarType): Ref {
    const x = this.vec(v, type);
    return type === "bool" ? x : this.m.i32x4.ne(x, i32x4Const(this.m, [0, 0, 0, 0]));
  }

  /** the base of a contiguous affine value, or refuse */
  private contiguousBase(v: Val): Ref {
    if (v.k === "a" && sameLanes(v.offsets, CONTIGUOUS)) return v.base;
    return refuse("an index that is not contiguous");
  }

  /** keeps a v128 in a temporary so that its lanes can be read */
  private lanes(v: Ref, type: ScalarType): (lane: number) => Ref {
    const t = this.ctx.temp("v128");
    const m = this.m;
    let first = true;
    return (lane) => {
      const get = m.local.get(t, binaryen.v128);
      const x = this.extract(first ? m.local.tee(t, v, binaryen.v128) : get, lane, type);
      first = false;
      return x;
    };
  }

  /** op per lane: the scalar op on lane i of every operand */
  private perLane(
    operands: { v: Val; type: ScalarType }[],
    type: ScalarType,
    f: (xs: Ref[]) => Ref,
  ): Val {
    const ls = operands.map((o) =>
      o.v.k === "u" ? undefined : this.lanes(this.vec(o.v, o.type), o.type),
    );
    const us = operands.map((o, j) => {
      if (o.v.k !== "u") return undefined;
      const t = this.ctx.temp(o.type);
      return {
        set: this.m.local.set(t, o.v.ref),
        get: () => this.m.local.get(t, wasmType(o.type)),
        j,
      };
    });
    const setups = us.filter((x) => x !== undefined).map((x) => x.set);
    const lanes = Array.from({ length: LANES }, (_, l) =>
      f(operands.map((_, j) => (ls[j] ? ls[j](l) : us[j]!.get()))),
    );
    const built = this.build(lanes, type);
    return {
      k: "v",
      ref: setups.length ? this.m.block(null, [...setups, built], binaryen.v128) : built,
      type,
    };
  }

  private val(e: Expr): Val {
    const { m, ctx } = this;
    const kind = this.kindOf(e);
    if (kind.k === "u") return { k: "u", ref: ctx.ex(this.fold(e)), type: e.type };
    switch (e.op) {
      case "var": {
        if (e.name === this.s.var)
          return { k: "a", base: m.local.get(this.group, binaryen.i32), offsets: CONTIGUOUS };
        const r = this.reductions.get(e.name);
        if (r) return { k: "v", ref: m.local.get(r.vector, binaryen.v128), type: e.type };
        if (kind.k === "a")
          return {
            k: "a",
            base: m.local.get(this.slot(e.name, "i32"), binaryen.i32),
            offsets: kind.offsets,
          };
        return { k: "v", ref: m.local.get(this.slot(e.name, "v128"), binaryen.v128), type: e.type };
      }
      case "load":
        return this.load(e);
      case "table": {
        const t = ctx.table(e.table)!;
        const idx = this.val(e.index);
        const gather = (v: Val) =>
          this.perLane([{ v, type: e.index.type }], e.type, ([i]) => ctx.tableAt(t.table.name, i));
        if (t.table.values.length > 16) return gather(idx);
        // swizzle the byte planes; an index past the table (never in lowered code) is gathered
        const held = ctx.temp("v128");
        const get = () => m.local.get(held, binaryen.v128);
        const last = m.i32x4.splat(m.i32.const(t.table.values.length - 1));
        const outside = m.v128.any_true(m.i32x4.gt_u(get(), last));
        const swizzled = emitSmallTable(m, t.table, get(), () => ctx.temp("v128"));
        const gathered = (gather({ k: "v", ref: get(), type: e.index.type }) as { ref: Ref }).ref;
        return {
          k: "v",
          ref: m.block(
            null,
            [m.local.set(held, this.vec(idx, e.index.type)), m.if(outside, gathered, swizzled)],
            binaryen.v128,
          ),
          type: e.type,
        };
      }
      case "binary":
        return this.binary(e, kind);
      case "unary":
        return this.unary(e);
      case "select": {
        if (mayTrap(e.a) || mayTrap(e.b)) refuse("a select whose arms can trap");
        const c = this.mask(this.val(e.cond), e.cond.type);
        const a = this.vec(this.val(e.a), e.type);
        const b = this.vec(this.val(e.b), e.type);
        return { k: "v", ref: m.v128.bitselect(a, b, c), type: e.type };
      }
      case "bitcast":
        return { k: "v", ref: this.vec(this.val(e.a), e.a.type), type: e.type };
      case "convert":
        return this.convert(e);
      case "random": {
        const ops = [e.seedLo, e.seedHi, e.index].map((x) => ({ v: this.val(x), type: x.type }));
        return this.perLane(ops, "u32", ([lo, hi, i]) => ctx.random(lo, hi, i, e.bits));
      }
      case "const":
        return { k: "u", ref: ctx.ex(e), type: e.type };
    }
  }

  private load(e: Extract<Expr, { op: "load" }>): Val {
    const { m, ctx } = this;
    const b = ctx.buffer(e.buffer)!;
    const idx = this.val(e.index);
    const size = 2 ** ELEM_SHIFT[b.elem];
    if (
      idx.k === "a" &&
      !sameLanes(idx.offsets, CONTIGUOUS) &&
      Math.min(...idx.offsets) >= 0 &&
      (Math.max(...idx.offsets) + 1) * size <= 16
    ) {
      // a window of 16 bytes from the base, lanes picked out (the runtime keeps 16 bytes of slack)
      const win = m.v128.load(0, 1, this.address(b.param, b.elem, idx.base));
      const pick = idx.offsets.flatMap((o) =>
        Array.from({ length: 4 }, (_, j) => (j < size ? o * size + j : 16)),
      );
      let ref = m.i8x16.shuffle(win, m.v128.const(new Array(16).fill(0)), pick);
      if (b.elem === "i8") ref = m.i32x4.shr_s(m.i32x4.shl(ref, m.i32.const(24)), m.i32.const(24));
      return { k: "v", ref, type: e.type };
    }
    if (idx.k === "a" && sameLanes(idx.offsets, CONTIGUOUS)) {
      const ptr = this.address(b.param, b.elem, idx.base);
      let ref: Ref;
      switch (b.elem) {
        case "f32":
        case "u32":
          ref = m.v128.load(0, 1, ptr);
          break;
        case "u16":
          ref = m.v128.load16x4_u(0, 1, ptr);
          break;
        case "u8":
          ref = m.i32x4.extend_low_i16x8_u(
            m.i16x8.extend_low_i8x16_u(m.v128.load32_zero(0, 1, ptr)),
          );
          break;
        case "i8":
          ref = m.i32x4.extend_low_i16x8_s(
            m.i16x8.extend_low_i8x16_s(m.v128.load32_zero(0, 1, ptr)),
          );
          break;
      }
      return { k: "v", ref, type: e.type };
    }
    return this.perLane([{ v: idx, type: e.index.type }], e.type, ([i]) => ctx.loadAt(e.buffer, i));
  }

  private binary(e: Extract<Expr, { op: "binary" }>, kind: Kind): Val {
    const { m, ctx } = this;
    const t = e.a.type;
    if (kind.k === "a") {
      const a = this.val(e.a);
      const b = this.val(e.b);
      const base = (v: Val) =>
        v.k === "a" ? v.base : v.k === "u" ? v.ref : refuse("vector in affine");
      const c = this.constOf(e.b) ?? 0;
      const affine = (ref: Ref): Val => ({ k: "a", base: ref, offsets: kind.offsets });
      switch (e.kind) {
        case "add":
          return affine(m.i32.add(base(a), base(b)));
        case "sub":
          return affine(m.i32.sub(base(a), base(b)));
        case "mul": {
          // by a constant, or by a variable guarded to be 1
          const [aff, other] = a.k === "a" ? [a, e.b] : [b, e.a];
          const f = this.constOf(other) ?? 1;
          return affine(m.i32.mul(base(aff), m.i32.const(f)));
        }
        case "div":
          return affine(m.i32.div_s(base(a), m.i32.const(c)));
        case "shr":
          return affine(m.i32.shr_s(base(a), m.i32.const(c)));
        case "and":
          return affine(m.i32.const(0));
      }
      return refuse(`${e.kind} as affine`);
    }
    const simd = vectorBinary(m, e.kind, t);
    const a = this.val(e.a);
    const b = this.val(e.b);
    if ((e.kind === "shl" || e.kind === "shr") && b.k === "u") {
      const shift = e.kind === "shl" ? m.i32x4.shl : t === "i32" ? m.i32x4.shr_s : m.i32x4.shr_u;
      return { k: "v", ref: shift(this.vec(a, t), b.ref), type: e.type };
    }
    if (simd) return { k: "v", ref: simd(this.vec(a, t), this.vec(b, e.b.type)), type: e.type };
    const scalar = ctx.binaryOp(e.kind, t) ?? refuse(`${e.kind} of ${t}`);
    return this.perLane(
      [
        { v: a, type: t },
        { v: b, type: e.b.type },
      ],
      e.type,
      ([x, y]) => scalar(x, y),
    );
  }

  private unary(e: Extract<Expr, { op: "unary" }>): Val {
    const { m, ctx } = this;
    const t = e.a.type;
    const a = this.val(e.a);
    const v = () => this.vec(a, t);
    switch (e.kind) {
      case "neg":
        return { k: "v", ref: t === "f32" ? m.f32x4.neg(v()) : m.i32x4.neg(v()), type: e.type };
      case "abs":
        return {
          k: "v",
          ref: t === "f32" ? m.f32x4.abs(v()) : t === "u32" ? v() : m.i32x4.abs(v()),
          type: e.type,
        };
      case "floor":
        return { k: "v", ref: m.f32x4.floor(v()), type: e.type };
      case "not":
        return { k: "v", ref: m.v128.not(v()), type: e.type };
      case "clz":
        return this.perLane([{ v: a, type: t }], e.type, ([x]) => ctx.unaryOp("clz", t, x));
    }
  }

  private convert(e: Extract<Expr, { op: "convert" }>): Val {
    const { m } = this;
    const from = e.a.type;
    const x = this.vec(this.val(e.a), from);
    let ref: Ref;
    if (from === "bool") {
      const bit = m.i32x4.shr_u(x, m.i32.const(31));
      ref = e.type === "f32" ? m.f32x4.convert_i32x4_u(bit) : bit;
    } else if (e.type === "f32") {
      ref =
        from === "i32"
          ? m.f32x4.convert_i32x4_s(x)
          : from === "u32"
            ? m.f32x4.convert_i32x4_u(x)
            : x;
    } else if (from === "f32") {
      // the IR's operand is in range, where saturating and trapping truncation agree
      ref = e.type === "i32" ? m.i32x4.trunc_sat_f32x4_s(x) : m.i32x4.trunc_sat_f32x4_u(x);
    } else {
      ref = x;
    }
    return { k: "v", ref, type: e.type };
  }
}

const SHUFFLE_U8 = [0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
const SHUFFLE_U16 = [0, 1, 4, 5, 8, 9, 12, 13, 0, 0, 0, 0, 0, 0, 0, 0];

function join(a: Kind, b: Kind): Kind {
  if (a.k === "u") return b;
  if (b.k === "u") return a;
  if (a.k === "a" && b.k === "a" && sameLanes(a.offsets, b.offsets))
    return {
      k: "a",
      offsets: a.offsets,
      align: gcd(a.align, b.align),
      nonneg: a.nonneg && b.nonneg,
    };
  return VARY;
}

const wasmType = (t: ScalarType) => (t === "f32" ? binaryen.f32 : binaryen.i32);

function i32x4Const(m: Module, lanes: number[]): Ref {
  const bytes = new Uint8Array(new Int32Array(lanes).buffer);
  return m.v128.const(Array.from(bytes));
}

/** the SIMD128 instruction of a lane-wise binary op, when there is one */
export function vectorBinary(m: Module, kind: BinaryOp, t: ScalarType): Bin | undefined {
  if (t === "f32") {
    const f: Partial<Record<BinaryOp, Bin>> = {
      add: m.f32x4.add,
      sub: m.f32x4.sub,
      mul: m.f32x4.mul,
      div: m.f32x4.div,
      eq: m.f32x4.eq,
      ne: m.f32x4.ne,
      lt: m.f32x4.lt,
      le: m.f32x4.le,
      gt: m.f32x4.gt,
      ge: m.f32x4.ge,
    };
    return f[kind];
  }
  const bits: Partial<Record<BinaryOp, Bin>> = { and: m.v128.and, or: m.v128.or, xor: m.v128.xor };
  if (t === "bool") return { ...bits, eq: m.i32x4.eq, ne: m.i32x4.ne }[kind];
  const common: Partial<Record<BinaryOp, Bin>> = {
    ...bits,
    add: m.i32x4.add,
    sub: m.i32x4.sub,
    mul: m.i32x4.mul,
    eq: m.i32x4.eq,
    ne: m.i32x4.ne,
  };
  if (t === "i32")
    return {
      ...common,
      lt: m.i32x4.lt_s,
      le: m.i32x4.le_s,
      gt: m.i32x4.gt_s,
      ge: m.i32x4.ge_s,
      min: m.i32x4.min_s,
      max: m.i32x4.max_s,
    }[kind];
  return {
    ...common,
    lt: m.i32x4.lt_u,
    le: m.i32x4.le_u,
    gt: m.i32x4.gt_u,
    ge: m.i32x4.ge_u,
    min: m.i32x4.min_u,
    max: m.i32x4.max_u,
  }[kind];
}

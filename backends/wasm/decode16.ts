/**
 * The 16-lane decode path: dequantize and dequant-fused GEMV loops, 16 codes
 * per step, inside the WebAssembly backend. A rewrite rule on the lowered
 * kernel (in the spirit of tinygrad's renderers): `decodeLoop` matches a `for`
 * loop, and either emits its vector prefix or refuses, leaving the loop to the
 * generic 4-lane vectorizer (vectorize.ts) and the scalar code.
 *
 * Two loop shapes are taken, both reading codes from a byte buffer, one code
 * per byte or two (packed nibbles, read in place by nibbles.ts wherever the
 * lowering's packedCodeExpr is recognized):
 * - a per-element loop `for t { ...; store }` (dequantize's element loop):
 *   16 iterations per step; dequantize's block loop is first tried as one
 *   such loop over the row's elements (block-elements.ts);
 * - GEMV's lane groups (passes/lower/gemv.ts): a chunk loop whose body is 16
 *   copies of one lane body `let k = base + c; if (k < K) { ...; acc_c = acc_c + p }`;
 *   one step is one chunk, the 16 accumulators are four f32x4 (lanes 0-3, 4-7,
 *   8-11, 12-15), so each lane adds the same products in the same order.
 *
 * Lane l of every vector op is the scalar op of lane (or iteration) l, so the
 * result is bit-exact by construction. Values are classified as
 * - uniform: equal in all 16 lanes (scalar code; a per-block scale is decoded
 *   once per 16 elements: the block index `k / bsize` is uniform because the
 *   step's first index is a multiple of 16, as bsize must be at run time);
 * - index: lane 0's value + l (a contiguous load or store);
 * - bytes: 16 byte-sized values in one v128 (a load of 16 codes, or 16
 *   nibbles split from 8 packed bytes), decoded by the swizzle / arithmetic
 *   decoders of decode-tables.ts, widened otherwise; packed nibbles indexing
 *   an INT4 table take nibble-words.ts's shift decoder instead (from the
 *   codes as words, nibbles.ts), or its top-byte decoder for a table of INT4
 *   times 2^28 (from the codes as tops);
 * - four f32x4 or i32x4 (and their masks).
 * A step whose codes index past a small table runs, with the rest of the loop,
 * as scalar code (nibbles cannot, for a table of 16: no check is emitted).
 * Uniform values keep their rewritten form (a block index `k / 32` becomes
 * `k >> 5` wherever it is nested), so no division is left in a step. Run-time guards (strides of 1, bsize a multiple of 16, no
 * aliasing between a loaded and a stored buffer of one element type) send the
 * whole loop to the generic code when they fail. `test/wasm-decode16.test.ts`
 * holds the cases.
 */
import type { Expr, Kernel, ScalarType, Stmt } from "../../ir/kernel.js";
import { exprVars, walk, walkExprs } from "../../ir/kernel-walk.js";
import {
  binaryen,
  relaxedMadd,
  splatI32 as splat32,
  type ExpressionRef as Ref,
  type Module,
} from "./binaryen.js";
import { laneGroups, vectorBinary, type LaneGroups, type LoopContext } from "./vectorize.js";
import { emitTableDecode, tableDecoder, widenBytes } from "./decode-tables.js";
import { matchPackedCode, packedCodeExpr } from "../../passes/lower/pack.js";
import { nibbleCodes } from "./nibbles.js";
import { emitNibbleDecode, emitTopDecode, nibbleDecoder, topDecodes } from "./nibble-words.js";
import { blockElements, blockElementsPrefix } from "./block-elements.js";

type For = Extract<Stmt, { op: "for" }>;
const LANES = 16;

export class Refuse extends Error {}
export const refuse = (why: string): never => {
  throw new Refuse(why);
};

/** A value of the step: see the file comment. Scalar kinds keep the expression that computes lane 0's value. */
type Val =
  | { readonly k: "u"; readonly e: Expr }
  | { readonly k: "i"; readonly e: Expr; readonly aligned: boolean }
  | {
      readonly k: "b";
      readonly v: number;
      readonly signed: boolean;
      readonly nibbles?: true;
      /** packed nibbles: the same codes as words (nibbles.ts), for the shift decoder */
      readonly words?: () => number;
      /** packed nibbles: the same codes as tops (nibbles.ts), for the top-byte decoder */
      readonly tops?: () => number;
    }
  | { readonly k: "bm"; readonly v: number }
  | { readonly k: "f"; readonly v: readonly number[] }
  | { readonly k: "w"; readonly v: readonly number[]; readonly type: "i32" | "u32" }
  | { readonly k: "m"; readonly v: readonly number[] }
  /** f32 products a * b not made yet (ctx.fuse): an add of one becomes a relaxed madd, any other use makes them */
  | {
      readonly k: "p";
      readonly a: (() => Ref)[];
      readonly b: (() => Ref)[];
      readonly made: { v?: number[] };
    };

/** The vector prefix of loop `s` (the scalar loop then runs from `startLocal`), or undefined. */
export function decodeLoop(
  ctx: LoopContext,
  s: For,
  startLocal: number,
  endLocal: number,
): Ref | undefined {
  // dequantize's block loop as one element loop (block-elements.ts), else the loop itself
  const flat = blockElements(s);
  const blocks =
    flat &&
    attempt(ctx, (c) =>
      blockElementsPrefix(c, flat, startLocal, (k, end) =>
        new Decode16(c, flat.loop, undefined, 1, "", s).emit(k, end),
      ),
    );
  return blocks ?? attempt(ctx, (c) => new Decode16(c, s, lanesOf(s)).emit(startLocal, endLocal));
}

/** `build` on a dry run first, so that a refusal leaves no locals or labels behind */
function attempt(ctx: LoopContext, build: (c: LoopContext) => Ref): Ref | undefined {
  try {
    build(dryRun(ctx));
  } catch (e) {
    if (e instanceof Refuse) return undefined;
    throw e;
  }
  return build(ctx);
}

/** `ctx` with nothing that declares locals or labels: placeholders instead */
export function dryRun(ctx: LoopContext): LoopContext {
  const { m } = ctx;
  return {
    ...ctx,
    ex: (e) => (e.type === "f32" ? m.f32.const(0) : m.i32.const(0)),
    stmts: () => [],
    declare: (name, type) => ctx.lookup(name) ?? { index: 0, type },
    temp: () => 0,
    vectorLocal: () => 0,
    label: () => 0,
  };
}

/** `s` as 16 GEMV lane groups (vectorize.ts's recognizer), or undefined for a per-element loop. */
export function lanesOf(s: For): LaneGroups | undefined {
  const g = laneGroups(s);
  return g?.accs.length === LANES ? g : undefined;
}

export class Decode16 {
  private readonly m: Module;
  private readonly body: readonly Stmt[];
  /** names the loop body declares */
  private readonly own = new Set<string>();
  private readonly vals = new Map<string, Val>();
  /** statements of the step being built */
  private out: Ref[] = [];
  private readonly guards: Ref[] = [];
  /** per step: a code indexes past a small table */
  private readonly checks: Ref[] = [];
  private readonly loaded = new Set<string>();
  private readonly storedTo = new Set<string>();
  private decodes = false;
  /** lets that depend on the row (rows > 1), and the vector loads every row shares */
  private readonly perRow = new Set<string>();
  private readonly sharedLoads = new Map<string, Val>();

  /** the accumulators of each row (GEMV), four f32x4 per row */
  readonly accVecs: number[][] = [];

  /**
   * `rows` > 1 (GEMV lane groups only): each step runs the chunk for rows n, n + 1, ...
   * (`rowVar` set to each in turn; lane lets are recomputed per row, loads whose index does
   * not depend on the row are shared), and the caller initializes and folds `accVecs`.
   */
  constructor(
    private readonly ctx: LoopContext,
    private readonly s: For,
    private readonly lanes: LaneGroups | undefined,
    private readonly rows = 1,
    private readonly rowVar = "",
    /** the statement that holds the loop in the kernel (`s` itself, or the block loop `s` flattens) */
    scope: Stmt = s,
  ) {
    this.m = ctx.m;
    this.body = lanes ? lanes.template : s.body.filter((x) => x.op !== "comment");
    walk(s.body, (x) => {
      if (x.op === "let") this.own.add(x.name);
    });
    this.own.add(s.var);
    if (lanes) this.own.add(lanes.index);
    for (const x of this.body)
      if (x.op !== "let" && x.op !== "store" && x.op !== "assign")
        refuse(`a ${x.op} in the loop body`);
    // lane variables must not be read after the loop (the vector prefix leaves them stale)
    const inLoop = new Set<Stmt>();
    walk([scope], (x) => inLoop.add(x));
    walk(ctx.kernel.body, (x) => {
      if (inLoop.has(x)) return;
      walkExprs([shallow(x)], (e) => {
        for (const v of exprVars(e))
          if (this.own.has(v) && v !== s.var) refuse(`${v} is read after the loop`);
      });
    });
  }

  emit(startLocal: number, endLocal: number): Ref {
    const { m, ctx } = this;
    const i32 = binaryen.i32;
    const get = (l: number) => m.local.get(l, i32);
    const loopVar = ctx.declare(this.s.var, "i32").index;
    const startConst = this.s.start.op === "const" ? (this.s.start.value as number) : -1;
    const exit = `d16_${ctx.label()}`;
    const next = `${exit}.next`;
    const first = ctx.temp("i32");
    // the step's entry checks, built twice: once before the loop and once at its bottom (a
    // do-while loop: its body dominates the exit, so V8 hoists the step's constants out of it)
    let head: () => Ref[];
    if (this.lanes) {
      const l = this.lanes;
      if (startConst < 0) refuse("chunk loop from a variable start");
      const lane = ctx.declare(l.index, "i32");
      this.vals.set(this.s.var, { k: "u", e: var_(this.s.var, "i32") });
      this.vals.set(l.index, {
        k: "i",
        e: var_(l.index, "i32"),
        aligned: isMul16(l.base, this.s.var),
      });
      head = () => [
        m.br(exit, m.i32.ge_s(get(startLocal), get(endLocal))),
        m.local.set(loopVar, get(startLocal)),
        m.local.set(lane.index, ctx.ex(l.base)),
        m.br(
          exit,
          m.i32.eqz(
            m.i32.lt_s(m.i32.add(get(lane.index), m.i32.const(LANES - 1)), ctx.ex(l.limit)),
          ),
        ),
      ];
      for (const a of l.accs) {
        const local = ctx.lookup(a);
        if (!local || local.type !== "f32") refuse(`accumulator ${a}`);
      }
      for (let r = 0; r < this.rows; r++)
        this.accVecs.push([0, 1, 2, 3].map(() => ctx.temp("v128")));
    } else {
      if (this.rows > 1) refuse("rows of a per-element loop");
      // all 16 iterations in range: end - t >= 16
      head = () => [
        m.br(exit, m.i32.ge_s(get(startLocal), get(endLocal))),
        m.br(exit, m.i32.lt_s(m.i32.sub(get(endLocal), get(startLocal)), m.i32.const(LANES))),
        m.local.set(loopVar, get(startLocal)),
      ];
      this.vals.set(this.s.var, { k: "i", e: var_(this.s.var, "i32"), aligned: startConst === 0 });
    }
    this.out = [];
    const effects: Ref[] = [];
    const row = this.rows > 1 ? ctx.lookup(this.rowVar) : undefined;
    if (this.rows > 1 && (!row || row.type !== "i32")) refuse(`row variable ${this.rowVar}`);
    const row0 = ctx.temp("i32");
    if (row) this.out.push(m.local.set(row0, get(row.index)));
    const shared = new Map(this.vals);
    for (let r = 0; r < this.rows; r++) {
      if (row && r > 0) {
        this.out.push(m.local.set(row.index, m.i32.add(get(row0), m.i32.const(r))));
        this.vals.clear();
        for (const [k, v] of shared) this.vals.set(k, v);
      }
      for (const x of this.body) {
        if (x.op === "let") this.let(x);
        else if (x.op === "store") effects.push(...this.store(x));
        else if (x.op === "assign") effects.push(...this.accumulate(x, this.accVecs[r] ?? []));
      }
    }
    if (row) this.out.push(m.local.set(row.index, get(row0)));
    if (!this.decodes) refuse("no codes are loaded 16 at a time");
    for (const b of this.storedTo) if (this.loaded.has(b)) refuse(`${b} is loaded and stored`);
    for (const b of this.storedTo)
      for (const l of this.loaded) {
        const [pb, pl] = [ctx.buffer(b)!, ctx.buffer(l)!];
        if (pb.elem === pl.elem)
          this.guards.push(m.i32.ne(m.local.get(pb.param, i32), m.local.get(pl.param, i32)));
      }
    const step = [...this.out];
    if (this.checks.length)
      step.push(
        m.br(
          exit,
          this.checks.reduce((a, b) => m.i32.or(a, b)),
        ),
      );
    step.push(
      ...effects,
      m.local.set(startLocal, m.i32.add(get(startLocal), m.i32.const(this.lanes ? 1 : LANES))),
      ...head(),
      m.br(next),
    );
    const f32 = binaryen.f32;
    const accs = this.lanes?.accs.map((a) => ctx.lookup(a)!.index) ?? [];
    const accVecs = this.rows === 1 ? (this.accVecs[0] ?? []) : [];
    const init = accVecs.map((vec, q) =>
      m.local.set(
        vec,
        [1, 2, 3].reduce(
          (v, j) => m.f32x4.replace_lane(v, j as unknown as Ref, m.local.get(accs[4 * q + j], f32)),
          m.f32x4.splat(m.local.get(accs[4 * q], f32)),
        ),
      ),
    );
    const fold = accVecs.flatMap((vec, q) =>
      [0, 1, 2, 3].map((j) =>
        m.local.set(
          accs[4 * q + j],
          m.f32x4.extract_lane(m.local.get(vec, binaryen.v128), j as unknown as Ref),
        ),
      ),
    );
    const prefix = m.block(null, [
      ...init,
      m.local.set(first, get(startLocal)),
      m.block(exit, [...head(), m.loop(next, m.block(null, step))]),
      ...fold,
      // as after the scalar loop: the loop variable holds the last iteration's value
      m.if(
        m.i32.ne(get(startLocal), get(first)),
        m.local.set(loopVar, m.i32.sub(get(startLocal), m.i32.const(1))),
      ),
    ]);
    return this.guards.length
      ? m.if(
          this.guards.reduce((a, b) => m.i32.and(a, b)),
          prefix,
        )
      : prefix;
  }

  // ---- statements -----------------------------------------------------------

  private let(x: Extract<Stmt, { op: "let" }>): void {
    if (this.vals.has(x.name)) refuse(`${x.name} is declared twice`);
    if (this.rowDependent(x.value)) this.perRow.add(x.name);
    const v = this.val(x.value);
    if (v.k === "u" || v.k === "i") {
      const local = this.ctx.declare(x.name, x.type);
      this.out.push(this.m.local.set(local.index, this.ctx.ex(v.e)));
      const e = var_(x.name, x.type);
      this.vals.set(x.name, v.k === "i" ? { k: "i", e, aligned: v.aligned } : { k: "u", e });
    } else this.vals.set(x.name, v);
  }

  private store(x: Extract<Stmt, { op: "store" }>): Ref[] {
    if (this.lanes) refuse("a store in a lane body");
    const { m } = this;
    const b = this.ctx.buffer(x.buffer) ?? refuse(`no buffer ${x.buffer}`);
    const idx = this.val(x.index);
    if (idx.k !== "i") return refuse(`the store to ${x.buffer} is not contiguous`);
    this.storedTo.add(x.buffer);
    const v = this.val(x.value);
    const lane0 = this.ctx.temp("i32");
    this.out.push(m.local.set(lane0, this.ctx.ex(idx.e)));
    if (b.elem === "f32" && v.k === "f")
      return v.v.map((r, q) =>
        m.v128.store(16 * q, 1, this.addressAt(b.param, 2, lane0), this.get(r)),
      );
    if ((b.elem === "u8" || b.elem === "i8") && v.k === "b")
      return [m.v128.store(0, 1, this.addressAt(b.param, 0, lane0), this.get(v.v))];
    return refuse(`a ${v.k} value stored to ${b.elem} buffer ${x.buffer}`);
  }

  private accumulate(x: Extract<Stmt, { op: "assign" }>, accVecs: number[]): Ref[] {
    const { m } = this;
    const acc = this.lanes?.accs[0];
    if (x.name !== acc || x.value.op !== "binary" || x.value.kind !== "add")
      return refuse(`assignment to ${x.name}`);
    const { a, b } = x.value;
    const isAcc = (e: Expr) => e.op === "var" && e.name === acc;
    if (isAcc(a) === isAcc(b)) refuse("the accumulator update is not acc + p");
    const p = this.val(isAcc(a) ? b : a);
    if (p.k === "p")
      return accVecs.map((vec, q) =>
        m.local.set(vec, relaxedMadd(m, p.a[q](), p.b[q](), this.get(vec))),
      );
    if (p.k !== "f") return refuse("the accumulated value is not a vector of f32");
    return accVecs.map((vec, q) =>
      m.local.set(
        vec,
        isAcc(a)
          ? m.f32x4.add(this.get(vec), this.get(p.v[q]))
          : m.f32x4.add(this.get(p.v[q]), this.get(vec)),
      ),
    );
  }

  // ---- values ---------------------------------------------------------------

  private get(l: number): Ref {
    return this.m.local.get(l, binaryen.v128);
  }

  private keep(r: Ref): number {
    const l = this.ctx.temp("v128");
    this.out.push(this.m.local.set(l, r));
    return l;
  }

  private val(e: Expr): Val {
    switch (e.op) {
      case "const":
        return { k: "u", e };
      case "var": {
        const v = this.vals.get(e.name);
        if (v) return v;
        if (this.own.has(e.name) || this.lanes?.accs.includes(e.name))
          return refuse(`${e.name} is read before its let`);
        if (!this.ctx.lookup(e.name)) return refuse(`no variable ${e.name}`);
        return { k: "u", e };
      }
      case "load":
        return this.load(e);
      case "table":
        return this.table(e);
      case "binary":
        return this.packed(e) ?? this.binary(e);
      case "unary":
        return this.unary(e);
      case "select": {
        const [c, a, b] = [this.val(e.cond), this.val(e.a), this.val(e.b)];
        if (c.k === "u" && a.k === "u" && b.k === "u")
          return { k: "u", e: { ...e, cond: c.e, a: a.e, b: b.e } };
        const { m } = this;
        if (c.k === "bm" && a.k === "b" && b.k === "b")
          return {
            k: "b",
            v: this.keep(m.v128.bitselect(this.get(a.v), this.get(b.v), this.get(c.v))),
            signed: a.signed,
          };
        if (c.k !== "m") return refuse("a select on a uniform or byte condition");
        const [va, vb] = [this.wide(a, e.type), this.wide(b, e.type)];
        const v = [0, 1, 2, 3].map((q) =>
          this.keep(m.v128.bitselect(va[q](), vb[q](), this.get(c.v[q]))),
        );
        return e.type === "f32" ? { k: "f", v } : { k: "w", v, type: intType(e.type) };
      }
      case "bitcast": {
        const a = this.val(e.a);
        if (a.k === "u") return { k: "u", e: { ...e, a: a.e } };
        if (a.k === "b") return refuse("a bitcast of bytes");
        if (a.k === "f" || a.k === "w")
          return e.type === "f32" ? { k: "f", v: a.v } : { k: "w", v: a.v, type: intType(e.type) };
        return refuse(`a bitcast of ${a.k}`);
      }
      case "convert": {
        const a = this.val(e.a);
        if (a.k === "u") return { k: "u", e: { ...e, a: a.e } };
        const { m } = this;
        if (e.type === "f32") {
          if (a.k === "f") return a;
          const w = a.k === "b" ? this.widen(a) : a;
          if (w.k !== "w") return refuse(`a convert of ${w.k} to f32`);
          return {
            k: "f",
            v: w.v.map((r) =>
              this.keep(
                w.type === "i32"
                  ? m.f32x4.convert_i32x4_s(this.get(r))
                  : m.f32x4.convert_i32x4_u(this.get(r)),
              ),
            ),
          };
        }
        if (e.a.type === "f32") return refuse("a float to integer conversion");
        if (a.k === "b") return this.widen(a, intType(e.type));
        if (a.k === "w") return { k: "w", v: a.v, type: intType(e.type) };
        if (a.k === "m")
          return {
            k: "w",
            v: a.v.map((r) => this.keep(m.v128.and(this.get(r), splat32(m, 1)))),
            type: intType(e.type),
          };
        return refuse(`a convert of ${a.k}`);
      }
      case "random":
        return refuse("random bits");
    }
  }

  /** does `e` read the row variable, or a let computed from it? */
  private rowDependent(e: Expr): boolean {
    return [...exprVars(e)].some((v) => v === this.rowVar || this.perRow.has(v));
  }

  private load(e: Extract<Expr, { op: "load" }>): Val {
    const key = JSON.stringify(e);
    const seen = this.rowDependent(e) ? undefined : this.sharedLoads.get(key);
    if (seen) return seen;
    const v = this.loadOnce(e);
    if (v.k !== "u" && !this.rowDependent(e)) this.sharedLoads.set(key, v);
    return v;
  }

  private loadOnce(e: Extract<Expr, { op: "load" }>): Val {
    const idx = this.val(e.index);
    this.loaded.add(e.buffer);
    if (idx.k === "u") return { k: "u", e: { ...e, index: idx.e } };
    const { m } = this;
    const b = this.ctx.buffer(e.buffer) ?? refuse(`no buffer ${e.buffer}`);
    if (idx.k !== "i") return refuse(`a gather from ${e.buffer}`);
    // lane 0's index once: up to four loads at 16-byte steps
    const lane0 = this.ctx.temp("i32");
    this.out.push(m.local.set(lane0, this.ctx.ex(idx.e)));
    const load = (shift: number, q: number) =>
      this.keep(m.v128.load(16 * q, 1, this.addressAt(b.param, shift, lane0)));
    switch (b.elem) {
      case "u8":
      case "i8":
        this.decodes = true;
        return { k: "b", v: load(0, 0), signed: b.elem === "i8" };
      case "f32":
        return { k: "f", v: [0, 1, 2, 3].map((q) => load(2, q)) };
      case "u32":
        return { k: "w", v: [0, 1, 2, 3].map((q) => load(2, q)), type: "u32" };
      case "u16": {
        const halves = [0, 1].map((q) => load(1, q));
        return {
          k: "w",
          v: halves.flatMap((h) => [
            this.keep(m.i32x4.extend_low_i16x8_u(this.get(h))),
            this.keep(m.i32x4.extend_high_i16x8_u(this.get(h))),
          ]),
          type: "u32",
        };
      }
    }
  }

  /** 16 codes read straight from packed nibbles (passes/lower/pack.ts's packedCodeExpr), else undefined */
  private packed(e: Expr): Val | undefined {
    const p = matchPackedCode(e);
    if (p?.layout.kind !== "nibbles") return undefined;
    const idx = this.val(p.at);
    if (idx.k === "u") return { k: "u", e: packedCodeExpr(p.layout, p.buffer, idx.e) };
    if (idx.k !== "i") return refuse(`packed codes at a ${idx.k} index`);
    const b = this.ctx.buffer(p.buffer) ?? refuse(`no buffer ${p.buffer}`);
    if (b.elem !== "u8") refuse(`packed codes in a ${b.elem} buffer`);
    this.loaded.add(p.buffer);
    this.decodes = true;
    const lane0 = this.ctx.temp("i32");
    this.out.push(this.m.local.set(lane0, this.ctx.ex(idx.e)));
    const temp = () => this.ctx.temp("v128");
    const c = nibbleCodes(this.m, b.param, lane0, p.layout.order, temp, this.out);
    // the bytes are made only when read (a getter): a decoder of other forms never reads them
    return {
      k: "b",
      get v() {
        return c.bytes();
      },
      signed: false,
      nibbles: true,
      words: c.words,
      tops: c.tops,
    };
  }

  /** buffer `param` + (lane0 << shift); callers add constant byte offsets as the access's offset immediate */
  private addressAt(param: number, shift: number, lane0: number): Ref {
    const { m } = this;
    const at = m.local.get(lane0, binaryen.i32);
    return m.i32.add(
      m.local.get(param, binaryen.i32),
      shift ? m.i32.shl(at, m.i32.const(shift)) : at,
    );
  }

  private table(e: Extract<Expr, { op: "table" }>): Val {
    const idx = this.val(e.index);
    if (idx.k === "u") return { k: "u", e: { ...e, index: idx.e } };
    const t = this.ctx.table(e.table) ?? refuse(`no table ${e.table}`);
    if (idx.k !== "b" || idx.signed) return refuse(`table ${e.table} indexed by ${idx.k}`);
    // packed INT4: the shift decoder on the words (one code per byte keeps the swizzle, as
    // fast there: the transpose to words costs what the shifts save)
    const shifts = idx.words && nibbleDecoder(t.table);
    if (idx.tops && shifts && topDecodes(shifts))
      return {
        k: "f",
        v: emitTopDecode(this.m, idx.tops(), () => this.ctx.temp("v128"), this.out),
      };
    if (idx.words && shifts)
      return {
        k: "f",
        v: emitNibbleDecode(this.m, shifts, idx.words(), () => this.ctx.temp("v128"), this.out),
      };
    const d = tableDecoder(t.table) ?? refuse(`no 16-lane decoder for table ${e.table}`);
    const { m } = this;
    if (d.kind === "swizzle") {
      // nibbles never index past a table of 16
      const bad =
        idx.nibbles && d.length === 16
          ? undefined
          : d.length === 16
            ? m.v128.and(this.get(idx.v), m.v128.const(new Array<number>(16).fill(0xf0)))
            : m.i8x16.gt_u(this.get(idx.v), m.i8x16.splat(m.i32.const(d.length - 1)));
      if (bad) this.checks.push(m.v128.any_true(bad));
    } else if (t.table.values.length !== 256) refuse(`table ${e.table}`);
    const v = emitTableDecode(m, d, idx.v, () => this.ctx.temp("v128"), this.out);
    return t.table.type === "f32" ? { k: "f", v } : { k: "w", v, type: "u32" };
  }

  /** bytes as four i32x4 */
  private widen(
    b: Extract<Val, { k: "b" }>,
    type: "i32" | "u32" = b.signed ? "i32" : "u32",
  ): Extract<Val, { k: "w" }> {
    return {
      k: "w",
      v: widenBytes(this.m, b.v, b.signed, () => this.ctx.temp("v128"), this.out),
      type,
    };
  }

  /** four vectors of `v` (splat when uniform) as thunks */
  private wide(v: Val, type: ScalarType): (() => Ref)[] {
    const { m } = this;
    if (v.k === "u") {
      const l = this.keep(
        type === "f32" ? m.f32x4.splat(this.ctx.ex(v.e)) : m.i32x4.splat(this.ctx.ex(v.e)),
      );
      return [0, 1, 2, 3].map(() => () => this.get(l));
    }
    const w = v.k === "b" ? this.widen(v) : v.k === "p" ? this.product(v) : v;
    if (w.k !== "f" && w.k !== "w" && w.k !== "m") return refuse(`a ${w.k} operand`);
    return w.v.map((r) => () => this.get(r));
  }

  private binary(e: Extract<Expr, { op: "binary" }>): Val {
    const [a, b] = [this.val(e.a), this.val(e.b)];
    if (a.k === "u" && b.k === "u") return { k: "u", e: { ...e, a: a.e, b: b.e } };
    const { m } = this;
    const kind = e.kind;
    // index arithmetic
    if (a.k === "i" || b.k === "i") {
      // lane 0's value, with the uniform operands as rewritten (block indices)
      const lane0: Expr | undefined = "e" in a && "e" in b ? { ...e, a: a.e, b: b.e } : undefined;
      if (a.k === "i" && b.k === "u" && (kind === "add" || kind === "sub"))
        return { k: "i", e: lane0!, aligned: false };
      if (a.k === "u" && b.k === "i" && kind === "add")
        return { k: "i", e: lane0!, aligned: false };
      if (kind === "mul" && (a.k === "i" ? b : a).k === "u") {
        const i = (a.k === "i" ? a : b) as Extract<Val, { k: "i" }>;
        this.guardOne(a.k === "i" ? e.b : e.a);
        return { k: "i", e: lane0!, aligned: i.aligned };
      }
      if (a.k === "i" && a.aligned && b.k === "u") {
        if (kind === "div") return { k: "u", e: this.blockIndex(a.e, b.e) };
        if (
          kind === "and" &&
          e.b.op === "const" &&
          (e.b.value as number) >= 0 &&
          (e.b.value as number) < 16
        ) {
          const c = e.b.value as number;
          return {
            k: "b",
            v: this.keep(m.v128.const(Array.from({ length: 16 }, (_, l) => l & c))),
            signed: false,
          };
        }
      }
      return refuse(`${kind} of an index`);
    }
    // byte lanes: a few ops stay on bytes, the rest widen
    if (a.k === "b" && b.k === "u" && b.e.op === "const" && e.type === "u32" && !a.signed) {
      const c = b.e.value as number;
      const bytes = (r: Ref): Val => ({ k: "b", v: this.keep(r), signed: false });
      if (kind === "and")
        return bytes(m.v128.and(this.get(a.v), m.i8x16.splat(m.i32.const(c & 0xff))));
      if ((kind === "or" || kind === "xor") && c < 256)
        return bytes(
          (kind === "or" ? m.v128.or : m.v128.xor)(this.get(a.v), m.i8x16.splat(m.i32.const(c))),
        );
      if (kind === "shr" && c < 8) return bytes(m.i8x16.shr_u(this.get(a.v), m.i32.const(c)));
    }
    if (
      a.k === "b" &&
      b.k === "u" &&
      b.e.op === "const" &&
      (kind === "eq" || kind === "ne") &&
      !a.signed
    ) {
      const c = b.e.value as number;
      if (c >= 0 && c < 256) {
        const eq = m.i8x16.eq(this.get(a.v), m.i8x16.splat(m.i32.const(c)));
        return { k: "bm", v: this.keep(kind === "eq" ? eq : m.v128.not(eq)) };
      }
    }
    if (a.k === "bm" && b.k === "bm" && (kind === "and" || kind === "or" || kind === "xor"))
      return { k: "bm", v: this.keep(BITWISE(m)[kind](this.get(a.v), this.get(b.v))) };
    // four 32-bit vectors; shift counts are uniform (wasm takes them mod 32, as the scalar ops do)
    const t = e.a.type;
    if (kind === "shl" || kind === "shr") {
      if (b.k !== "u") return refuse("a shift by a varying count");
      const shift = kind === "shl" ? m.i32x4.shl : t === "i32" ? m.i32x4.shr_s : m.i32x4.shr_u;
      const v = this.wide(a, t).map((x) => this.keep(shift(x(), this.ctx.ex(e.b))));
      return { k: "w", v, type: intType(e.type) };
    }
    // a kernel that allows contraction, with relaxed SIMD: a product is kept apart until an add
    // reads it, which becomes one relaxed madd (fused or not as the machine does it)
    if (this.ctx.fuse && t === "f32" && kind === "mul")
      return { k: "p", a: this.wide(a, t), b: this.wide(b, t), made: {} };
    if (this.ctx.fuse && t === "f32" && kind === "add" && (a.k === "p" || b.k === "p")) {
      const [p, other] = (b.k === "p" ? [b, a] : [a, b]) as [Extract<Val, { k: "p" }>, Val];
      const c = this.wide(other, t);
      return {
        k: "f",
        v: [0, 1, 2, 3].map((q) => this.keep(relaxedMadd(m, p.a[q](), p.b[q](), c[q]()))),
      };
    }
    const op = vectorBinary(m, kind, t) ?? refuse(`${kind} of ${t} lanes`);
    const [va, vb] = [this.wide(a, t), this.wide(b, t)];
    const v = [0, 1, 2, 3].map((q) => this.keep(op(va[q](), vb[q]())));
    if (e.type === "bool") return { k: "m", v };
    return e.type === "f32" ? { k: "f", v } : { k: "w", v, type: intType(e.type) };
  }

  /** deferred products, made (once) where something other than an add reads them */
  private product(p: Extract<Val, { k: "p" }>): Extract<Val, { k: "f" }> {
    const { m } = this;
    p.made.v ??= [0, 1, 2, 3].map((q) => this.keep(m.f32x4.mul(p.a[q](), p.b[q]())));
    return { k: "f", v: p.made.v };
  }

  private unary(e: Extract<Expr, { op: "unary" }>): Val {
    const a = this.val(e.a);
    if (a.k === "u") return { k: "u", e: { ...e, a: a.e } };
    const { m } = this;
    const t = e.a.type;
    const op =
      t === "f32"
        ? { neg: m.f32x4.neg, abs: m.f32x4.abs, floor: m.f32x4.floor }[e.kind as "neg"]
        : t === "bool"
          ? e.kind === "not"
            ? m.v128.not
            : undefined
          : { neg: m.i32x4.neg, not: m.v128.not, abs: t === "i32" ? m.i32x4.abs : undefined }[
              e.kind as "neg"
            ];
    if (!op) return refuse(`${e.kind} of ${t} lanes`);
    if (a.k === "bm" && e.kind === "not")
      return { k: "bm", v: this.keep(m.v128.not(this.get(a.v))) };
    const v = this.wide(a, t).map((x) => this.keep(op(x())));
    return t === "f32"
      ? { k: "f", v }
      : t === "bool"
        ? { k: "m", v }
        : { k: "w", v, type: intType(t) };
  }

  // ---- run-time guards --------------------------------------------------------

  /** `x` is loop-invariant: a constant or a variable declared outside the loop */
  private invariant(x: Expr): boolean {
    return (
      x.op === "const" ||
      (x.op === "var" && !this.own.has(x.name) && !this.lanes?.accs.includes(x.name))
    );
  }

  /** index * x is contiguous when x == 1 */
  private guardOne(x: Expr): void {
    if (isConst(x, 1)) return;
    if (!this.invariant(x) || x.type !== "i32") refuse("a stride that is not loop-invariant");
    this.guards.push(this.m.i32.eq(this.ctx.ex(x), this.m.i32.const(1)));
  }

  /**
   * `k / x` (k lane 0's index, a non-negative multiple of 16) is uniform over the 16 lanes
   * when x is a positive multiple of 16: a constant (or a let of one), else a run-time guard.
   * A power of two divides by a shift (the operands are non-negative).
   */
  private blockIndex(k: Expr, x: Expr): Expr {
    if (!this.invariant(x) || x.type !== "i32") refuse("a divisor that is not loop-invariant");
    const c =
      x.op === "const" ? (x.value as number) : this.constants().get((x as { name: string }).name);
    if (c !== undefined) {
      if (!(c > 0 && c % LANES === 0)) refuse(`blocks of ${c}`);
      const log = Math.log2(c);
      return Number.isInteger(log)
        ? {
            op: "binary",
            kind: "shr",
            a: k,
            b: { op: "const", type: "i32", value: log },
            type: "i32",
          }
        : {
            op: "binary",
            kind: "div",
            a: k,
            b: { op: "const", type: "i32", value: c },
            type: "i32",
          };
    }
    const { m } = this;
    this.guards.push(
      m.i32.and(
        m.i32.gt_s(this.ctx.ex(x), m.i32.const(0)),
        m.i32.eqz(m.i32.and(this.ctx.ex(x), m.i32.const(LANES - 1))),
      ),
    );
    return { op: "binary", kind: "div", a: k, b: x, type: "i32" };
  }

  /** variables set once in the kernel, by a let of an i32 constant */
  private constants(): Map<string, number> {
    const lets = new Map<string, number | undefined>();
    walk(this.ctx.kernel.body, (x) => {
      if (x.op === "let" || x.op === "assign")
        lets.set(
          x.name,
          x.op === "let" && !lets.has(x.name) && x.value.op === "const" && x.value.type === "i32"
            ? (x.value.value as number)
            : undefined,
        );
    });
    for (const p of this.ctx.kernel.params) lets.set(p.name, undefined);
    return new Map([...lets].filter((e): e is [string, number] => e[1] !== undefined));
  }
}

const var_ = (name: string, type: ScalarType): Expr => ({ op: "var", name, type });
const isConst = (e: Expr, v: number) => e.op === "const" && e.value === v;
const intType = (t: ScalarType): "i32" | "u32" => (t === "i32" ? "i32" : "u32");

/** base is `v * c` with c a multiple of 16 (and v a loop counter from a non-negative start) */
function isMul16(base: Expr, v: string): boolean {
  return (
    base.op === "binary" &&
    base.kind === "mul" &&
    base.a.op === "var" &&
    base.a.name === v &&
    base.b.op === "const" &&
    (base.b.value as number) % LANES === 0
  );
}

/** `s` without the statements nested in it */
const shallow = (s: Stmt): Stmt =>
  s.op === "for" ? { ...s, body: [] } : s.op === "if" ? { ...s, then: [], else: [] } : s;

const BITWISE = (m: Module) => ({ and: m.v128.and, or: m.v128.or, xor: m.v128.xor });

export type { Kernel };

/**
 * Block geometry in KernelIR: the loops over blocks of a scheme's BlockShape,
 * numbered like ir/interpret/blocks.ts, with each element's flat offset.
 */
import { K, type Expr, type ScalarParam } from "../../ir/kernel.js";
import type { BlockShape } from "../../ir/scheme.js";
import { Block, E } from "./builder.js";

const i = K.i32;

export interface BlockRef {
  /** block number in the scale tensor */
  index: Expr;
  /** elements in this block (short at ragged edges) */
  len: Expr;
  /** flat offset of the block's element t (row-major inside the block) */
  offset(b: Block, t: Expr): Expr;
  /**
   * Blocks along an axis: the block's row `o` and column `j` in the
   * [outer, cols] scale matrix of a tensor with inner == 1 (a 2-D tensor
   * blocked along its last axis), so that a placement needs no division.
   */
  grid?: { row: Expr; col: Expr; cols: Expr };
}

export interface Geometry {
  readonly params: readonly ScalarParam[];
  total(b: Block): Expr;
  loop(top: Block, body: (b: Block, blk: BlockRef) => void): void;
}

const scalar = (name: string): ScalarParam => ({ kind: "scalar", name, type: "i32" });
const v = (name: string) => K.v(name, "i32");
const ceilDiv = (a: Expr, b: Expr) => E.div(E.sub(E.add(a, b), i(1)), b);

/** The i32 scalars a kernel needs for a tensor shape: outer/n/inner (axis blocks) or outer/R/C (tiles). */
export function geometryScalars(
  block: BlockShape,
  shape: readonly number[],
): Record<string, number> {
  const dims = shape.length === 0 ? [1] : [...shape];
  const prod = (xs: number[]) => xs.reduce((a, b) => a * b, 1);
  if (block.kind === "tile") {
    const d = dims.length === 1 ? [1, dims[0]] : dims;
    return { outer: prod(d.slice(0, -2)), R: d[d.length - 2], C: d[d.length - 1] };
  }
  const axis = block.axis < 0 ? dims.length + block.axis : block.axis;
  return { outer: prod(dims.slice(0, axis)), n: dims[axis], inner: prod(dims.slice(axis + 1)) };
}

export function geometry(block: BlockShape): Geometry {
  if (block.kind === "tile") {
    const { rows, cols } = block;
    return {
      params: [scalar("outer"), scalar("R"), scalar("C")],
      total: (b) => b.let("total", E.mul(E.mul(v("outer"), v("R")), v("C"))),
      loop(top, body) {
        const gr = top.let("gr", ceilDiv(v("R"), i(rows)));
        const gc = top.let("gc", ceilDiv(v("C"), i(cols)));
        const b = new Block("b");
        const index = b.let("blk", E.add(E.mul(E.add(E.mul(v("o"), gr), v("bi")), gc), v("bj")));
        const h = b.let("h", E.min(i(rows), E.sub(v("R"), E.mul(v("bi"), i(rows)))));
        const w = b.let("w", E.min(i(cols), E.sub(v("C"), E.mul(v("bj"), i(cols)))));
        const len = b.let("len", E.mul(h, w));
        const r0 = b.let("r0", E.add(E.mul(v("o"), v("R")), E.mul(v("bi"), i(rows))));
        const c0 = b.let("c0", E.mul(v("bj"), i(cols)));
        body(b, {
          index,
          len,
          offset: (eb, t) =>
            eb.let(
              "off",
              E.add(
                E.mul(E.add(r0, E.div(t, w)), v("C")),
                E.add(c0, E.sub(t, E.mul(E.div(t, w), w))),
              ),
            ),
        });
        top.push(
          K.for("o", i(0), v("outer"), [K.for("bi", i(0), gr, [K.for("bj", i(0), gc, b.stmts)])]),
        );
      },
    };
  }
  const size = block.size;
  return {
    params: [scalar("outer"), scalar("n"), scalar("inner")],
    total: (b) => b.let("total", E.mul(E.mul(v("outer"), v("n")), v("inner"))),
    loop(top, body) {
      const bsize = top.let("bsize", size === "all" ? E.max(v("n"), i(1)) : i(size));
      const nb = top.let("nb", ceilDiv(v("n"), bsize));
      const b = new Block("b");
      const index = b.let(
        "blk",
        E.add(E.mul(E.add(E.mul(v("o"), nb), v("j")), v("inner")), v("ii")),
      );
      const len = b.let("len", E.min(bsize, E.sub(v("n"), E.mul(v("j"), bsize))));
      const base = b.let(
        "base",
        E.add(E.mul(E.add(E.mul(v("o"), v("n")), E.mul(v("j"), bsize)), v("inner")), v("ii")),
      );
      body(b, {
        index,
        len,
        offset: (eb, t) => eb.let("off", E.add(base, E.mul(t, v("inner")))),
        grid: { row: v("o"), col: v("j"), cols: nb },
      });
      top.push(
        K.for("o", i(0), v("outer"), [
          K.for("j", i(0), nb, [K.for("ii", i(0), v("inner"), b.stmts)]),
        ]),
      );
    },
  };
}

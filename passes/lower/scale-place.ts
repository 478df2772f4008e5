/**
 * Scale placement in KernelIR: the buffer index of block scale (r, c) of a
 * [rows, cols] scale matrix, and the kernel that fills the padding of the
 * NVIDIA 128x4 layout (ir/layout/swizzle.ts is the reference).
 */
import { K, type Expr, type Kernel } from "../../ir/kernel.js";
import type { ScaleLayout } from "../../ir/program.js";
import type { BlockShape } from "../../ir/scheme.js";
import { Block, E } from "./builder.js";
import type { BlockRef } from "./geometry.js";

const i = K.i32;

/** Index of scale (r, c) in a scale matrix with `cols` columns (i32, all arguments >= 0). */
export function scaleIndex(layout: ScaleLayout, r: Expr, c: Expr, cols: Expr): Expr {
  if (layout === "plain") return E.add(E.mul(r, cols), c);
  // 128x4 tiles of 512 bytes, tile-row-major; in a tile, row r at (r % 32) * 16 + (r % 128 / 32) * 4
  const tilesPerRow = E.shr(E.add(cols, i(3)), i(2));
  const tile = E.add(E.mul(E.shr(r, i(7)), tilesPerRow), E.shr(c, i(2)));
  const inTile = E.add(
    E.add(E.shl(E.and(r, i(31)), i(4)), E.shl(E.and(E.shr(r, i(5)), i(3)), i(2))),
    E.and(c, i(3)),
  );
  return E.add(E.shl(tile, i(9)), inTile);
}

/** Scale columns of a row of `n` elements in blocks of `size` (i32). */
export function scaleCols(block: BlockShape & { kind: "axis" }, n: Expr): Expr {
  if (block.size === "all") return i(1);
  return E.div(E.add(n, i(block.size - 1)), i(block.size));
}

/**
 * Writes 0 to every padding byte of the 128x4 layout of the scales of an
 * [outer, n] tensor (its geometry scalars): row r < R pads columns C..C_pad,
 * rows R..R_pad pad all columns. Real scales are never touched, so this
 * kernel and quantize may run in either order.
 */
export function scalePadKernel(name: string, block: BlockShape): Kernel {
  if (block.kind !== "axis") throw new Error("qkc bug: 128x4 scales of 2-D tiles");
  Block.resetNames();
  const top = new Block();
  top.comment("the padding of the NVIDIA 128x4 scale layout: 0 bytes");
  const rows = K.v("outer", "i32");
  const cols = top.let("cols", scaleCols(block, K.v("n", "i32")));
  const rowsPad = top.let("rpad", E.shl(E.shr(E.add(rows, i(127)), i(7)), i(7)));
  const colsPad = top.let("cpad", E.shl(E.shr(E.add(cols, i(3)), i(2)), i(2)));
  const r = K.v("r", "i32");
  const row = new Block("p");
  const from = row.let("c0", E.select(E.lt(r, rows), cols, i(0)));
  row.push(
    K.for("c", from, colsPad, [
      K.store("scales", scaleIndex("nvidia_128x4", r, K.v("c", "i32"), cols), K.u32(0)),
    ]),
  );
  top.push(K.for("r", i(0), rowsPad, row.stmts));
  return {
    name,
    params: [
      { kind: "buffer", name: "scales", elem: "u8", access: "write" },
      { kind: "scalar", name: "outer", type: "i32" },
      { kind: "scalar", name: "n", type: "i32" },
    ],
    tables: [],
    body: top.stmts,
  };
}

/** Where block `blk` keeps its scale: its number (plain), or its (row, column) placed by `layout`. */
export function blockScaleAt(layout: ScaleLayout, blk: BlockRef): Expr {
  if (layout === "plain") return blk.index;
  if (!blk.grid) throw new Error(`qkc bug: ${layout} scales of 2-D tiles`);
  return scaleIndex(layout, blk.grid.row, blk.grid.col, blk.grid.cols);
}

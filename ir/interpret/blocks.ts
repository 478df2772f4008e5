/** Which elements form each block: the geometry of a BlockShape over a tensor shape. */
import type { BlockShape } from "../scheme.js";

export interface BlockGrid {
  /** number of blocks along each tensor axis; scale tensors have this shape */
  readonly gridShape: readonly number[];
  readonly count: number;
  /** the largest number of elements in a block */
  readonly maxBlockSize: number;
  /** writes the flat offsets of block `b` (row-major order inside the block) into `out`; returns the count */
  offsets(b: number, out: Int32Array): number;
}

const ceilDiv = (a: number, b: number) => Math.ceil(a / b);
const product = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

export function blockGrid(shape: readonly number[], block: BlockShape): BlockGrid {
  if (product(shape) >= 2 ** 31)
    throw new RangeError(`tensors of 2^31 elements or more are not supported`);
  const dims = shape.length === 0 ? [1] : [...shape];
  return block.kind === "axis"
    ? axisGrid(dims, block.axis, block.size)
    : tileGrid(dims, block.rows, block.cols);
}

function axisGrid(dims: number[], axisIn: number, size: number | "all"): BlockGrid {
  const axis = axisIn < 0 ? dims.length + axisIn : axisIn;
  if (axis < 0 || axis >= dims.length)
    throw new RangeError(
      `block axis ${axisIn} is out of range for a tensor of rank ${dims.length}`,
    );
  const n = dims[axis];
  const inner = product(dims.slice(axis + 1));
  const bsize = size === "all" ? Math.max(n, 1) : size;
  const nb = ceilDiv(n, bsize);
  const gridShape = dims.map((d, i) => (i === axis ? nb : d));
  return {
    gridShape,
    count: product(gridShape),
    maxBlockSize: Math.min(bsize, n),
    offsets(b, out) {
      const o = Math.floor(b / (nb * inner));
      const rem = b - o * nb * inner;
      const j = Math.floor(rem / inner);
      const i = rem - j * inner;
      const len = Math.min(bsize, n - j * bsize);
      let off = (o * n + j * bsize) * inner + i;
      for (let t = 0; t < len; t++, off += inner) out[t] = off;
      return len;
    },
  };
}

function tileGrid(dimsIn: number[], rows: number, cols: number): BlockGrid {
  const dims = dimsIn.length === 1 ? [1, dimsIn[0]] : dimsIn;
  const R = dims[dims.length - 2];
  const C = dims[dims.length - 1];
  const gr = ceilDiv(R, rows);
  const gc = ceilDiv(C, cols);
  const gridShape = [...dims.slice(0, -2), gr, gc];
  return {
    gridShape: dimsIn.length === 1 ? [gc] : gridShape,
    count: product(gridShape),
    maxBlockSize: Math.min(rows, R) * Math.min(cols, C),
    offsets(b, out) {
      const o = Math.floor(b / (gr * gc));
      const rem = b - o * gr * gc;
      const bi = Math.floor(rem / gc);
      const bj = rem - bi * gc;
      const r1 = Math.min(R, (bi + 1) * rows);
      const c1 = Math.min(C, (bj + 1) * cols);
      let k = 0;
      for (let r = bi * rows; r < r1; r++)
        for (let c = bj * cols; c < c1; c++) out[k++] = (o * R + r) * C + c;
      return k;
    },
  };
}

/** Packing and unpacking of element codes as KernelIR (ir/layout/pack.ts is the reference). */
import { K, type Expr, type Kernel } from "../../ir/kernel.js";
import type { CodeLayout } from "../../ir/graph.js";
import { sameExpr } from "../../ir/kernel-walk.js";
import { Block, E } from "./builder.js";

const u = K.u32;
const i = K.i32;
const n = K.v("n", "i32");

export function packedLength(layout: CodeLayout, count: number): number {
  return layout.kind === "nibbles"
    ? Math.ceil(count / 2)
    : layout.kind === "bits6"
      ? Math.ceil((count * 6) / 8)
      : count;
}

/**
 * Code `at` (i32) read straight from the packed bytes of `buffer`, as one
 * expression tree so that backends can recognize it (matchPackedCode). Every
 * byte it loads lies inside the packed tensor, and no index grows past `at`:
 * 6-bit codes are addressed by their group of four (3 bytes), never by bit.
 */
export function packedCodeExpr(layout: CodeLayout, buffer: string, at: Expr): Expr {
  if (layout.kind === "nibbles") {
    const odd = E.and(at, i(1));
    const high = layout.order === "low_first" ? odd : K.bin("xor", odd, i(1));
    const byte = K.load(buffer, E.shr(at, i(1)), "u32");
    return E.and(E.shr(byte, E.u32(E.shl(high, i(2)))), u(15));
  }
  if (layout.kind === "bits6") {
    // code 4g+j occupies bits [6j, 6j+6) of bytes 3g..3g+2 (little-endian)
    const g3 = E.mul(E.shr(at, i(2)), i(3));
    const j3 = E.mul(E.and(at, i(3)), i(3));
    const lo = K.load(buffer, E.add(g3, E.shr(j3, i(2))), "u32");
    const hi = K.load(buffer, E.add(g3, E.shr(E.min(E.add(j3, i(3)), i(8)), i(2))), "u32");
    const shift = E.u32(E.and(E.add(j3, j3), i(7))); // (6j) & 7
    return E.and(E.shr(E.or(lo, E.shl(hi, u(8))), shift), u(63));
  }
  return K.load(buffer, at, "u32");
}

/**
 * The inverse of packedCodeExpr for the packed layouts: which buffer, layout
 * and element index `e` reads, or undefined when `e` is not such a read.
 */
export function matchPackedCode(
  e: Expr,
): { layout: CodeLayout; buffer: string; at: Expr } | undefined {
  if (e.op !== "binary" || e.kind !== "and" || e.a.op !== "binary" || e.a.kind !== "shr")
    return undefined;
  const inner = e.a.a;
  const load =
    inner.op === "load"
      ? inner
      : inner.op === "binary" && inner.a.op === "load"
        ? inner.a
        : undefined;
  if (!load || load.op !== "load" || load.index.op !== "binary") return undefined;
  const index = load.index;
  const at =
    index.op === "binary" && index.kind === "shr"
      ? index.a
      : index.op === "binary" && index.a.op === "binary" && index.a.a.op === "binary"
        ? index.a.a.a
        : undefined;
  if (!at) return undefined;
  const layouts: CodeLayout[] = [
    { kind: "nibbles", order: "low_first" },
    { kind: "nibbles", order: "high_first" },
    { kind: "bits6" },
  ];
  const layout = layouts.find((l) => sameExpr(e, packedCodeExpr(l, load.buffer, at)));
  return layout && { layout, buffer: load.buffer, at };
}

/** codes (one per byte) -> packed bytes; `n` codes. */
export function packKernel(name: string, layout: CodeLayout): Kernel {
  Block.resetNames();
  const b = new Block("p");
  const code = (idx: ReturnType<typeof K.i32>) =>
    E.select(E.lt(idx, n), K.load("codes", E.min(idx, E.sub(n, i(1))), "u32"), u(0));
  if (layout.kind === "nibbles") {
    const k = K.v("k", "i32");
    const first = b.let("c0", code(E.mul(k, i(2))));
    const second = b.let("c1", code(E.add(E.mul(k, i(2)), i(1))));
    const [lo, hi] = layout.order === "low_first" ? [first, second] : [second, first];
    b.push(K.store("packed", k, E.or(E.and(lo, u(15)), E.shl(E.and(hi, u(15)), u(4)))));
    return kernel(name, [K.for("k", i(0), E.div(E.add(n, i(1)), i(2)), b.stmts)]);
  }
  if (layout.kind === "bits6") {
    // group g: codes 4g..4g+3 -> bytes 3g..3g+2 of a 24-bit little-endian word
    const g = K.v("g", "i32");
    const word = b.let(
      "w",
      [0, 1, 2, 3]
        .map((j) => E.shl(E.and(code(E.add(E.mul(g, i(4)), i(j))), u(63)), u(6 * j)))
        .reduce((a, c) => E.or(a, c)),
    );
    const bytes = b.let("nbytes", E.div(E.add(E.mul(n, i(6)), i(7)), i(8)));
    for (let j = 0; j < 3; j++) {
      const at = b.let("at", E.add(E.mul(g, i(3)), i(j)));
      b.push(K.if(E.lt(at, bytes), [K.store("packed", at, E.and(E.shr(word, u(8 * j)), u(255)))]));
    }
    return kernel(name, [K.for("g", i(0), E.div(E.add(n, i(3)), i(4)), b.stmts)]);
  }
  b.push(K.store("packed", K.v("k", "i32"), K.load("codes", K.v("k", "i32"), "u32")));
  return kernel(name, [K.for("k", i(0), n, b.stmts)]);
}

function kernel(name: string, body: Kernel["body"]): Kernel {
  return {
    name,
    params: [
      { kind: "buffer", name: "codes", elem: "u8", access: "read" },
      { kind: "buffer", name: "packed", elem: "u8", access: "write" },
      { kind: "scalar", name: "n", type: "i32" },
    ],
    tables: [],
    body,
  };
}

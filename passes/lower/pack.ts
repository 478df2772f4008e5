/** Packing and unpacking of element codes as KernelIR (ir/layout/pack.ts is the reference). */
import { K, type Kernel } from "../../ir/kernel.js";
import type { CodeLayout } from "../../ir/graph.js";
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

/** packed bytes -> codes (one per byte); `n` codes. */
export function unpackKernel(name: string, layout: CodeLayout): Kernel {
  Block.resetNames();
  const b = new Block("u");
  const t = K.v("t", "i32");
  let value;
  if (layout.kind === "nibbles") {
    const byte = b.let("byte", K.load("packed", E.div(t, i(2)), "u32"));
    const odd = E.eq(E.and(t, i(1)), i(1));
    const high = layout.order === "low_first" ? odd : E.not(odd);
    value = E.select(high, E.shr(byte, u(4)), E.and(byte, u(15)));
  } else if (layout.kind === "bits6") {
    const bit = b.let("bit", E.mul(t, i(6)));
    const at = b.let("at", E.div(bit, i(8)));
    const bytes = E.div(E.add(E.mul(n, i(6)), i(7)), i(8));
    const lo = K.load("packed", at, "u32");
    const hi = E.select(
      E.lt(E.add(at, i(1)), bytes),
      K.load("packed", E.min(E.add(at, i(1)), E.sub(bytes, i(1))), "u32"),
      u(0),
    );
    const word = b.let("w", E.or(lo, E.shl(hi, u(8))));
    value = E.and(E.shr(word, E.u32(E.and(bit, i(7)))), u(63));
  } else {
    value = K.load("packed", t, "u32");
  }
  b.push(K.store("codes", t, value));
  return {
    name,
    params: [
      { kind: "buffer", name: "packed", elem: "u8", access: "read" },
      { kind: "buffer", name: "codes", elem: "u8", access: "write" },
      { kind: "scalar", name: "n", type: "i32" },
    ],
    tables: [],
    body: [K.for("t", i(0), n, b.stmts)],
  };
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

/**
 * The packed-code read of passes/lower/pack.ts: evaluated as KernelIR it returns
 * exactly what ir/layout unpacks, for every layout, count and position (never a
 * byte outside the packed tensor: the evaluator bounds-checks every load), and matchPackedCode recognizes exactly it.
 */
import { describe, expect, it } from "vitest";
import { K, type Kernel } from "../ir/kernel.js";
import { evaluateKernel } from "../ir/kernel-eval.js";
import type { CodeLayout } from "../ir/graph.js";
import { pack6, packNibbles } from "../ir/layout/index.js";
import { matchPackedCode, packedCodeExpr, packedLength } from "../passes/lower/pack.js";
import { sameExpr } from "../ir/kernel-walk.js";
import { E } from "../passes/lower/builder.js";

const layouts: CodeLayout[] = [
  { kind: "nibbles", order: "low_first" },
  { kind: "nibbles", order: "high_first" },
  { kind: "bits6" },
];
const at = K.v("t", "i32");

/** A kernel that copies every code of `packed` out through packedCodeExpr. */
function readAll(layout: CodeLayout): Kernel {
  return {
    name: "read",
    params: [
      { kind: "buffer", name: "packed", elem: "u8", access: "read" },
      { kind: "buffer", name: "codes", elem: "u8", access: "write" },
      { kind: "scalar", name: "n", type: "i32" },
    ],
    tables: [],
    body: [
      K.for("t", K.i32(0), K.v("n", "i32"), [
        K.store("codes", at, packedCodeExpr(layout, "packed", at)),
      ]),
    ],
  };
}

describe("packed code reads", () => {
  for (const layout of layouts) {
    const name = layout.kind === "nibbles" ? `nibbles ${layout.order}` : "bits6";
    it(`${name}: every code of every length 0..67 reads back, inside the packed bytes`, () => {
      const bits = layout.kind === "bits6" ? 6 : 4;
      for (let n = 0; n <= 67; n++) {
        const codes = Uint8Array.from(
          { length: n },
          (_, j) => (j * 37 + n * 11 + 5) & ((1 << bits) - 1),
        );
        const packed = layout.kind === "nibbles" ? packNibbles(codes, layout.order) : pack6(codes);
        expect(packed.length).toBe(packedLength(layout, n));
        const out = new Uint8Array(n);
        evaluateKernel(readAll(layout), { packed, codes: out }, { n });
        expect(Array.from(out), `n = ${n}`).toEqual(Array.from(codes));
      }
    });
    it(`${name}: matchPackedCode returns the layout, buffer and index it was built from`, () => {
      const v = (n: string) => K.v(n, "i32");
      // a plain variable, a row offset (GEMV's n * K + k), and an index that is itself a shift
      const indices = [
        v("idx"),
        E.add(E.mul(v("n"), v("K")), v("k")),
        E.shr(E.add(v("a"), v("b")), K.i32(1)),
      ];
      for (const idx of indices) {
        const m = matchPackedCode(packedCodeExpr(layout, "codes", idx));
        expect(m?.layout).toEqual(layout);
        expect(m?.buffer).toBe("codes");
        expect(m && sameExpr(m.at, idx)).toBe(true);
      }
    });
  }
  it("matchPackedCode refuses plain loads and near misses", () => {
    expect(matchPackedCode(K.load("codes", at, "u32"))).toBeUndefined();
    const nib = packedCodeExpr(layouts[0], "codes", at);
    if (nib.op !== "binary") throw new Error("shape");
    expect(matchPackedCode({ ...nib, b: K.u32(7) })).toBeUndefined();
    const six = packedCodeExpr(layouts[2], "codes", at);
    if (six.op !== "binary") throw new Error("shape");
    expect(matchPackedCode({ ...six, b: K.u32(31) })).toBeUndefined();
  });
});

/** Block Hadamard rotation as KernelIR (ir/interpret/rotate.ts is the reference): x -> xr, `n` elements. */
import { K, type Kernel } from "../../ir/kernel.js";
import type { Rotation } from "../../ir/program.js";
import { rotationSigns } from "../../ir/interpret/rotate.js";
import { Block, E } from "./builder.js";

const i = K.i32;

export function lowerRotate(name: string, r: Rotation): Kernel {
  Block.resetNames();
  const n = r.size;
  const top = new Block();
  top.comment(
    `block Hadamard rotation, size ${n}${r.seed === undefined ? "" : `, signs from seed ${r.seed}`}`,
  );
  const chunk = new Block("h");
  const base = chunk.let("base", E.mul(K.v("c", "i32"), i(n)));
  const signs = new Block("s");
  const at = signs.let("at", E.add(base, K.v("p", "i32")));
  signs.push(
    K.store("xr", at, E.mul(K.load("x", at, "f32"), K.table("signs", K.v("p", "i32"), "f32"))),
  );
  chunk.push(K.for("p", i(0), i(n), signs.stmts));
  for (let h = 1; h < n; h *= 2) {
    const bf = new Block(`b${h}_`);
    // pair q: j = (q / h) * 2h + q % h
    const q = K.v("q", "i32");
    const j = bf.let(
      "j",
      E.add(base, E.add(E.mul(E.div(q, i(h)), i(2 * h)), E.sub(q, E.mul(E.div(q, i(h)), i(h))))),
    );
    const a = bf.let("a", K.load("xr", j, "f32"));
    const b = bf.let("b", K.load("xr", E.add(j, i(h)), "f32"));
    bf.push(K.store("xr", j, E.add(a, b)), K.store("xr", E.add(j, i(h)), E.sub(a, b)));
    chunk.push(K.for("q", i(0), i(n / 2), bf.stmts));
  }
  const norm = new Block("n");
  const at2 = norm.let("at", E.add(base, K.v("p", "i32")));
  norm.push(
    K.store("xr", at2, E.mul(K.load("xr", at2, "f32"), K.f32(Math.fround(1 / Math.sqrt(n))))),
  );
  chunk.push(K.for("p", i(0), i(n), norm.stmts));
  top.push(K.for("c", i(0), E.div(K.v("n", "i32"), i(n)), chunk.stmts));
  return {
    name,
    params: [
      { kind: "buffer", name: "x", elem: "f32", access: "read" },
      { kind: "buffer", name: "xr", elem: "f32", access: "read_write" },
      { kind: "scalar", name: "n", type: "i32" },
    ],
    tables: [{ name: "signs", type: "f32", values: [...rotationSigns(r)] }],
    body: top.stmts,
  };
}

/** The two small kernels around double quantization: centring scale values on their offset, and restoring them. */
import { K, type Kernel } from "../../ir/kernel.js";
import { Block, E } from "./builder.js";

const i = K.i32;
const n = K.v("n", "i32");
const offset = K.load("offset", i(0), "f32");

/** centered[b] = fl32(f32(scales32[b]) - offset[0]) */
export function centerKernel(name: string): Kernel {
  const b = new Block("c");
  const t = K.v("t", "i32");
  b.push(K.store("centered", t, E.sub(E.float(K.load("scales32", t, "u32")), offset)));
  return {
    name,
    params: [
      { kind: "buffer", name: "scales32", elem: "u32", access: "read" },
      { kind: "buffer", name: "offset", elem: "f32", access: "read" },
      { kind: "buffer", name: "centered", elem: "f32", access: "write" },
      { kind: "scalar", name: "n", type: "i32" },
    ],
    tables: [],
    body: [K.for("t", i(0), n, b.stmts)],
  };
}

/** scales32[b] = bits(fl32(restored[b] + offset[0])) */
export function restoreKernel(name: string): Kernel {
  const b = new Block("r");
  const t = K.v("t", "i32");
  b.push(K.store("scales32", t, E.bits(E.add(K.load("restored", t, "f32"), offset))));
  return {
    name,
    params: [
      { kind: "buffer", name: "restored", elem: "f32", access: "read" },
      { kind: "buffer", name: "offset", elem: "f32", access: "read" },
      { kind: "buffer", name: "scales32", elem: "u32", access: "write" },
      { kind: "scalar", name: "n", type: "i32" },
    ],
    tables: [],
    body: [K.for("t", i(0), n, b.stmts)],
  };
}

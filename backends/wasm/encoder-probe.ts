/**
 * A lowered element encoder, found in a loop body and made callable at compile
 * time. passes/lower/encode.ts lowerEncodeMemo prints
 *     let m = memo[bitcast<u32>(v) >> 16]; if (m == SENTINEL) { ...exact...; m = code }
 * The memo (exact by construction) decides most 16-bit prefixes of the input's
 * bits; `exact` runs both statements on one input through the KernelIR
 * evaluator, so a vector encoder can be checked against the kernel's own code.
 */
import type { Expr, Kernel, Stmt, Table } from "../../ir/kernel.js";
import { evaluateKernel } from "../../ir/kernel-eval.js";

export interface EncoderProbe {
  /** the f32 variable encoded */
  readonly input: string;
  readonly memo: readonly number[];
  /** memo value of the prefixes that straddle a rounding boundary */
  readonly sentinel: number;
  /** the code of the f32 with these bits; throws when the exact path reads more than its input */
  readonly exact: (bits: number) => number;
}

export const INF_BITS = 0x7f800000;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
export const fromBits = (b: number): number => ((u32[0] = b >>> 0), f32[0]);
export const toBits = (x: number): number => ((f32[0] = x), u32[0]);

/** `let m = T[bitcast<u32>(V) >> 16]` followed by `if (m == S) {...}`: the input V and the table, or undefined */
export function memoPattern(
  k: Kernel,
  l: Stmt,
  next: Stmt | undefined,
): { input: string; table: Table; sentinel: number } | undefined {
  if (l.op !== "let" || l.type !== "u32" || next?.op !== "if" || next.else?.length)
    return undefined;
  const t = l.value;
  if (t.op !== "table" || t.index.op !== "binary" || t.index.kind !== "shr") return undefined;
  const { a, b } = t.index;
  if (
    b.op !== "const" ||
    b.value !== 16 ||
    a.op !== "bitcast" ||
    a.a.op !== "var" ||
    a.a.type !== "f32"
  )
    return undefined;
  const c = next.cond;
  if (
    c.op !== "binary" ||
    c.kind !== "eq" ||
    c.a.op !== "var" ||
    c.a.name !== l.name ||
    c.b.op !== "const"
  )
    return undefined;
  const table = k.tables.find((x) => x.name === t.table);
  if (!table || table.type !== "u32" || table.values.length !== 65536) return undefined;
  return { input: a.a.name, table, sentinel: c.b.value as number };
}

/** The encoder `let m = ...; if (...) {...}` as a function of its input's bits, or undefined when it is not that pattern. */
export function probeEncoder(k: Kernel, l: Stmt, next: Stmt): EncoderProbe | undefined {
  const p = memoPattern(k, l, next);
  if (!p || l.op !== "let") return undefined;
  const probe: Kernel = {
    name: `${k.name}_probe`,
    params: [
      { kind: "scalar", name: p.input, type: "f32" },
      { kind: "buffer", name: "out", elem: "u32", access: "write" },
    ],
    tables: [p.table],
    body: [
      l,
      next,
      {
        op: "store",
        buffer: "out",
        index: { op: "const", type: "i32", value: 0 },
        value: { op: "var", name: l.name, type: "u32" } as Expr,
      },
    ],
  };
  const out = new Uint32Array(1);
  const memo = p.table.values;
  const exact = (bits: number): number => {
    const hit = memo[bits >>> 16];
    if (hit !== p.sentinel) return hit;
    evaluateKernel(probe, { out }, { [p.input]: fromBits(bits) });
    return out[0];
  };
  return { input: p.input, memo, sentinel: p.sentinel, exact };
}

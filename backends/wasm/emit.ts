/**
 * The WebAssembly emitter: KernelIR printed through binaryen, one exported
 * function per kernel, a table from IR op to wasm instruction (tinygrad's
 * renderer style). Memory is imported (`env.memory`) so the runtime owns it;
 * constant tables are data segments at the start of memory.
 */
import binaryen from "binaryen";
import type { Expr, Kernel, ScalarType, Stmt } from "../../ir/kernel.js";
import { emitPhilox } from "./philox.js";

type Ref = number;

export interface WasmArtifact {
  binary: Uint8Array;
  wat: string;
  /** byte offset of each table, and where free memory starts */
  tableOffsets: Record<string, number>;
  reservedBytes: number;
}

const ELEM_BYTES = { f32: 4, u8: 1, i8: 1, u16: 2, u32: 4 } as const;
const wasmType = (t: ScalarType) => (t === "f32" ? binaryen.f32 : binaryen.i32);

export function emitWasm(
  kernels: readonly Kernel[],
  options: { optimize?: boolean } = {},
): WasmArtifact {
  const m = new binaryen.Module();
  // constant tables, deduplicated by name, 16-byte aligned from offset 16
  const tableOffsets: Record<string, number> = {};
  const segments: { offset: number; data: Uint8Array }[] = [];
  let at = 16;
  for (const k of kernels)
    for (const t of k.tables) {
      if (t.name in tableOffsets) continue;
      const bytes = new Uint8Array(t.values.length * 4);
      const view = new DataView(bytes.buffer);
      t.values.forEach((v, i) =>
        t.type === "f32" ? view.setFloat32(i * 4, v, true) : view.setUint32(i * 4, v >>> 0, true),
      );
      tableOffsets[t.name] = at;
      segments.push({ offset: at, data: bytes });
      at += Math.ceil(bytes.length / 16) * 16;
    }
  const reservedBytes = Math.ceil(at / 65536) * 65536;
  m.setMemory(
    reservedBytes / 65536,
    65536,
    null,
    segments.map((s) => ({ offset: m.i32.const(s.offset), data: s.data, passive: false })),
  );
  m.addMemoryImport("0", "env", "memory");
  const needsRandom = kernels.some((k) => JSON.stringify(k.body).includes('"op":"random"'));
  if (needsRandom) emitPhilox(m);
  for (const k of kernels) emitKernel(m, k, tableOffsets);
  if (!m.validate())
    throw new Error(
      `qkc internal error: the wasm module for ${kernels.map((k) => k.name).join(", ")} does not validate`,
    );
  if (options.optimize) m.optimize();
  const binary = m.emitBinary();
  const wat = m.emitText();
  m.dispose();
  return { binary, wat, tableOffsets, reservedBytes };
}

function emitKernel(m: binaryen.Module, k: Kernel, tableOffsets: Record<string, number>): void {
  const locals = new Map<string, { index: number; type: ScalarType }>();
  const paramTypes: number[] = [];
  const bufferElem = new Map<string, keyof typeof ELEM_BYTES>();
  k.params.forEach((p, i) => {
    if (p.kind === "buffer") {
      locals.set(p.name, { index: i, type: "i32" });
      bufferElem.set(p.name, p.elem);
      paramTypes.push(binaryen.i32);
    } else {
      locals.set(p.name, { index: i, type: p.type });
      paramTypes.push(wasmType(p.type));
    }
  });
  const vars: number[] = [];
  const local = (name: string, type: ScalarType) => {
    let l = locals.get(name);
    if (!l) {
      l = { index: k.params.length + vars.length, type };
      locals.set(name, l);
      vars.push(wasmType(type));
    }
    return l;
  };
  const temp = (type: ScalarType) => local(`$tmp${vars.length}`, type);
  const get = (name: string) => {
    const l = locals.get(name);
    if (!l) throw new Error(`kernel ${k.name}: ${name} is read before it is declared`);
    return m.local.get(l.index, wasmType(l.type));
  };
  const address = (buffer: string, index: Ref) => {
    const elem = bufferElem.get(buffer);
    if (!elem) throw new Error(`kernel ${k.name}: no buffer ${buffer}`);
    const shift = Math.log2(ELEM_BYTES[elem]);
    return {
      elem,
      ptr: m.i32.add(get(buffer), shift ? m.i32.shl(index, m.i32.const(shift)) : index),
    };
  };
  let labels = 0;

  const ex = (e: Expr): Ref => {
    switch (e.op) {
      case "const":
        return e.type === "f32"
          ? m.f32.const(e.value as number)
          : m.i32.const(typeof e.value === "boolean" ? +e.value : (e.value as number) | 0);
      case "var":
        return get(e.name);
      case "load": {
        const { elem, ptr } = address(e.buffer, ex(e.index));
        if (elem === "f32") return m.f32.load(0, 4, ptr);
        if (elem === "u8") return m.i32.load8_u(0, 1, ptr);
        if (elem === "i8") return m.i32.load8_s(0, 1, ptr);
        if (elem === "u16") return m.i32.load16_u(0, 2, ptr);
        return m.i32.load(0, 4, ptr);
      }
      case "table": {
        const base = tableOffsets[e.table];
        if (base === undefined) throw new Error(`kernel ${k.name}: no table ${e.table}`);
        const ptr = m.i32.add(m.i32.const(base), m.i32.shl(ex(e.index), m.i32.const(2)));
        return e.type === "f32" ? m.f32.load(0, 4, ptr) : m.i32.load(0, 4, ptr);
      }
      case "binary":
        return binary(e.kind, e.a.type, ex(e.a), ex(e.b), () => [ex(e.a), ex(e.b)]);
      case "unary": {
        const a = ex(e.a);
        switch (e.kind) {
          case "neg":
            return e.type === "f32" ? m.f32.neg(a) : m.i32.sub(m.i32.const(0), a);
          case "abs":
            if (e.type === "f32") return m.f32.abs(a);
            return m.select(
              m.i32.lt_s(ex(e.a), m.i32.const(0)),
              m.i32.sub(m.i32.const(0), ex(e.a)),
              a,
            );
          case "floor":
            return m.f32.floor(a);
          case "not":
            return e.type === "bool" ? m.i32.eqz(a) : m.i32.xor(a, m.i32.const(-1));
          case "clz":
            return m.i32.clz(a);
        }
        break;
      }
      case "select":
        return m.select(ex(e.cond), ex(e.a), ex(e.b));
      case "bitcast":
        if (e.type === "f32" && e.a.type !== "f32") return m.f32.reinterpret(ex(e.a));
        if (e.type !== "f32" && e.a.type === "f32") return m.i32.reinterpret(ex(e.a));
        return ex(e.a);
      case "convert": {
        const a = ex(e.a);
        if (e.type === "f32")
          return e.a.type === "u32" || e.a.type === "bool"
            ? m.f32.convert_u.i32(a)
            : e.a.type === "i32"
              ? m.f32.convert_s.i32(a)
              : a;
        if (e.a.type === "f32")
          return e.type === "u32" ? m.i32.trunc_u.f32(a) : m.i32.trunc_s.f32(a);
        return a;
      }
      case "random":
        return m.call(
          "philox_bits",
          [ex(e.seedLo), ex(e.seedHi), ex(e.index), m.i32.const(e.bits)],
          binaryen.i32,
        );
    }
    throw new Error(`kernel ${k.name}: cannot emit ${JSON.stringify(e).slice(0, 80)}`);
  };

  /** Integer min/max read their operands twice; they are side-effect free, so re-emitting them is safe. */
  const binary = (kind: string, t: ScalarType, a: Ref, b: Ref, again: () => [Ref, Ref]): Ref => {
    const u = t === "u32";
    if (t === "f32") {
      const ops: Record<string, (x: Ref, y: Ref) => Ref> = {
        add: m.f32.add,
        sub: m.f32.sub,
        mul: m.f32.mul,
        div: m.f32.div,
        eq: m.f32.eq,
        ne: m.f32.ne,
        lt: m.f32.lt,
        le: m.f32.le,
        gt: m.f32.gt,
        ge: m.f32.ge,
      };
      if (!ops[kind]) throw new Error(`kernel ${k.name}: f32 ${kind} is not an IR op`);
      return ops[kind](a, b);
    }
    switch (kind) {
      case "add":
        return m.i32.add(a, b);
      case "sub":
        return m.i32.sub(a, b);
      case "mul":
        return m.i32.mul(a, b);
      case "div":
        return u ? m.i32.div_u(a, b) : m.i32.div_s(a, b);
      case "and":
        return m.i32.and(a, b);
      case "or":
        return m.i32.or(a, b);
      case "xor":
        return m.i32.xor(a, b);
      case "shl":
        return m.i32.shl(a, b);
      case "shr":
        return u ? m.i32.shr_u(a, b) : m.i32.shr_s(a, b);
      case "eq":
        return m.i32.eq(a, b);
      case "ne":
        return m.i32.ne(a, b);
      case "lt":
        return u ? m.i32.lt_u(a, b) : m.i32.lt_s(a, b);
      case "le":
        return u ? m.i32.le_u(a, b) : m.i32.le_s(a, b);
      case "gt":
        return u ? m.i32.gt_u(a, b) : m.i32.gt_s(a, b);
      case "ge":
        return u ? m.i32.ge_u(a, b) : m.i32.ge_s(a, b);
      case "min":
      case "max": {
        const [a2, b2] = again();
        const less = u ? m.i32.lt_u(a2, b2) : m.i32.lt_s(a2, b2);
        return kind === "min" ? m.select(less, a, b) : m.select(less, b, a);
      }
    }
    throw new Error(`kernel ${k.name}: ${t} ${kind} is not an IR op`);
  };

  const st = (s: Stmt): Ref => {
    switch (s.op) {
      case "let":
        return m.local.set(local(s.name, s.type).index, ex(s.value));
      case "assign": {
        const l = locals.get(s.name);
        if (!l) throw new Error(`kernel ${k.name}: ${s.name} is assigned before it is declared`);
        return m.local.set(l.index, ex(s.value));
      }
      case "store": {
        const { elem, ptr } = address(s.buffer, ex(s.index));
        const v = ex(s.value);
        if (elem === "f32") return m.f32.store(0, 4, ptr, v);
        if (elem === "u8" || elem === "i8") return m.i32.store8(0, 1, ptr, v);
        if (elem === "u16") return m.i32.store16(0, 2, ptr, v);
        return m.i32.store(0, 4, ptr, v);
      }
      case "if":
        return m.if(
          ex(s.cond),
          m.block(null, s.then.map(st)),
          s.else?.length ? m.block(null, s.else.map(st)) : undefined,
        );
      case "for": {
        const v = local(s.var, "i32");
        const end = temp("i32");
        const id = labels++;
        const brk = `brk${id}`;
        const cont = `cont${id}`;
        return m.block(null, [
          m.local.set(v.index, ex(s.start)),
          m.local.set(end.index, ex(s.end)),
          m.block(brk, [
            m.loop(
              cont,
              m.block(null, [
                m.br(
                  brk,
                  m.i32.ge_s(
                    m.local.get(v.index, binaryen.i32),
                    m.local.get(end.index, binaryen.i32),
                  ),
                ),
                ...s.body.map(st),
                m.local.set(v.index, m.i32.add(m.local.get(v.index, binaryen.i32), m.i32.const(1))),
                m.br(cont),
              ]),
            ),
          ]),
        ]);
      }
      case "comment":
        return m.nop();
    }
  };

  const body = m.block(null, k.body.map(st));
  m.addFunction(k.name, binaryen.createType(paramTypes), binaryen.none, vars, body);
  m.addFunctionExport(k.name, k.name);
}

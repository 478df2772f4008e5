/**
 * A direct evaluator of KernelIR in JavaScript: the reference for backend
 * emitters (WASM, CUDA, WGSL print the same program; they must agree with this
 * on every op) and a way to test lowering without a backend. Not fast.
 */
import type { Expr, Kernel, ScalarType, Stmt } from "./kernel.js";
import { philox4x32 } from "./philox.js";

export type BufferData = Float32Array | Uint8Array | Uint16Array | Uint32Array | Int8Array;
type Value = number | boolean;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const fl32 = Math.fround;

function wrap(type: ScalarType, v: number): Value {
  return type === "i32" ? v | 0 : type === "u32" ? v >>> 0 : type === "f32" ? fl32(v) : v !== 0;
}

export function evaluateKernel(
  k: Kernel,
  buffers: Record<string, BufferData>,
  scalars: Record<string, number> = {},
): void {
  const tables = new Map(k.tables.map((t) => [t.name, t.values]));
  const env = new Map<string, Value>();
  for (const p of k.params) {
    if (p.kind === "scalar") {
      if (!(p.name in scalars)) throw new Error(`kernel ${k.name}: scalar ${p.name} not given`);
      env.set(p.name, wrap(p.type, scalars[p.name]));
    } else if (!(p.name in buffers))
      throw new Error(`kernel ${k.name}: buffer ${p.name} not given`);
  }
  const philoxOut = new Uint32Array(4);

  const ev = (e: Expr): Value => {
    switch (e.op) {
      case "const":
        return e.value;
      case "var": {
        const v = env.get(e.name);
        if (v === undefined) throw new Error(`kernel ${k.name}: ${e.name} read before it is set`);
        return v;
      }
      case "load": {
        const buf = buffers[e.buffer];
        const i = ev(e.index) as number;
        if (i < 0 || i >= buf.length)
          throw new RangeError(`kernel ${k.name}: ${e.buffer}[${i}] out of bounds (${buf.length})`);
        return buf[i];
      }
      case "binary":
        return binary(e.kind, e.a.type, ev(e.a), ev(e.b), e.type);
      case "unary": {
        const a = ev(e.a);
        switch (e.kind) {
          case "neg":
            return e.type === "f32" ? -(a as number) : wrap(e.type, -(a as number));
          case "abs":
            return e.type === "f32" ? Math.abs(a as number) : wrap(e.type, Math.abs(a as number));
          case "floor":
            return Math.floor(a as number);
          case "not":
            return e.type === "bool" ? !a : wrap(e.type, ~(a as number));
          case "clz":
            return Math.clz32(a as number);
        }
        break;
      }
      case "select":
        return ev(e.cond) ? ev(e.a) : ev(e.b);
      case "bitcast": {
        const a = ev(e.a) as number;
        if (e.type === "f32") {
          u32[0] = a;
          return f32[0];
        }
        if (e.a.type === "f32") {
          f32[0] = a;
          return e.type === "u32" ? u32[0] : u32[0] | 0;
        }
        return wrap(e.type, a);
      }
      case "convert": {
        const a = ev(e.a);
        if (typeof a === "boolean") return a ? 1 : 0;
        if (e.type === "f32") return fl32(a);
        if (e.a.type === "f32") return wrap(e.type, Math.trunc(a));
        return wrap(e.type, a);
      }
      case "table": {
        const t = tables.get(e.table)!;
        const i = ev(e.index) as number;
        if (i < 0 || i >= t.length)
          throw new RangeError(`kernel ${k.name}: table ${e.table}[${i}] out of bounds`);
        return t[i];
      }
      case "random": {
        const index = (ev(e.index) as number) >>> 0;
        philox4x32(
          index >>> 2,
          0,
          0,
          0,
          (ev(e.seedLo) as number) >>> 0,
          (ev(e.seedHi) as number) >>> 0,
          philoxOut,
        );
        const word = philoxOut[index & 3];
        return e.bits >= 32 ? word : word >>> (32 - e.bits);
      }
    }
    throw new Error("unreachable");
  };

  const run = (stmts: readonly Stmt[]): void => {
    for (const s of stmts) {
      switch (s.op) {
        case "let":
        case "assign":
          env.set(s.name, ev(s.value));
          break;
        case "store": {
          const buf = buffers[s.buffer];
          const i = ev(s.index) as number;
          if (i < 0 || i >= buf.length)
            throw new RangeError(
              `kernel ${k.name}: ${s.buffer}[${i}] out of bounds (${buf.length})`,
            );
          const v = ev(s.value);
          buf[i] = typeof v === "boolean" ? (v ? 1 : 0) : v;
          break;
        }
        case "if":
          run(ev(s.cond) ? s.then : (s.else ?? []));
          break;
        case "for": {
          const start = ev(s.start) as number;
          const end = ev(s.end) as number;
          for (let i = start; i < end; i++) {
            env.set(s.var, i);
            run(s.body);
          }
          break;
        }
        case "comment":
          break;
      }
    }
  };
  run(k.body);
}

function binary(kind: string, operand: ScalarType, a: Value, b: Value, type: ScalarType): Value {
  const x = a as number;
  const y = b as number;
  switch (kind) {
    case "add":
      return wrap(type, x + y);
    case "sub":
      return wrap(type, x - y);
    case "mul":
      return type === "f32"
        ? fl32(x * y)
        : type === "i32"
          ? Math.imul(x, y)
          : Math.imul(x, y) >>> 0;
    case "div":
      return type === "f32" ? fl32(x / y) : wrap(type, Math.trunc(x / y));
    case "min":
      return Math.min(x, y);
    case "max":
      return Math.max(x, y);
    case "and":
      return operand === "bool" ? a && b : wrap(type, x & y);
    case "or":
      return operand === "bool" ? a || b : wrap(type, x | y);
    case "xor":
      return operand === "bool" ? a !== b : wrap(type, x ^ y);
    case "shl":
      return wrap(type, x << y);
    case "shr":
      return type === "i32" ? x >> y : x >>> y;
    case "eq":
      return x === y;
    case "ne":
      return x !== y;
    case "lt":
      return x < y;
    case "le":
      return x <= y;
    case "gt":
      return x > y;
    case "ge":
      return x >= y;
  }
  throw new Error(`unknown binary op ${kind}`);
}

/**
 * A legalized kernel (legalize.ts) printed as one WGSL compute shader: a
 * uniform struct of scalars at binding 0, the buffers from binding 1 in
 * parameter order (tables last), and an entry point named after the kernel.
 *
 * Work split: the parallel region's iterations are numbered 0..count; with a
 * workgroup of W invocations and E elements per invocation, invocation `lid`
 * of workgroup `g` runs iterations (g*E + k)*W + lid for k < E, so neighbouring
 * invocations touch neighbouring iterations. Both are emit options (the tuner's
 * knobs); the runtime dispatches ceil(count / (W*E)) workgroups, over a 2-D grid
 * past 65535.
 */
import type { Expr, ScalarType } from "../../ir/kernel.js";
import { INFIX } from "../../ir/kernel-print.js";
import {
  F16_TABLE,
  effectsOf,
  legalize,
  STATE_BUFFER,
  type LegalKernel,
  type WgslBuffer,
  type WStmt,
} from "./legalize.js";
import type { Kernel } from "../../ir/kernel.js";
import { flushSafeCall, helpersFor } from "./subnormal.js";

export interface WgslOptions {
  /** invocations per workgroup (default 64) */
  readonly workgroupSize?: number;
  /** iterations of the parallel region per invocation (default 1) */
  readonly perInvocation?: number;
  /** decode f16 inputs with shader-f16 (legalize.ts LegalizeOptions; default false) */
  readonly f16?: boolean;
  /**
   * combine the prefix's maxima with subgroupMax (needs the `subgroups`
   * feature) before the workgroup atomic, instead of one atomic per
   * invocation (default false)
   */
  readonly subgroups?: boolean;
  /**
   * "exact" (default): f32 operations that may meet a subnormal are printed
   * flush-proof (subnormal.ts), so engines that flush subnormals stay IEEE;
   * "hardware": plain f32 operators, exact only where the engine keeps
   * subnormals
   */
  readonly subnormals?: "exact" | "hardware";
}

/** What a runtime needs of an emitted shader; plain data, so generated bindings can embed it. */
export interface ShaderRecord {
  readonly name: string;
  readonly code: string;
  readonly entryPoint: string;
  /** an entry point that runs before `entryPoint` in one invocation, and the u32 words it leaves in qkc_state */
  readonly prefixEntryPoint?: string;
  readonly stateWords?: number;
  readonly workgroupSize: number;
  readonly perInvocation: number;
  readonly scalars: LegalKernel["scalars"];
  readonly buffers: LegalKernel["buffers"];
  /** iterations of the parallel region from the scalars (the runtime sizes the dispatch with it) */
  readonly hostCount: LegalKernel["hostCount"];
  /** the table words bound as `qkc_tables` */
  readonly tableWords: Uint32Array;
  /** device features the shader needs */
  readonly features: readonly string[];
}

export interface WgslShader extends ShaderRecord {
  readonly kernel: LegalKernel;
}

/** WGSL keywords, reserved words and the builtins this printer calls: IR names that clash get a `_`. */
const RESERVED = new Set(
  (
    "alias break case const const_assert continue continuing default diagnostic discard else enable false fn for if " +
    "let loop override requires return struct switch true var while f16 f32 i32 u32 bool vec2 vec3 vec4 mat2x2 array " +
    "atomic ptr sampler texture_2d NULL Self abstract active alignas alignof as asm asm_fragment async attribute auto " +
    "await become cast catch class co_await co_return co_yield coherent column_major common compile compile_fragment " +
    "concept const_cast consteval constexpr constinit crate debugger decltype delete demote demote_to_helper do " +
    "dynamic_cast enum explicit export extends extern external fallthrough filter final finally friend from fxgroup " +
    "get goto groupshared highp impl implements import inline instanceof interface layout lowp macro macro_rules " +
    "match mediump meta mod module move mut mutable namespace new nil noexcept noinline nointerpolation non_coherent " +
    "noncoherent noperspective null nullptr of operator package packoffset partition pass patch pixelfragment " +
    "precise precision premerge priv protected pub public readonly ref regardless register reinterpret_cast require " +
    "resource restrict self set shared sizeof smooth snorm static static_assert static_cast std subroutine super " +
    "target template this thread_local throw trait try type typedef typeid typename typeof union unless unorm unsafe " +
    "unsized use using varying virtual volatile wgsl where with writeonly yield select bitcast min max abs floor " +
    "countLeadingZeros atomicLoad atomicAnd atomicOr main"
  ).split(" "),
);
const id = (name: string) => (RESERVED.has(name) ? `${name}_` : name);

/** An exact WGSL spelling of an f32 value; specials and subnormals go through bits (never a const-expression). */
function f32Literal(v: number): string {
  const bits = new Uint32Array(Float32Array.of(v).buffer)[0];
  const exp = (bits >>> 23) & 0xff;
  if (exp === 0xff || (exp === 0 && bits !== 0) || bits === 0x80000000)
    return `qkc_f32(0x${bits.toString(16)}u)`;
  if (Number.isInteger(v) && Math.abs(v) < 2 ** 24) return v < 0 ? `(${v}f)` : `${v}f`;
  const frac = ((bits & 0x7fffff) << 1).toString(16).padStart(6, "0").replace(/0+$/, "") || "0";
  return `(${bits >>> 31 ? "-" : ""}0x1.${frac}p${exp - 127}f)`;
}

function printExpr(e: Expr, atomic: ReadonlySet<string>, exact: boolean): string {
  const p = (x: Expr) => printExpr(x, atomic, exact);
  const safe = exact ? flushSafeCall(e) : undefined;
  if (safe && e.op === "binary") return `${safe}(${p(e.a)}, ${p(e.b)})`;
  if (safe && e.op === "unary") return `${safe}(${p(e.a)})`;
  switch (e.op) {
    case "const":
      if (e.type === "f32") return f32Literal(e.value as number);
      if (e.type === "bool") return String(e.value);
      if (e.type === "u32") return `${(e.value as number) >>> 0}u`;
      return (e.value as number) < 0 ? `i32(${e.value})` : `${e.value}i`;
    case "var":
      return id(e.name);
    case "load":
      return atomic.has(e.buffer)
        ? `atomicLoad(&${id(e.buffer)}[${p(e.index)}])`
        : `${id(e.buffer)}[${p(e.index)}]`;
    case "table":
      if (e.table === F16_TABLE) return `qkc_half(${p(e.index)})`;
      throw new Error(`table ${e.table}: legalize the kernel first`);
    case "binary": {
      const [a, b] = [p(e.a), p(e.b)];
      if (e.kind === "min" || e.kind === "max") return `${e.kind}(${a}, ${b})`;
      if (e.kind === "div" && e.type === "f32") return `qkc_div(${a}, ${b})`;
      if (e.kind === "shl" || e.kind === "shr") {
        const count =
          e.b.op === "const" ? `${((e.b.value as number) & 31) >>> 0}u` : `(u32(${b}) & 31u)`;
        return `(${a} ${INFIX[e.kind]} ${count})`;
      }
      if (e.a.type === "bool") {
        const op = { and: "&&", or: "||", xor: "!=", eq: "==", ne: "!=" }[e.kind as string];
        if (op) return `(${a} ${op} ${b})`;
      }
      return `(${a} ${INFIX[e.kind]} ${b})`;
    }
    case "unary": {
      const a = p(e.a);
      switch (e.kind) {
        case "neg":
          return `(-${a})`;
        case "abs":
          return `abs(${a})`;
        case "floor":
          return `floor(${a})`;
        case "not":
          return e.type === "bool" ? `(!${a})` : `(~${a})`;
        case "clz":
          return `countLeadingZeros(${a})`;
      }
      break;
    }
    case "select":
      return `select(${p(e.b)}, ${p(e.a)}, ${p(e.cond)})`;
    case "bitcast":
      return e.a.type === e.type ? p(e.a) : `bitcast<${e.type}>(${p(e.a)})`;
    case "convert":
      return e.a.type === e.type ? p(e.a) : `${e.type}(${p(e.a)})`;
    case "random":
      return `qkc_random(${p(e.seedLo)}, ${p(e.seedHi)}, u32(${p(e.index)}), ${e.bits}u)`;
  }
  throw new Error(`cannot print ${JSON.stringify(e).slice(0, 60)}`);
}

class Printer {
  readonly out: string[] = [];
  private ends = 0;
  constructor(
    private readonly atomic: ReadonlySet<string>,
    private readonly mutable: ReadonlySet<string>,
    /** invocations sharing a `max_reduce`, and whether they combine through subgroupMax first */
    private readonly reduce: { readonly size: number; readonly subgroups: boolean },
    /** f32 operations that may meet subnormals go through subnormal.ts */
    private readonly exact: boolean,
  ) {}
  expr = (e: Expr) => printExpr(e, this.atomic, this.exact);

  stmts(list: readonly WStmt[], indent: string, declared: Set<string>): void {
    const out = this.out;
    for (const s of list) {
      switch (s.op) {
        case "let": {
          const v = this.expr(s.value);
          if (declared.has(s.name)) out.push(`${indent}${id(s.name)} = ${v};`);
          else
            out.push(
              `${indent}${this.mutable.has(s.name) ? "var" : "let"} ${id(s.name)}: ${s.type} = ${v};`,
            );
          declared.add(s.name);
          break;
        }
        case "assign":
          out.push(`${indent}${id(s.name)} = ${this.expr(s.value)};`);
          break;
        case "store":
          out.push(`${indent}${id(s.buffer)}[${this.expr(s.index)}] = ${this.expr(s.value)};`);
          break;
        case "store_bits": {
          const mask = s.bits === 8 ? "0xffu" : "0xffffu";
          const w = `&${id(s.buffer)}[${this.expr(s.word)}]`;
          const sh = this.expr(s.shift);
          out.push(`${indent}atomicAnd(${w}, ~(${mask} << ${sh}));`);
          out.push(`${indent}atomicOr(${w}, (${this.expr(s.value)} & ${mask}) << ${sh});`);
          break;
        }
        case "if":
          out.push(`${indent}if (${this.expr(s.cond)}) {`);
          this.stmts(s.then, indent + "  ", new Set(declared));
          if (s.else?.length) {
            out.push(`${indent}} else {`);
            this.stmts(s.else, indent + "  ", new Set(declared));
          }
          out.push(`${indent}}`);
          break;
        case "lead":
          out.push(`${indent}if (qkc_lead) {`);
          this.stmts(s.body, indent + "  ", new Set(declared));
          out.push(`${indent}}`);
          break;
        case "for": {
          const end = `qkc_end_${this.ends++}`;
          const v = id(s.var);
          out.push(`${indent}let ${end}: i32 = ${this.expr(s.end)};`);
          out.push(`${indent}for (var ${v}: i32 = ${this.expr(s.start)}; ${v} < ${end}; ${v}++) {`);
          this.stmts(s.body, indent + "  ", new Set([...declared, s.var]));
          out.push(`${indent}}`);
          break;
        }
        case "max_reduce": {
          // invocation lid scans iterations lid, lid + size, ...; the partial maxima meet in a workgroup atomic
          const l = s.loop;
          const end = `qkc_end_${this.ends++}`;
          const v = id(l.var);
          const acc = id(s.acc);
          const slot = `qkc_max_${s.slot}`;
          out.push(`${indent}let ${end}: i32 = ${this.expr(l.end)};`);
          out.push(
            `${indent}for (var ${v}: i32 = ${this.expr(l.start)} + i32(qkc_lid); ${v} < ${end}; ${v} += ${this.reduce.size}i) {`,
          );
          this.stmts(l.body, indent + "  ", new Set([...declared, l.var]));
          out.push(`${indent}}`);
          if (this.reduce.subgroups) {
            out.push(`${indent}let ${slot}_sub: u32 = subgroupMax(bitcast<u32>(${acc}));`);
            out.push(`${indent}if (subgroupElect()) {`);
            out.push(`${indent}  atomicMax(&${slot}, ${slot}_sub);`);
            out.push(`${indent}}`);
          } else out.push(`${indent}atomicMax(&${slot}, bitcast<u32>(${acc}));`);
          out.push(`${indent}workgroupBarrier();`);
          out.push(`${indent}${acc} = bitcast<f32>(atomicLoad(&${slot}));`);
          break;
        }
        case "comment":
          out.push(`${indent}// ${s.text.replace(/[\r\n]+/g, " ")}`);
          break;
      }
    }
  }
}

/**
 * IEEE binary32 division rounded to nearest even, on the bits: specials first,
 * then both significands normalized (subnormals too, so an engine that flushes
 * them still divides them right), 25 quotient bits by long division, a sticky
 * bit from the remainder, and the rounding. A NaN result is the canonical one.
 */
const DIVIDE = `fn qkc_div(a: f32, b: f32) -> f32 {
  let ua = bitcast<u32>(a);
  let ub = bitcast<u32>(b);
  let sign = (ua ^ ub) & 0x80000000u;
  let xa = ua & 0x7fffffffu;
  let xb = ub & 0x7fffffffu;
  let nan = xa > 0x7f800000u || xb > 0x7f800000u || (xa == xb && (xa == 0u || xa == 0x7f800000u));
  if (nan) {
    return qkc_f32(0x7fc00000u);
  }
  if (xa == 0x7f800000u || xb == 0u) {
    return qkc_f32(sign | 0x7f800000u);
  }
  if (xa == 0u || xb == 0x7f800000u) {
    return qkc_f32(sign);
  }
  var ea = i32(xa >> 23u);
  var ma = xa & 0x7fffffu;
  if (ea == 0) {
    let s = countLeadingZeros(ma) - 8u;
    ma = ma << s;
    ea = 1 - i32(s);
  } else {
    ma = ma | 0x800000u;
  }
  var eb = i32(xb >> 23u);
  var mb = xb & 0x7fffffu;
  if (eb == 0) {
    let s = countLeadingZeros(mb) - 8u;
    mb = mb << s;
    eb = 1 - i32(s);
  } else {
    mb = mb | 0x800000u;
  }
  var e = ea - eb + 127;
  var rem = ma;
  if (rem < mb) {
    rem = rem << 1u;
    e = e - 1;
  }
  var q = 0u;
  for (var i = 0; i < 25; i++) {
    q = q << 1u;
    if (rem >= mb) {
      rem = rem - mb;
      q = q | 1u;
    }
    rem = rem << 1u;
  }
  if (e >= 255) {
    return qkc_f32(sign | 0x7f800000u);
  }
  var sticky = rem != 0u;
  if (e <= 0) {
    let sh = u32(1 - e);
    if (sh >= 26u) {
      sticky = sticky || q != 0u;
      q = 0u;
    } else {
      sticky = sticky || (q & ((1u << sh) - 1u)) != 0u;
      q = q >> sh;
    }
    e = 0;
  }
  var mant = q >> 1u;
  if ((q & 1u) != 0u && (sticky || (mant & 1u) != 0u)) {
    mant = mant + 1u;
  }
  let bits = select(u32(e - 1) << 23u, 0u, e == 0) + mant;
  return qkc_f32(sign | min(bits, 0x7f800000u));
}
`;

// qkc_mulhi (the high word of a u32 product) comes from subnormal.ts
const PHILOX = `// the top \`bits\` bits of Philox4x32-10 word index & 3 of counter (index >> 2, 0, 0, 0)
fn qkc_random(seed_lo: u32, seed_hi: u32, index: u32, bits: u32) -> u32 {
  var k0 = seed_lo;
  var k1 = seed_hi;
  var c0 = index >> 2u;
  var c1 = 0u;
  var c2 = 0u;
  var c3 = 0u;
  for (var r = 0; r < 10; r++) {
    if (r > 0) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    let n0 = qkc_mulhi(0xCD9E8D57u, c2) ^ c1 ^ k0;
    let n2 = qkc_mulhi(0xD2511F53u, c0) ^ c3 ^ k1;
    c1 = 0xCD9E8D57u * c2;
    c3 = 0xD2511F53u * c0;
    c0 = n0;
    c2 = n2;
  }
  let lane = index & 3u;
  let word = select(select(c3, c2, lane == 2u), select(c1, c0, lane == 0u), lane < 2u);
  return select(word >> ((32u - bits) & 31u), word, bits >= 32u);
}
`;

const toBits = (v: string, t: ScalarType) =>
  t === "u32" ? v : t === "bool" ? `select(0u, 1u, ${v})` : `bitcast<u32>(${v})`;
const fromBits = (w: string, t: ScalarType) =>
  t === "u32" ? w : t === "bool" ? `(${w} != 0u)` : `bitcast<${t}>(${w})`;

function usesRandom(list: readonly WStmt[]): boolean {
  return JSON.stringify(list).includes('"op":"random"');
}

function bufferDecl(b: WgslBuffer, binding: number): string {
  const elem = b.atomic ? "atomic<u32>" : b.words ? "u32" : b.elem === "f32" ? "f32" : "u32";
  const access = b.access === "read" ? "read" : "read_write";
  return `@group(0) @binding(${binding}) var<storage, ${access}> ${id(b.name)}: array<${elem}>;`;
}

/** Prints a kernel (legalizing it first when given KernelIR). */
export function emitWgsl(kernel: Kernel | LegalKernel, options: WgslOptions = {}): WgslShader {
  const k = "prefix" in kernel ? kernel : legalize(kernel, { f16: options.f16 });
  const wg = options.workgroupSize ?? 64;
  const per = options.perInvocation ?? 1;
  for (const [what, v, max] of [
    ["workgroup size", wg, 256],
    ["elements per invocation", per, 1 << 16],
  ] as const)
    if (!Number.isInteger(v) || v < 1 || v > max)
      throw new RangeError(`WGSL ${what} must be an integer in 1..${max}, got ${v}`);
  const atomic = new Set(k.buffers.filter((b) => b.atomic).map((b) => b.name));
  const all = [...k.prefix, ...k.body];
  const { assigned, redeclared } = effectsOf(all);
  const maxima = k.prefix.filter((s) => s.op === "max_reduce").length;
  const subgroups = options.subgroups === true && maxima > 0;
  const exact = options.subnormals !== "hardware";
  const p = new Printer(
    atomic,
    new Set([...assigned, ...redeclared]),
    { size: wg, subgroups },
    exact,
  );
  const entry = id(k.name);
  const out: string[] = [`// qkc: kernel ${k.name}`];
  if (k.f16) out.push("enable f16;");
  if (subgroups) out.push("enable subgroups;");
  if (k.scalars.length) {
    out.push("struct QkcScalars {");
    for (const s of k.scalars) out.push(`  ${id(s.name)}: ${s.type as ScalarType},`);
    out.push("}", "@group(0) @binding(0) var<uniform> qkc_scalars: QkcScalars;");
  }
  k.buffers.forEach((b, j) => out.push(bufferDecl(b, j + 1)));
  for (let j = 0; j < maxima; j++) out.push(`var<workgroup> qkc_max_${j}: atomic<u32>;`);
  out.push("", "fn qkc_f32(bits: u32) -> f32 {", "  return bitcast<f32>(bits);", "}");
  if (k.f16)
    out.push(
      "",
      "// subnormal halves by an integer conversion: an engine may flush f16 subnormals",
      "fn qkc_half(bits: u32) -> f32 {",
      "  let sub = bitcast<u32>(f32(bits & 0x3ffu) * 0x1p-24f) | ((bits & 0x8000u) << 16u);",
      "  return select(f32(bitcast<vec2<f16>>(bits & 0xffffu).x), bitcast<f32>(sub), (bits & 0x7c00u) == 0u);",
      "}",
    );
  if (usesRandom(all)) out.push("", PHILOX.trimEnd());
  const scalarLets = k.scalars.map(
    (s) => `  let ${id(s.name)}: ${s.type} = qkc_scalars.${id(s.name)};`,
  );
  const declared = new Set(k.scalars.map((s) => s.name));
  const prefixEntry = k.state ? `${entry}_prefix` : undefined;
  if (k.state) {
    // the looping prefix runs once; its values reach the main entry point through qkc_state
    // (a workgroup when its loops are maxima it can share, else one invocation)
    out.push(
      "",
      `@compute @workgroup_size(${maxima ? wg : 1})`,
      `fn ${prefixEntry}(@builtin(local_invocation_index) qkc_lid: u32) {`,
      "  let qkc_lead = qkc_lid == 0u;",
    );
    out.push(...scalarLets);
    p.stmts(k.prefix, "  ", new Set(declared));
    out.push(...p.out.splice(0), "  if (qkc_lead) {");
    k.state.forEach((v, j) =>
      out.push(`    ${STATE_BUFFER}[${j}] = ${toBits(id(v.name), v.type)};`),
    );
    out.push("  }", "}");
  }
  out.push(
    "",
    `@compute @workgroup_size(${wg})`,
    `fn ${entry}(@builtin(workgroup_id) qkc_wid: vec3<u32>, @builtin(num_workgroups) qkc_nwg: vec3<u32>, @builtin(local_invocation_index) qkc_lid: u32) {`,
    "  let qkc_group = i32(qkc_wid.x + qkc_wid.y * qkc_nwg.x);",
    "  let qkc_lead = qkc_group == 0i && qkc_lid == 0u;",
    ...scalarLets,
  );
  if (k.state) {
    k.state.forEach((v, j) => {
      out.push(`  let ${id(v.name)}: ${v.type} = ${fromBits(`${STATE_BUFFER}[${j}]`, v.type)};`);
      declared.add(v.name);
    });
  } else {
    p.stmts(k.prefix, "  ", declared);
    out.push(...p.out.splice(0));
  }
  out.push(`  let qkc_count: i32 = ${p.expr(k.count)};`);
  out.push(`  for (var qkc_k: i32 = 0i; qkc_k < ${per}i; qkc_k++) {`);
  out.push(`    let ${k.iteration}: i32 = (qkc_group * ${per}i + qkc_k) * ${wg}i + i32(qkc_lid);`);
  out.push(`    if (${k.iteration} >= qkc_count) {`, "      break;", "    }");
  p.stmts(k.body, "    ", new Set(declared));
  out.push(...p.out.splice(0), "  }", "}", "");
  if (out.some((line) => line.includes("qkc_div("))) out.push(DIVIDE);
  for (const helper of helpersFor(out.join("\n"))) out.push(helper, "");
  return {
    kernel: k,
    name: k.name,
    code: out.join("\n"),
    entryPoint: entry,
    ...(prefixEntry ? { prefixEntryPoint: prefixEntry, stateWords: k.state!.length } : {}),
    workgroupSize: wg,
    perInvocation: per,
    scalars: k.scalars,
    buffers: k.buffers,
    hostCount: k.hostCount,
    tableWords: k.tableWords,
    features: [...(k.f16 ? ["shader-f16"] : []), ...(subgroups ? ["subgroups"] : [])],
  };
}

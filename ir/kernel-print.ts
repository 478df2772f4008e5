/** KernelIR as readable text, for `qkc compile --dump-ir` and snapshot tests. */
import type { Expr, Kernel, Stmt } from "./kernel.js";

/** C-family spelling of the infix binary ops (shared by the printers of C-like targets) */
export const INFIX: Record<string, string> = {
  add: "+",
  sub: "-",
  mul: "*",
  div: "/",
  and: "&",
  or: "|",
  xor: "^",
  shl: "<<",
  shr: ">>",
  eq: "==",
  ne: "!=",
  lt: "<",
  le: "<=",
  gt: ">",
  ge: ">=",
};

export function printExpr(e: Expr): string {
  switch (e.op) {
    case "const":
      return e.type === "f32"
        ? `${Object.is(e.value, -0) ? "-0" : String(e.value)}f`
        : e.type === "u32"
          ? `${e.value}u`
          : String(e.value);
    case "var":
      return e.name;
    case "load":
      return `${e.buffer}[${printExpr(e.index)}]`;
    case "binary":
      return INFIX[e.kind]
        ? `(${printExpr(e.a)} ${INFIX[e.kind]} ${printExpr(e.b)})`
        : `${e.kind}(${printExpr(e.a)}, ${printExpr(e.b)})`;
    case "unary":
      return `${e.kind}(${printExpr(e.a)})`;
    case "select":
      return `select(${printExpr(e.cond)}, ${printExpr(e.a)}, ${printExpr(e.b)})`;
    case "bitcast":
      return `bitcast<${e.type}>(${printExpr(e.a)})`;
    case "convert":
      return `${e.type}(${printExpr(e.a)})`;
    case "table":
      return `${e.table}[${printExpr(e.index)}]`;
    case "random":
      return `philox_bits${e.bits}(${printExpr(e.seedLo)}, ${printExpr(e.seedHi)}, ${printExpr(e.index)})`;
  }
}

function printStmts(stmts: readonly Stmt[], indent: string, out: string[]): void {
  for (const s of stmts) {
    switch (s.op) {
      case "let":
        out.push(`${indent}let ${s.name}: ${s.type} = ${printExpr(s.value)}`);
        break;
      case "assign":
        out.push(`${indent}${s.name} = ${printExpr(s.value)}`);
        break;
      case "store":
        out.push(`${indent}${s.buffer}[${printExpr(s.index)}] = ${printExpr(s.value)}`);
        break;
      case "if":
        out.push(`${indent}if ${printExpr(s.cond)} {`);
        printStmts(s.then, indent + "  ", out);
        if (s.else?.length) {
          out.push(`${indent}} else {`);
          printStmts(s.else, indent + "  ", out);
        }
        out.push(`${indent}}`);
        break;
      case "for":
        out.push(`${indent}for ${s.var} in ${printExpr(s.start)}..${printExpr(s.end)} {`);
        printStmts(s.body, indent + "  ", out);
        out.push(`${indent}}`);
        break;
      case "comment":
        out.push(`${indent}// ${s.text}`);
        break;
    }
  }
}

export function printKernel(k: Kernel): string {
  const params = k.params.map((p) =>
    p.kind === "buffer" ? `${p.name}: ${p.access} ${p.elem}[]` : `${p.name}: ${p.type}`,
  );
  const out = [`kernel ${k.name}(${params.join(", ")})${k.contract ? " contract" : ""} {`];
  for (const t of k.tables) {
    const shown = t.values.length > 256 ? [...t.values.slice(0, 16), "..."] : t.values;
    out.push(`  table ${t.name}: ${t.type}[${t.values.length}] = [${shown.join(", ")}]`);
  }
  printStmts(k.body, "  ", out);
  out.push("}");
  return out.join("\n");
}

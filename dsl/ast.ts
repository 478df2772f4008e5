/**
 * The typed AST of a .qs file. Syntax is deliberately uniform: every field value
 * is an expression, and the checker gives it meaning (a format reference, a
 * number, a 2-D tile `16 x 16`, a rule with options `e8m0 { rule: floor }`).
 */

export interface Loc {
  /** offsets into the source text, end exclusive */
  start: number;
  end: number;
  line: number;
  column: number;
}

export type Expr =
  | { kind: "number"; value: number; text: string; loc: Loc }
  | { kind: "string"; value: string; loc: Loc }
  /** `name`, `name(args)`, `name { fields }`, `name(args) { fields }` */
  | { kind: "ref"; name: string; nameLoc: Loc; args?: Arg[]; body?: Field[]; loc: Loc }
  | { kind: "binary"; op: "+" | "-" | "*" | "/" | "^" | "x"; left: Expr; right: Expr; loc: Loc }
  | { kind: "unary"; op: "-" | "+"; operand: Expr; loc: Loc }
  | { kind: "paren"; inner: Expr; loc: Loc }
  | { kind: "list"; items: Expr[]; loc: Loc };

export interface Arg {
  name?: string;
  value: Expr;
  loc: Loc;
}

export interface Field {
  name: string;
  nameLoc: Loc;
  value: Expr;
  loc: Loc;
}

export type Decl =
  | { kind: "import"; path: string; pathLoc: Loc; loc: Loc }
  /** format NAME = float|int|table { fields } */
  | { kind: "format"; name: string; nameLoc: Loc; value: Expr; loc: Loc }
  /** scheme NAME [extends BASE] { fields } */
  | { kind: "scheme"; name: string; nameLoc: Loc; base?: { name: string; loc: Loc }; fields: Field[]; loc: Loc }
  /** kernel NAME = quantize(scheme, ...) { fields } */
  | { kind: "kernel"; name: string; nameLoc: Loc; value: Expr; loc: Loc };

export interface Comment {
  text: string;
  loc: Loc;
}

export interface QsFile {
  kind: "file";
  decls: Decl[];
  comments: Comment[];
  loc: Loc;
}

/**
 * The .qs grammar (chevrotain CstParser, with error recovery) and the
 * conversion of its concrete syntax tree into the typed AST of ast.ts.
 */
import { CstParser, type CstNode, type IToken, type IRecognitionException } from "chevrotain";
import * as T from "./lexer.js";
import type { Arg, Comment, Decl, Expr, Field, Loc, QsFile } from "./ast.js";
import { Diagnostic } from "./diagnostics.js";

class QsParser extends CstParser {
  constructor() {
    super(T.allTokens, { recoveryEnabled: true, maxLookahead: 3, nodeLocationTracking: "full" });
    this.performSelfAnalysis();
  }

  file = this.RULE("file", () => {
    this.MANY(() => this.SUBRULE(this.decl));
  });

  decl = this.RULE("decl", () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.importDecl) },
      { ALT: () => this.SUBRULE(this.formatDecl) },
      { ALT: () => this.SUBRULE(this.schemeDecl) },
      { ALT: () => this.SUBRULE(this.kernelDecl) },
    ]);
  });

  importDecl = this.RULE("importDecl", () => {
    this.CONSUME(T.Import);
    this.CONSUME(T.StringLiteral);
  });

  formatDecl = this.RULE("formatDecl", () => {
    this.CONSUME(T.Format);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expression);
  });

  kernelDecl = this.RULE("kernelDecl", () => {
    this.CONSUME(T.Kernel);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expression);
  });

  schemeDecl = this.RULE("schemeDecl", () => {
    this.CONSUME(T.Scheme);
    this.CONSUME(T.Identifier);
    this.OPTION(() => {
      this.CONSUME(T.Extends);
      this.CONSUME2(T.Identifier);
    });
    this.SUBRULE(this.body);
  });

  /** `{ name: value, ... }`; commas between fields are optional, a trailing one is allowed */
  body = this.RULE("body", () => {
    this.CONSUME(T.LBrace);
    this.MANY(() => {
      this.SUBRULE(this.field);
      this.OPTION(() => this.CONSUME(T.Comma));
    });
    this.CONSUME(T.RBrace);
  });

  field = this.RULE("field", () => {
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Colon);
    this.SUBRULE(this.value);
  });

  /** an expression, or a 2-D tile `rows x cols` */
  value = this.RULE("value", () => {
    this.OR([
      { ALT: () => this.CONSUME(T.TileLiteral) },
      {
        ALT: () => {
          this.SUBRULE(this.expression);
          this.OPTION(() => {
            this.CONSUME(T.Times);
            this.SUBRULE2(this.expression);
          });
        },
      },
    ]);
  });

  expression = this.RULE("expression", () => {
    this.SUBRULE(this.term);
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(T.Plus) }, { ALT: () => this.CONSUME(T.Minus) }]);
      this.SUBRULE2(this.term);
    });
  });

  term = this.RULE("term", () => {
    this.SUBRULE(this.unary);
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(T.Star) }, { ALT: () => this.CONSUME(T.Slash) }]);
      this.SUBRULE2(this.unary);
    });
  });

  unary = this.RULE("unary", () => {
    this.OR([
      {
        ALT: () => {
          this.OR2([{ ALT: () => this.CONSUME(T.Minus) }, { ALT: () => this.CONSUME(T.Plus) }]);
          this.SUBRULE(this.unary);
        },
      },
      { ALT: () => this.SUBRULE(this.power) },
    ]);
  });

  /** `a ^ b`, right-associative, binding tighter than unary minus on its left: -2^2 = -(2^2), 2^-6 = 2^(-6) */
  power = this.RULE("power", () => {
    this.SUBRULE(this.primary);
    this.OPTION(() => {
      this.CONSUME(T.Caret);
      this.SUBRULE(this.unary);
    });
  });

  primary = this.RULE("primary", () => {
    this.OR([
      { ALT: () => this.CONSUME(T.NumberLiteral) },
      { ALT: () => this.CONSUME(T.StringLiteral) },
      { ALT: () => this.SUBRULE(this.list) },
      { ALT: () => this.SUBRULE(this.paren) },
      { ALT: () => this.SUBRULE(this.reference) },
    ]);
  });

  paren = this.RULE("paren", () => {
    this.CONSUME(T.LParen);
    this.SUBRULE(this.expression);
    this.CONSUME(T.RParen);
  });

  list = this.RULE("list", () => {
    this.CONSUME(T.LBracket);
    this.MANY(() => {
      this.SUBRULE(this.value);
      this.OPTION(() => this.CONSUME(T.Comma));
    });
    this.CONSUME(T.RBracket);
  });

  /** `name`, `name(args)`, `name { fields }`, `name(args) { fields }` */
  reference = this.RULE("reference", () => {
    this.CONSUME(T.Identifier);
    this.OPTION(() => {
      this.CONSUME(T.LParen);
      this.MANY(() => {
        this.SUBRULE(this.arg);
        this.OPTION2(() => this.CONSUME(T.Comma));
      });
      this.CONSUME(T.RParen);
    });
    this.OPTION3(() => this.SUBRULE(this.body));
  });

  arg = this.RULE("arg", () => {
    this.OPTION(() => {
      this.CONSUME(T.Identifier);
      this.CONSUME(T.Colon);
    });
    this.SUBRULE(this.value);
  });
}

const parser = new QsParser();

export interface ParseResult {
  file: QsFile;
  diagnostics: Diagnostic[];
}

/** Parses .qs text; never throws. Syntax errors come back as diagnostics, and the AST holds what could be recovered. */
export function parseQs(text: string, fileName: string): ParseResult {
  const diagnostics: Diagnostic[] = [];
  const lexed = T.qsLexer.tokenize(text);
  for (const e of lexed.errors) {
    const ch = text.slice(e.offset, e.offset + e.length);
    diagnostics.push(
      new Diagnostic("error", `unexpected character '${ch}'`, {
        file: fileName,
        loc: { start: e.offset, end: e.offset + Math.max(1, e.length), line: e.line ?? 1, column: e.column ?? 1 },
        hint: "remove it; comments start with // or /*",
      }),
    );
  }
  parser.input = lexed.tokens;
  const cst = parser.file();
  for (const e of parser.errors) diagnostics.push(syntaxDiagnostic(e, text, fileName));
  const comments: Comment[] = (lexed.groups.comments ?? []).map((t: IToken) => ({ text: t.image, loc: tokenLoc(t) }));
  const decls = children(cst, "decl").map(toDecl).filter((d): d is Decl => d !== undefined);
  const file: QsFile = { kind: "file", decls, comments, loc: { start: 0, end: text.length, line: 1, column: 1 } };
  return { file, diagnostics };
}

const EXPECTED_HINT: Record<string, string> = {
  Colon: "write fields as `name: value`",
  RBrace: "close the block with `}`",
  RParen: "close the parenthesis with `)`",
  RBracket: "close the list with `]`",
  Equals: "write `format NAME = float { ... }` or `kernel NAME = quantize(scheme)`",
  Identifier: "a name is expected here",
  LBrace: "write the fields in braces: `scheme NAME { element: e2m1 ... }`",
};

function syntaxDiagnostic(e: IRecognitionException, text: string, fileName: string): Diagnostic {
  let tok = e.token;
  if (tok.tokenType.name === "EOF" || Number.isNaN(tok.startOffset)) tok = (e as { previousToken?: IToken }).previousToken ?? tok;
  const atEnd = e.token.tokenType.name === "EOF";
  const loc = Number.isNaN(tok.startOffset)
    ? { start: text.length, end: text.length, line: lineCount(text), column: 1 }
    : atEnd
      ? { ...tokenLoc(tok), start: tok.endOffset! + 1, end: tok.endOffset! + 1, column: (tok.endColumn ?? 0) + 1 }
      : tokenLoc(tok);
  const expected = /Expecting (?:token of type )?--> (\w+) <--/.exec(e.message)?.[1];
  const found = atEnd ? "the end of the file" : `'${e.token.image}'`;
  const rule = e.context?.ruleStack?.at(-1);
  const wantsValue = rule !== undefined && ["primary", "unary", "power", "term", "expression", "value"].includes(rule);
  let message: string;
  if (expected) message = `expected ${describeToken(expected)} but found ${found}`;
  else if (wantsValue) message = `expected a value (a number, a name, a list) but found ${found}`;
  else if (e.name === "NoViableAltException") message = `unexpected ${found} here`;
  else if (e.name === "NotAllInputParsedException") message = `unexpected ${found}: a declaration (format, scheme, kernel, import) is expected`;
  else message = `unexpected ${found}`;
  let hint = expected ? EXPECTED_HINT[expected] : undefined;
  if (wantsValue) hint ??= "give the field a value, e.g. `bits: 4` or `element: e2m1`";
  if (e.name === "NotAllInputParsedException" || (e.name === "NoViableAltException" && !hint))
    hint ??= "declarations start with `format`, `scheme`, `kernel` or `import`";
  return new Diagnostic("error", message, { file: fileName, loc, hint });
}

function describeToken(name: string): string {
  const punct: Record<string, string> = {
    Colon: "':'",
    Comma: "','",
    Equals: "'='",
    LBrace: "'{'",
    RBrace: "'}'",
    LParen: "'('",
    RParen: "')'",
    LBracket: "'['",
    RBracket: "']'",
    Identifier: "a name",
    NumberLiteral: "a number",
    StringLiteral: "a string in double quotes",
  };
  return punct[name] ?? `'${name.toLowerCase()}'`;
}

const lineCount = (text: string) => text.split("\n").length;

// ---- CST -> AST ----------------------------------------------------------

type Node = CstNode;

function children(n: Node | undefined, key: string): Node[] {
  return (n?.children[key] as Node[] | undefined) ?? [];
}
function child(n: Node | undefined, key: string): Node | undefined {
  return children(n, key)[0];
}
function tokens(n: Node | undefined, key: string): IToken[] {
  return (n?.children[key] as IToken[] | undefined)?.filter((t) => !t.isInsertedInRecovery) ?? [];
}
function token(n: Node | undefined, key: string, i = 0): IToken | undefined {
  return tokens(n, key)[i];
}

export function tokenLoc(t: IToken): Loc {
  return { start: t.startOffset, end: (t.endOffset ?? t.startOffset) + 1, line: t.startLine ?? 1, column: t.startColumn ?? 1 };
}

function span(a: Loc, b: Loc): Loc {
  return { start: a.start, end: Math.max(a.end, b.end), line: a.line, column: a.column };
}

function nodeLoc(n: Node): Loc | undefined {
  const l = n.location;
  if (!l || Number.isNaN(l.startOffset)) return undefined;
  return { start: l.startOffset, end: (l.endOffset ?? l.startOffset) + 1, line: l.startLine ?? 1, column: l.startColumn ?? 1 };
}

function toDecl(n: Node): Decl | undefined {
  const [kind] = Object.keys(n.children);
  const d = child(n, kind);
  const loc = d && nodeLoc(d);
  if (!d || !loc) return undefined;
  if (kind === "importDecl") {
    const s = token(d, "StringLiteral");
    if (!s) return undefined;
    return { kind: "import", path: unquote(s.image), pathLoc: tokenLoc(s), loc };
  }
  const name = token(d, "Identifier");
  if (!name) return undefined;
  const named = { name: name.image, nameLoc: tokenLoc(name), loc };
  if (kind === "schemeDecl") {
    const base = token(d, "Identifier", 1);
    return {
      kind: "scheme",
      ...named,
      base: base && { name: base.image, loc: tokenLoc(base) },
      fields: toBody(child(d, "body")),
    };
  }
  const value = toExpr(child(d, "expression"));
  if (!value) return undefined;
  return { kind: kind === "formatDecl" ? "format" : "kernel", ...named, value };
}

function toBody(n: Node | undefined): Field[] {
  return children(n, "field").flatMap((f) => {
    const name = token(f, "Identifier");
    const value = toValue(child(f, "value"));
    const loc = nodeLoc(f);
    return name && value && loc ? [{ name: name.image, nameLoc: tokenLoc(name), value, loc }] : [];
  });
}

function toValue(n: Node | undefined): Expr | undefined {
  const tile = token(n, "TileLiteral");
  if (tile) {
    const loc = tokenLoc(tile);
    const [rows, cols] = tile.image.split("x");
    const left: Expr = { kind: "number", value: Number(rows), text: rows, loc: { ...loc, end: loc.start + rows.length } };
    const rightLoc = { ...loc, start: loc.end - cols.length, column: loc.column + rows.length + 1 };
    const right: Expr = { kind: "number", value: Number(cols), text: cols, loc: rightLoc };
    return { kind: "binary", op: "x", left, right, loc };
  }
  const [a, b] = children(n, "expression").map(toExpr);
  if (!a) return undefined;
  if (!tokens(n, "Times").length || !b) return a;
  return { kind: "binary", op: "x", left: a, right: b, loc: span(a.loc, b.loc) };
}

/** Folds `operand (op operand)*` left to right. */
function fold(n: Node, sub: string, ops: string[], conv: (n: Node) => Expr | undefined): Expr | undefined {
  const operands = children(n, sub).map(conv);
  const opTokens = ops.flatMap((k) => tokens(n, k)).sort((x, y) => x.startOffset - y.startOffset);
  let acc = operands[0];
  for (let i = 1; i < operands.length; i++) {
    const right = operands[i];
    if (!acc || !right) return acc;
    const op = opTokens[i - 1]?.image as "+" | "-" | "*" | "/";
    acc = { kind: "binary", op, left: acc, right, loc: span(acc.loc, right.loc) };
  }
  return acc;
}

function toExpr(n: Node | undefined): Expr | undefined {
  return n && fold(n, "term", ["Plus", "Minus"], toTerm);
}
function toTerm(n: Node): Expr | undefined {
  return fold(n, "unary", ["Star", "Slash"], toUnary);
}
function toUnary(n: Node): Expr | undefined {
  const op = token(n, "Minus") ?? token(n, "Plus");
  if (op) {
    const operand = toUnary(child(n, "unary")!);
    return operand && { kind: "unary", op: op.image as "-" | "+", operand, loc: span(tokenLoc(op), operand.loc) };
  }
  const p = child(n, "power");
  if (!p) return undefined;
  const base = toPrimary(child(p, "primary"));
  const exp = child(p, "unary");
  if (!base || !exp) return base;
  const right = toUnary(exp);
  return right && { kind: "binary", op: "^", left: base, right, loc: span(base.loc, right.loc) };
}

function toPrimary(n: Node | undefined): Expr | undefined {
  if (!n) return undefined;
  const num = token(n, "NumberLiteral");
  if (num) return { kind: "number", value: parseNumber(num.image), text: num.image, loc: tokenLoc(num) };
  const str = token(n, "StringLiteral");
  if (str) return { kind: "string", value: unquote(str.image), loc: tokenLoc(str) };
  const list = child(n, "list");
  if (list) {
    const loc = nodeLoc(list);
    const items = children(list, "value").map(toValue).filter((e): e is Expr => e !== undefined);
    return loc && { kind: "list", items, loc };
  }
  const paren = child(n, "paren");
  if (paren) {
    const inner = toExpr(child(paren, "expression"));
    const loc = nodeLoc(paren);
    return inner && loc && { kind: "paren", inner, loc };
  }
  const ref = child(n, "reference");
  const id = token(ref, "Identifier");
  const loc = ref && nodeLoc(ref);
  if (!ref || !id || !loc) return undefined;
  const hasArgs = tokens(ref, "LParen").length > 0;
  const args: Arg[] = children(ref, "arg").flatMap((a) => {
    const name = token(a, "Identifier");
    const value = toValue(child(a, "value"));
    const aloc = nodeLoc(a);
    return value && aloc ? [{ name: name?.image, value, loc: aloc }] : [];
  });
  const body = child(ref, "body");
  return {
    kind: "ref",
    name: id.image,
    nameLoc: tokenLoc(id),
    args: hasArgs ? args : undefined,
    body: body ? toBody(body) : undefined,
    loc,
  };
}

const ESCAPES: Record<string, string> = { n: "\n", t: "\t", r: "\r", '"': '"', "\\": "\\" };

/** The value of a string literal: backslash escapes \n \t \r \" \\; any other escaped character stands for itself. */
function unquote(image: string): string {
  return image.slice(1, -1).replace(/\\(.)/g, (_, c: string) => ESCAPES[c] ?? c);
}

function parseNumber(text: string): number {
  if (/^0[xX]/.test(text)) return parseInt(text.slice(2), 16);
  if (/^0[bB]/.test(text)) return parseInt(text.slice(2), 2);
  return Number(text);
}

/**
 * The prettier 3 plugin for .qs files: `prettier --plugin ./dist/dsl/prettier-plugin.js file.qs`,
 * editors with prettier support, and `qkc fmt` (dsl/format.ts).
 *
 * Parsing is dsl/parser.ts. The file's comments travel on the AST (`file.comments`), prettier
 * attaches each one to a node (leading, trailing, or dangling inside an empty body), and the
 * printer below prints them where they were. The canonical style:
 *
 * - top-level declarations separated by one blank line, except declarations written on
 *   consecutive lines, which stay together;
 * - `scheme` bodies one field per line, no commas (a blank line between two fields is kept);
 * - inline bodies (`e8m0 { rule: floor }`, kernel options) on one line when they fit, else one
 *   field per line without commas;
 * - call arguments like a JavaScript call: on one line, or one per line with a trailing comma;
 * - lists on one line, or broken with a trailing comma: lists of numbers fill the lines,
 *   other lists put one item per line;
 * - numbers and strings exactly as written; spaces around `+ - * / x`, none around `^`;
 *   unary signs attached; parentheses as written.
 */
import {
  doc,
  util,
  type AstPath,
  type Doc,
  type Parser,
  type ParserOptions,
  type Plugin,
  type Printer,
  type SupportLanguage,
} from "prettier";
import type { Arg, Comment, Decl, Expr, Field, QsFile } from "./ast.js";
import { parseQs } from "./parser.js";

const { group, indent, line, softline, hardline, join, ifBreak, fill } = doc.builders;

/** A comment as prettier handles it: the parser's comment, plus what prettier's attach step sets. */
interface CommentNode extends Comment {
  kind: "comment";
  /** prettier's own messages read `value` */
  value: string;
  leading?: boolean;
  trailing?: boolean;
  printed?: boolean;
  /** set by this plugin on the comments of a scheme's header, `scheme NAME /* here *\/ {` */
  marker?: "header";
}

/** Every node prettier sees. Fields and arguments have no `kind`; a field has a `nameLoc`. */
type Node = QsFile | Decl | Field | Arg | Expr | CommentNode;

type NodeType = (QsFile | Decl | Expr | CommentNode)["kind"] | "field" | "arg";

function typeOf(node: Node): NodeType {
  if ("kind" in node) return node.kind;
  return "nameLoc" in node ? "field" : "arg";
}

/** The comments prettier attached to a node. */
function commentsOf(node: Node): CommentNode[] {
  return (node as { comments?: CommentNode[] }).comments ?? [];
}

const isLineComment = (c: Comment) => c.text.startsWith("//");

/** Whether only spaces and tabs lie between `i` and the line break (or the text's end) in direction `step`. */
function onlyBlanksTo(text: string, i: number, step: 1 | -1): boolean {
  for (; i >= 0 && i < text.length; i += step) {
    const ch = text[i];
    if (ch === "\n" || ch === "\r") return true;
    if (ch !== " " && ch !== "\t") return false;
  }
  return true;
}

/** A line comment, or a block comment with only white space after it on its line: printed, it ends a line. */
const endsLine = (c: Comment, text: string) => isLineComment(c) || onlyBlanksTo(text, c.loc.end, 1);

/** A comment with only white space before it on its line. */
const startsLine = (c: Comment, text: string) => onlyBlanksTo(text, c.loc.start - 1, -1);

// ---- language and parser -------------------------------------------------

export const languages: SupportLanguage[] = [
  { name: "qs", parsers: ["qs"], extensions: [".qs"], vscodeLanguageIds: ["qs"] },
];

const qsParser: Parser<Node> = {
  astFormat: "qs-ast",
  parse(text, options) {
    const fileName = (options as { filepath?: string }).filepath ?? "<input>";
    const { file, diagnostics } = parseQs(text, fileName);
    const error = diagnostics.find((d) => d.severity === "error");
    if (error) throw new Error(error.headline);
    const comments: CommentNode[] = file.comments.map((c) => ({
      kind: "comment",
      text: c.text,
      value: c.text,
      loc: c.loc,
    }));
    const ast: QsFile = { ...file, comments };
    recordParents(ast);
    return ast;
  },
  locStart: (node) => node.loc.start,
  locEnd: (node) => node.loc.end,
};

export const parsers: Record<"qs", Parser<Node>> = { qs: qsParser };

/** `qkc fmt` formats at 100 columns; so does prettier itself with this plugin unless told otherwise. */
export const defaultOptions = { printWidth: 100 };

// ---- comments: where prettier attaches them --------------------------------

type Ref = Extract<Expr, { kind: "ref" }>;
type SchemeDecl = Extract<Decl, { kind: "scheme" }>;

/** The child-node keys of each node; never `loc`, `nameLoc`, `pathLoc`, `base` or `comments`. */
function visitorKeys(node: Node): string[] {
  switch (typeOf(node)) {
    case "file":
      return ["decls"];
    case "format":
    case "kernel":
    case "field":
    case "arg":
      return ["value"];
    case "scheme":
      return ["fields"];
    case "ref":
      return ["args", "body"];
    case "binary":
      return ["left", "right"];
    case "unary":
      return ["operand"];
    case "paren":
      return ["inner"];
    case "list":
      return ["items"];
    default:
      return []; // import, number, string, comment
  }
}

/** Skips white space and comments from `i`. */
function skipTrivia(text: string, i: number): number {
  for (;;) {
    while (i < text.length && /\s/.test(text[i])) i++;
    if (text.startsWith("//", i)) {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (text.startsWith("/*", i)) {
      const end = text.indexOf("*/", i + 2);
      i = end < 0 ? text.length : end + 2;
    } else {
      return i;
    }
  }
}

/** The offset of the `)` closing the arguments of `name(args) { body }`. */
function closeParenOffset(text: string, ref: Ref): number {
  const args = ref.args ?? [];
  let i = args.length ? args[args.length - 1].loc.end : skipTrivia(text, ref.nameLoc.end) + 1;
  for (;;) {
    i = skipTrivia(text, i);
    if (text[i] !== ",") return i;
    i++;
  }
}

/** Each node's parent, recorded when the file is parsed (comment placement walks up from a node). */
const parents = new WeakMap<object, Node>();

function recordParents(node: Node): void {
  for (const key of visitorKeys(node)) {
    const value = (node as unknown as Record<string, Node | Node[] | undefined>)[key];
    for (const child of Array.isArray(value) ? value : value ? [value] : []) {
      parents.set(child, node);
      recordParents(child);
    }
  }
}

/** A node that the printer always ends with a possible line break: a declaration, field, argument or list item. */
function isLineLevel(node: Node): boolean {
  const t = typeOf(node);
  return (
    t === "field" ||
    t === "arg" ||
    t === "import" ||
    t === "format" ||
    t === "scheme" ||
    t === "kernel" ||
    isList(parents.get(node))
  );
}

const isList = (node: Node | undefined) => node !== undefined && typeOf(node) === "list";

function lineLevel(node: Node): Node {
  let n = node;
  while (!isLineLevel(n)) {
    const parent = parents.get(n);
    if (!parent) return n;
    n = parent;
  }
  return n;
}

type AttachContext = CommentNode & {
  enclosingNode?: Node;
  precedingNode?: Node;
  followingNode?: Node;
  placement: "ownLine" | "endOfLine" | "remaining";
};

/**
 * Where a comment goes, where prettier's nearest-node rule is not enough:
 *
 * - in `name(args) { fields }` a comment before `)` belongs to the arguments and one after it to
 *   the body; the nearest node can be on the other side of the parenthesis;
 * - a comment that starts or ends its line (a line comment; a block comment after or before a
 *   line break) is attached only to a declaration, field, argument or list item, which the
 *   printer can always put on a line of its own; attached inside an expression (`2 + // c`
 *   then `4`) it would break the expression, or run on to the end of the printed line into
 *   the next comment.
 */
function handleComment(comment: AttachContext, text: string): boolean {
  const { enclosingNode: enclosing, placement } = comment;
  let { precedingNode: before, followingNode: after } = comment;
  if (!enclosing) return false;
  if (typeOf(enclosing) === "import") {
    // `import /* c */ "path"` keeps a block comment in place; a line comment moves above the import
    if (isLineComment(comment)) util.addLeadingComment(enclosing, comment);
    else util.addDanglingComment(enclosing, comment, undefined);
    return true;
  }
  if (typeOf(enclosing) === "scheme") {
    // `scheme NAME /* c */ extends BASE /* c */ {`: block comments stay in the header, line comments move above
    const scheme = enclosing as SchemeDecl;
    const brace = skipTrivia(text, (scheme.base ?? { loc: scheme.nameLoc }).loc.end);
    if (comment.loc.start < brace) {
      if (isLineComment(comment)) util.addLeadingComment(enclosing, comment);
      else util.addDanglingComment(enclosing, comment, "header");
      return true;
    }
  }
  let changed = false;
  if (typeOf(enclosing) === "ref") {
    const ref = enclosing as Ref;
    if (ref.args && ref.body) {
      const inArgs = comment.loc.start < closeParenOffset(text, ref);
      if (inArgs && after && typeOf(after) === "field") [after, changed] = [undefined, true];
      if (!inArgs && before && typeOf(before) === "arg") [before, changed] = [undefined, true];
    }
  }
  if (endsLine(comment, text) || startsLine(comment, text)) {
    if (before && !isLineLevel(before)) [before, changed] = [lineLevel(before), true];
    if (after && !isLineLevel(after)) [after, changed] = [lineLevel(after), true];
  }
  if (!changed) return false;
  if (before && after && before === after) {
    // both sides inside one declaration or field: the comment goes before or after all of it
    if (placement === "ownLine") util.addLeadingComment(after, comment);
    else util.addTrailingComment(before, comment);
  } else if (placement === "ownLine" ? after : !before && after)
    util.addLeadingComment(after, comment);
  else if (before) util.addTrailingComment(before, comment);
  else util.addDanglingComment(enclosing, comment, undefined);
  return true;
}

const handleComments = {
  ownLine: handleComment,
  endOfLine: handleComment,
  remaining: handleComment,
};

/** `// prettier-ignore` (or `/* prettier-ignore *\/`) before a node keeps it as written. */
function hasPrettierIgnore(path: AstPath<Node>): boolean {
  return commentsOf(path.node).some(
    (c) => c.leading && /^(?:\/\/|\/\*)\s*prettier-ignore\s*(?:\*\/)?$/.test(c.text.trim()),
  );
}

// ---- printing ------------------------------------------------------------

type Print = (selector?: string | number | (string | number)[] | AstPath<Node>) => Doc;
type Options = ParserOptions<Node>;

const printKey = (path: AstPath<Node>, print: Print, key: string): Doc =>
  path.call(print, key as never);
const printEach = (path: AstPath<Node>, print: Print, key: string): Doc[] =>
  path.map(print, key as never);

function printCommentText(c: CommentNode): string {
  c.printed = true;
  return isLineComment(c) ? c.text.trimEnd() : c.text;
}

/** Where a node starts, counting the comments printed before it. */
function startWithComments(node: Node): number {
  return Math.min(
    node.loc.start,
    ...commentsOf(node)
      .filter((c) => c.leading)
      .map((c) => c.loc.start),
  );
}

/** Where a node ends, counting the comments printed after it. */
function endWithComments(node: Node): number {
  return Math.max(
    node.loc.end,
    ...commentsOf(node)
      .filter((c) => c.trailing)
      .map((c) => c.loc.end),
  );
}

/** Line breaks in the source between two sibling nodes (with their comments). */
function newlinesBetween(text: string, a: Node, b: Node): number {
  return text.slice(endWithComments(a), startWithComments(b)).split("\n").length - 1;
}

/**
 * Declarations, or scheme fields, one per line; `blankOnSameLine` says whether two written on
 * one line get a blank line between them (declarations) or not (fields).
 */
function printLines(
  path: AstPath<Node>,
  options: Options,
  print: Print,
  key: string,
  blankOnSameLine: boolean,
): Doc[] {
  const nodes = (path.node as unknown as Record<string, Node[]>)[key];
  const parts: Doc[] = [];
  path.each((p, i) => {
    if (i > 0) {
      const n = newlinesBetween(options.originalText, nodes[i - 1], p.node);
      parts.push(n >= 2 || (n === 0 && blankOnSameLine) ? [hardline, hardline] : hardline);
    }
    parts.push(print());
  }, key as never);
  return parts;
}

/**
 * The children under `key` joined by `separator`, which holds a `line`: where the source had a
 * blank line between two of them, there is one when the group breaks.
 */
function printJoined(
  path: AstPath<Node>,
  options: Options,
  print: Print,
  key: string,
  separator: Doc,
): Doc[] {
  const nodes = (path.node as unknown as Record<string, Node[]>)[key];
  const parts: Doc[] = [];
  path.each((p, i) => {
    if (i > 0)
      parts.push(
        separator,
        newlinesBetween(options.originalText, nodes[i - 1], p.node) >= 2 ? softline : "",
      );
    parts.push(print());
  }, key as never);
  return parts;
}

/** Comments on their own lines, a blank line kept where the source had one. */
function printCommentLines(text: string, comments: CommentNode[]): Doc[] {
  return comments.map((c, i) => {
    const gap =
      i === 0 ? 0 : text.slice(comments[i - 1].loc.end, c.loc.start).split("\n").length - 1;
    return [i === 0 ? "" : gap >= 2 ? [hardline, hardline] : hardline, printCommentText(c)];
  });
}

/**
 * Comments inside empty brackets: `{ /* c *\/ }`, `(/* c *\/)`, `[/* c *\/]` when they are block
 * comments, else one per line inside the brackets.
 */
function printDangling(
  text: string,
  comments: CommentNode[],
  open: string,
  close: string,
  pad: string,
  broken: boolean,
): Doc {
  if (comments.length === 0) return [open, close];
  if (broken || comments.some(isLineComment))
    return [open, indent([hardline, printCommentLines(text, comments)]), hardline, close];
  return [open, pad, join(" ", comments.map(printCommentText)), pad, close];
}

/** Dangling comments of a node, those before or after an offset (the two sides of `name(...) {...}`). */
function danglingOf(node: Node, from = 0, to = Infinity): CommentNode[] {
  return commentsOf(node).filter(
    (c) => !c.leading && !c.trailing && c.loc.start >= from && c.loc.start < to,
  );
}

/** `{ a: 1, b: 2 }` on one line when it fits, else one field per line without commas. */
function printInlineBody(path: AstPath<Node>, options: Options, print: Print, ref: Ref): Doc {
  const fields = ref.body ?? [];
  if (fields.length === 0) {
    const from = ref.args ? closeParenOffset(options.originalText, ref) : 0;
    return printDangling(options.originalText, danglingOf(ref, from), "{", "}", " ", false);
  }
  const parts = printJoined(path, options, print, "body", [ifBreak("", ","), line]);
  return group(["{", indent([line, parts]), line, "}"]);
}

/** `(a, b)` on one line, else one argument per line with a trailing comma. */
function printArgs(path: AstPath<Node>, options: Options, print: Print, ref: Ref): Doc {
  const args = ref.args ?? [];
  if (args.length === 0) {
    const to = ref.body ? closeParenOffset(options.originalText, ref) : Infinity;
    return printDangling(options.originalText, danglingOf(ref, 0, to), "(", ")", "", false);
  }
  const parts = printJoined(path, options, print, "args", [",", line]);
  return group(["(", indent([softline, parts]), ifBreak(","), softline, ")"]);
}

const isSignedNumber = (e: Expr): boolean =>
  e.kind === "number" || (e.kind === "unary" && isSignedNumber(e.operand));

/** A list item printed with a comment that ends a line after it, or one that starts a line before it. */
const breaksAfter = (n: Node, text: string) =>
  commentsOf(n).some((c) => c.trailing && (isLineComment(c) || startsLine(c, text)));
const breaksBefore = (n: Node, text: string) =>
  commentsOf(n).some((c) => c.leading && endsLine(c, text));

/** A block comment spanning lines, on the node or inside it (its width would throw `fill` out). */
function hasMultilineComment(node: Node): boolean {
  if (commentsOf(node).some((c) => c.text.includes("\n"))) return true;
  return visitorKeys(node).some((key) => {
    const value = (node as unknown as Record<string, Node | Node[] | undefined>)[key];
    return (Array.isArray(value) ? value : value ? [value] : []).some(hasMultilineComment);
  });
}

/**
 * `[a, b]` on one line, else broken with a trailing comma: numbers fill the lines, anything else
 * (and numbers with a multi-line comment among them) one per line.
 */
function printList(path: AstPath<Node>, options: Options, print: Print, items: Expr[]): Doc {
  if (items.length === 0)
    return printDangling(options.originalText, danglingOf(path.node), "[", "]", "", false);
  if (!items.every(isSignedNumber) || hasMultilineComment(path.node)) {
    const parts = printJoined(path, options, print, "items", [",", line]);
    return group(["[", indent([softline, parts]), ifBreak(","), softline, "]"]);
  }
  const text = options.originalText;
  const parts = printEach(path, print, "items");
  const filled: Doc[] = [];
  parts.forEach((d, i) => {
    if (i === parts.length - 1) {
      filled.push(d);
      return;
    }
    filled.push([d, ","]);
    if (newlinesBetween(text, items[i], items[i + 1]) >= 2) filled.push([hardline, hardline]);
    else
      filled.push(
        breaksAfter(items[i], text) || breaksBefore(items[i + 1], text) ? hardline : line,
      );
  });
  return group(["[", indent([softline, fill(filled)]), ifBreak(","), softline, "]"]);
}

function printScheme(path: AstPath<Node>, options: Options, print: Print, node: SchemeDecl): Doc {
  const dangling = danglingOf(node);
  const header = dangling.filter((c) => c.marker === "header");
  const base = node.base;
  const inHeader = (from: number, to: number) =>
    header
      .filter((c) => c.loc.start >= from && c.loc.start < to)
      .map((c) => [" ", printCommentText(c)]);
  const head = [
    "scheme ",
    node.name,
    inHeader(0, base ? base.loc.start : Infinity),
    base ? [" extends ", base.name, inHeader(base.loc.start, Infinity)] : "",
    " ",
  ];
  if (node.fields.length === 0) {
    const inBody = dangling.filter((c) => c.marker !== "header");
    return [head, printDangling(options.originalText, inBody, "{", "}", " ", true)];
  }
  return [
    head,
    "{",
    indent([hardline, printLines(path, options, print, "fields", false)]),
    hardline,
    "}",
  ];
}

function printFile(path: AstPath<Node>, options: Options, print: Print, file: QsFile): Doc {
  if (file.decls.length === 0) {
    const comments = danglingOf(file);
    return comments.length ? [printCommentLines(options.originalText, comments), hardline] : "";
  }
  return [printLines(path, options, print, "decls", true), hardline];
}

function printNode(path: AstPath<Node>, options: Options, print: Print): Doc {
  const node = path.node;
  const text = options.originalText;
  if (!("kind" in node)) {
    // a field `name: value`, or an argument `[name:] value`
    return node.name === undefined
      ? printKey(path, print, "value")
      : [node.name, ": ", printKey(path, print, "value")];
  }
  switch (node.kind) {
    case "file":
      return printFile(path, options, print, node);
    case "import":
      return [
        "import ",
        danglingOf(node).map((c) => [printCommentText(c), " "]),
        text.slice(node.pathLoc.start, node.pathLoc.end),
      ];
    case "format":
    case "kernel":
      return [node.kind, " ", node.name, " = ", printKey(path, print, "value")];
    case "scheme":
      return printScheme(path, options, print, node);
    case "number":
      return node.text;
    case "string":
      return text.slice(node.loc.start, node.loc.end);
    case "ref":
      return [
        node.name,
        node.args ? printArgs(path, options, print, node) : "",
        node.body ? [" ", printInlineBody(path, options, print, node)] : "",
      ];
    case "binary": {
      const left = printKey(path, print, "left");
      const right = printKey(path, print, "right");
      return node.op === "^" ? [left, "^", right] : [left, " ", node.op, " ", right];
    }
    case "unary":
      return [node.op, printKey(path, print, "operand")];
    case "paren":
      return ["(", printKey(path, print, "inner"), ")"];
    case "list":
      return printList(path, options, print, node.items);
    case "comment":
      return printCommentText(node);
  }
}

const printer: Printer<Node> = {
  print: (path, options, print) => printNode(path, options, print as Print),
  getVisitorKeys: (node) => visitorKeys(node),
  canAttachComment: (node) => typeOf(node) !== "comment" && typeOf(node) !== "file",
  isBlockComment: (node) => typeOf(node) === "comment" && !isLineComment(node as CommentNode),
  printComment: (path) => printCommentText(path.node as CommentNode),
  handleComments,
  hasPrettierIgnore,
};

export const printers: Record<"qs-ast", Printer<Node>> = { "qs-ast": printer };

const plugin: Plugin<Node> = { languages, parsers, printers, defaultOptions };
export default plugin;

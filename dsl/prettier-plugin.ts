/**
 * The prettier plugin for .qs files: `prettier --plugin qkc/dist/dsl/prettier-plugin.js`,
 * editors, and `qkc fmt`. Parsing is dsl/parser.ts; comments are attached by
 * prettier and printed where they were (leading, trailing, or inside empty bodies).
 */
import {
  doc,
  type AstPath,
  type Doc,
  type Plugin,
  type Printer,
  type SupportLanguage,
} from "prettier";
import type { Arg, Comment, Decl, Expr, Field, QsFile } from "./ast.js";
import { parseQs } from "./parser.js";

const { group, indent, line, softline, hardline, join, ifBreak, fill } = doc.builders;

/** Every node prettier sees: the file, declarations, fields, arguments, expressions, comments. */
type Node = QsFile | Decl | Field | Arg | Expr | (Comment & { kind?: undefined });

export const languages: SupportLanguage[] = [
  { name: "qs", parsers: ["qs"], extensions: [".qs"], vscodeLanguageIds: ["qs"] },
];

export const parsers: Plugin["parsers"] = {
  qs: {
    astFormat: "qs-ast",
    parse(text, options) {
      const name = (options as { filepath?: string }).filepath ?? "<input>";
      const { file, diagnostics } = parseQs(text, name);
      const error = diagnostics.find((d) => d.severity === "error");
      if (error) throw new Error(error.headline);
      return file;
    },
    locStart: (node: Node) => node.loc.start,
    locEnd: (node: Node) => node.loc.end,
  },
};

function visitorKeys(node: Node): string[] {
  if ("text" in node && !("kind" in node && node.kind)) return []; // a comment
  if (!("kind" in node) || node.kind === undefined)
    return "nameLoc" in node || "value" in node ? ["value"] : [];
  switch (node.kind) {
    case "file":
      return ["decls"];
    case "format":
    case "kernel":
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
      return [];
  }
}

function quote(s: string): string {
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n").replace(/\t/g, "\\t").replace(/\r/g, "\\r")}"`;
}

type Print = (selector?: string | number | (string | number)[] | AstPath<Node>) => Doc;

/** `{ a: 1, b: 2 }` on one line when it fits, else one field per line without commas. */
function inlineBody(path: AstPath<Node>, print: Print, key: string, fields: readonly Field[]): Doc {
  if (fields.length === 0) return ["{", danglingComments(path), "}"];
  const parts = path.map(print, key as never);
  return group(["{", indent([line, join([ifBreak("", ","), line], parts)]), line, "}"]);
}

function danglingComments(path: AstPath<Node>): Doc {
  const comments = (
    path.node as {
      comments?: { leading: boolean; trailing: boolean; text: string; printed?: boolean }[];
    }
  ).comments;
  const dangling = comments?.filter((c) => !c.leading && !c.trailing) ?? [];
  if (dangling.length === 0) return "";
  for (const c of dangling) c.printed = true;
  return [
    " ",
    join(
      " ",
      dangling.map((c) => c.text),
    ),
    " ",
  ];
}

function printDecls(path: AstPath<Node>, options: { originalText: string }, print: Print): Doc {
  const file = path.node as QsFile;
  const parts: Doc[] = [];
  path.each((p, i) => {
    if (i > 0) {
      const prev = file.decls[i - 1];
      const between = options.originalText.slice(prev.loc.end, firstStart(file, p.node as Decl));
      parts.push(/\n[ \t]*\r?\n/.test(between) ? [hardline, hardline] : hardline);
    }
    parts.push(print());
  }, "decls" as never);
  const dangling = danglingComments(path);
  return [parts, dangling === "" ? "" : [hardline, dangling], hardline];
}

/** Where a declaration starts including the comments attached before it. */
function firstStart(file: QsFile, d: Decl): number {
  const leading = (
    d as { comments?: { leading: boolean; loc: { start: number } }[] }
  ).comments?.filter((c) => c.leading);
  return leading?.length ? Math.min(d.loc.start, ...leading.map((c) => c.loc.start)) : d.loc.start;
}

const printer: Printer<Node> = {
  print(path, options, print) {
    const node = path.node;
    if (!("kind" in node) || node.kind === undefined) {
      if ("nameLoc" in node && "name" in node) return [node.name, ": ", print("value" as never)]; // field
      const a = node as Arg;
      return a.name ? [a.name, ": ", print("value" as never)] : print("value" as never); // arg
    }
    switch (node.kind) {
      case "file":
        return printDecls(path, options, print as Print);
      case "import":
        return ["import ", quote(node.path)];
      case "format":
      case "kernel":
        return [node.kind, " ", node.name, " = ", print("value" as never)];
      case "scheme": {
        const head = ["scheme ", node.name, node.base ? [" extends ", node.base.name] : "", " {"];
        if (node.fields.length === 0) return [head, danglingComments(path), "}"];
        return [
          head,
          indent([hardline, join(hardline, path.map(print, "fields" as never))]),
          hardline,
          "}",
        ];
      }
      case "number":
        return node.text;
      case "string":
        return quote(node.value);
      case "ref": {
        const args = node.args
          ? node.args.length === 0
            ? "()"
            : group([
                "(",
                indent([softline, join([",", line], path.map(print, "args" as never))]),
                softline,
                ")",
              ])
          : "";
        const body = node.body ? [" ", inlineBody(path, print as Print, "body", node.body)] : "";
        return [node.name, args, body];
      }
      case "binary":
        return node.op === "^"
          ? [print("left" as never), "^", print("right" as never)]
          : [print("left" as never), " ", node.op, " ", print("right" as never)];
      case "unary":
        return [node.op, print("operand" as never)];
      case "paren":
        return ["(", print("inner" as never), ")"];
      case "list": {
        if (node.items.length === 0) return ["[", danglingComments(path), "]"];
        const items = path.map(print, "items" as never);
        const filled: Doc[] = [];
        items.forEach((d, i) => {
          if (i > 0) filled.push([",", line]);
          filled.push(d);
        });
        return group(["[", indent([softline, fill(filled)]), ifBreak(","), softline, "]"]);
      }
      default:
        return "";
    }
  },
  getVisitorKeys: (node) => visitorKeys(node),
  canAttachComment: (node) => !("text" in node && !("kind" in node && node.kind)) && "loc" in node,
  isBlockComment: (node) => "text" in node && (node as Comment).text.startsWith("/*"),
  printComment(path) {
    return (path.node as Comment).text;
  },
};

export const printers = { "qs-ast": printer };

const plugin: Plugin = { languages, parsers, printers };
export default plugin;

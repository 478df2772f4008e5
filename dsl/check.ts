/**
 * The checker: declarations of all loaded files share one namespace (plus the
 * outer scope: primitives and stdlib). Each is lowered on first use, so order
 * does not matter and cycles are reported where they close.
 */
import type { Comment, Decl, Expr, QsFile } from "./ast.js";
import { CheckContext, type DeclSite, type OuterScope } from "./context.js";
import { didYouMean } from "./diagnostics.js";
import type { Diagnostic } from "./diagnostics.js";
import { lowerFormat } from "./lower-format.js";
import { lowerKernel } from "./lower-kernel.js";
import { lowerScheme } from "./lower-scheme.js";
import type { Format } from "../ir/formats/index.js";
import type { Origin, Program } from "../ir/program.js";
import type { Scheme } from "../ir/scheme.js";

export interface ParsedFile {
  file: string;
  ast: QsFile;
}

type Named = Exclude<Decl, { kind: "import" }>;

export function checkProgram(files: readonly ParsedFile[], outer: OuterScope): { program: Program; diagnostics: Diagnostic[] } {
  const ctx = new CheckContext(outer);
  const origins = new Map<string, Origin>(outer.origins);
  for (const { file, ast } of files) {
    ctx.inFile(file, () => {
      for (const decl of ast.decls) {
        if (decl.kind === "import") continue;
        const prior = ctx.sites.get(decl.name);
        const outerOrigin = outer.formats.has(decl.name) || outer.schemes.has(decl.name) || outer.kernels.has(decl.name) ? outer.origins.get(decl.name) : undefined;
        if (prior || outer.formats.has(decl.name) || outer.schemes.has(decl.name) || outer.kernels.has(decl.name)) {
          const where = prior ? `${prior.file}:${prior.decl.loc.line}` : outerOrigin ? `${outerOrigin.file}:${outerOrigin.line}` : "a built-in";
          ctx.error(`'${decl.name}' is already declared (${where})`, decl.nameLoc, "choose another name");
          continue;
        }
        ctx.sites.set(decl.name, { decl, file, doc: docComment(ast.comments, decl) });
        origins.set(decl.name, { file, line: decl.nameLoc.line, column: decl.nameLoc.column });
      }
    });
  }
  const resolver = new Resolver(ctx);
  for (const [name, site] of ctx.sites) ctx.inFile(site.file, () => resolver.resolve(name, site));
  return {
    program: { formats: ctx.formats, schemes: ctx.schemes, kernels: ctx.kernels, origins },
    diagnostics: ctx.diagnostics,
  };
}

/** The comment lines ending right above a declaration, without their markers. */
function docComment(comments: readonly Comment[], decl: Decl): string | undefined {
  const lines: string[] = [];
  let line = decl.loc.line - 1;
  for (let i = comments.length - 1; i >= 0; i--) {
    const c = comments[i];
    if (c.loc.start >= decl.loc.start) continue;
    const endLine = c.loc.line + (c.text.match(/\n/g)?.length ?? 0);
    if (endLine !== line) break;
    lines.unshift(c.text.replace(/^\/\/\s?|^\/\*+\s?|\s*\*+\/$/g, "").trim());
    line = c.loc.line - 1;
  }
  return lines.length ? lines.join(" ") : undefined;
}

class Resolver {
  constructor(private readonly ctx: CheckContext) {}

  resolve(name: string, site: DeclSite): void {
    const { ctx } = this;
    const d = site.decl as Named;
    if (ctx.formats.has(name) || ctx.schemes.has(name) || ctx.kernels.has(name) || ctx.failed.has(name)) return;
    if (ctx.resolving.has(name)) return;
    ctx.resolving.add(name);
    const fmt = (n: string, e: Expr) => this.format(n, e);
    const sch = (n: string, e: Expr) => this.scheme(n, e);
    let result: Format | Scheme | object | undefined;
    if (d.kind === "format") {
      const f = lowerFormat(ctx, d, fmt);
      if (f) ctx.formats.set(name, f);
      result = f;
    } else if (d.kind === "scheme") {
      let base: Scheme | undefined;
      if (d.base) base = this.scheme(d.base.name, { kind: "ref", name: d.base.name, nameLoc: d.base.loc, loc: d.base.loc });
      if (!d.base || base) {
        const s = lowerScheme(ctx, d, base, site.doc, fmt, sch);
        if (s) ctx.schemes.set(name, s);
        result = s;
      }
    } else {
      const k = lowerKernel(ctx, d, fmt, sch);
      if (k) ctx.kernels.set(name, k);
      result = k;
    }
    ctx.resolving.delete(name);
    if (!result) ctx.failed.add(name);
  }

  format(name: string, e: Expr): Format | undefined {
    return this.lookup(name, e, "format", this.ctx.formats, this.ctx.outer.formats);
  }

  scheme(name: string, e: Expr): Scheme | undefined {
    return this.lookup(name, e, "scheme", this.ctx.schemes, this.ctx.outer.schemes);
  }

  private lookup<T>(name: string, e: Expr, kind: "format" | "scheme", own: Map<string, T>, outer: ReadonlyMap<string, T>): T | undefined {
    const { ctx } = this;
    const found = own.get(name) ?? outer.get(name);
    if (found) return found;
    const site = ctx.sites.get(name);
    if (site) {
      if (site.decl.kind !== kind) {
        const other = site.decl.kind === "import" ? "import" : site.decl.kind;
        return ctx.error(`'${name}' is a ${other}, not a ${kind}`, e.loc);
      }
      if (ctx.failed.has(name)) return undefined; // already reported
      if (ctx.resolving.has(name))
        return ctx.error(`'${name}' depends on itself (${[...ctx.resolving, name].join(" -> ")})`, e.loc, "break the cycle");
      ctx.inFile(site.file, () => this.resolve(name, site));
      return own.get(name);
    }
    const names = [...own.keys(), ...outer.keys(), ...[...ctx.sites].filter(([, s]) => s.decl.kind === kind).map(([n]) => n)];
    const guess = didYouMean(name, names);
    const otherKind = kind === "format" ? ctx.outer.schemes.has(name) : ctx.outer.formats.has(name);
    if (otherKind) return ctx.error(`'${name}' is a ${kind === "format" ? "scheme" : "format"}, not a ${kind}`, e.loc);
    return ctx.error(
      `unknown ${kind} '${name}'${guess ? ` (did you mean '${guess}'?)` : ""}`,
      e.loc,
      guess ? undefined : `declare it with \`${kind} ${name} ...\`, import the file that does, or see \`qkc list\``,
    );
  }
}

/** The state shared by the checker's passes: scope, diagnostics, and helpers to read field values. */
import type { Decl, Expr, Field, Loc } from "./ast.js";
import { Diagnostic, didYouMean } from "./diagnostics.js";
import type { Format } from "../ir/formats/index.js";
import type { Scheme } from "../ir/scheme.js";
import type { KernelSpec, Origin } from "../ir/program.js";

export interface DeclSite {
  decl: Decl;
  file: string;
  /** the comment lines directly above the declaration */
  doc?: string;
}

/** What an outer scope (the primitives, the stdlib) offers to the files being checked. */
export interface OuterScope {
  formats: ReadonlyMap<string, Format>;
  schemes: ReadonlyMap<string, Scheme>;
  kernels: ReadonlyMap<string, KernelSpec>;
  origins: ReadonlyMap<string, Origin>;
}

export class CheckContext {
  readonly diagnostics: Diagnostic[] = [];
  readonly sites = new Map<string, DeclSite>();
  readonly formats = new Map<string, Format>();
  readonly schemes = new Map<string, Scheme>();
  readonly kernels = new Map<string, KernelSpec>();
  /** declarations being resolved, to report cycles */
  readonly resolving = new Set<string>();
  /** declarations that failed, so they are reported once */
  readonly failed = new Set<string>();
  file = "";

  constructor(readonly outer: OuterScope) {}

  error(message: string, loc: Loc, hint?: string): undefined {
    this.diagnostics.push(new Diagnostic("error", message, { file: this.file, loc, hint }));
    return undefined;
  }

  warn(message: string, loc: Loc, hint?: string): void {
    this.diagnostics.push(new Diagnostic("warning", message, { file: this.file, loc, hint }));
  }

  /** Runs `fn` with `file` as the file diagnostics point into. */
  inFile<T>(file: string, fn: () => T): T {
    const saved = this.file;
    this.file = file;
    try {
      return fn();
    } finally {
      this.file = saved;
    }
  }

  allNames(): string[] {
    return [...this.sites.keys(), ...this.outer.formats.keys(), ...this.outer.schemes.keys()];
  }

  /** A bare name (no arguments, no body) or undefined with an error. */
  word(e: Expr, what: string, allowed?: readonly string[]): string | undefined {
    if (e.kind !== "ref" || e.args || e.body) {
      const list = allowed ? `: ${allowed.join(", ")}` : "";
      return this.error(`expected ${what}${list ? " (one of" + list.slice(1) + ")" : ""}`, e.loc);
    }
    if (allowed && !allowed.includes(e.name)) {
      const guess = didYouMean(e.name, allowed);
      return this.error(
        `unknown ${what} '${e.name}'${guess ? ` (did you mean '${guess}'?)` : ""}`,
        e.loc,
        `${what} is one of: ${allowed.join(", ")}`,
      );
    }
    return e.name;
  }

  /** Reports fields that are not in `allowed` (with a did-you-mean) and duplicates; returns the fields by name. */
  fields(fields: readonly Field[], allowed: readonly string[], where: string): Map<string, Field> {
    const byName = new Map<string, Field>();
    for (const f of fields) {
      if (!allowed.includes(f.name)) {
        const guess = didYouMean(f.name, allowed);
        this.error(
          `unknown field '${f.name}' in ${where}${guess ? ` (did you mean '${guess}'?)` : ""}`,
          f.nameLoc,
          `${where} takes: ${allowed.join(", ")}`,
        );
      } else if (byName.has(f.name)) {
        this.error(`field '${f.name}' is given twice in ${where}`, f.nameLoc, "remove one of them");
      } else {
        byName.set(f.name, f);
      }
    }
    return byName;
  }
}

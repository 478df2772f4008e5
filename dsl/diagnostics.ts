/**
 * Diagnostics: what is wrong, where (file:line:col), the line with a caret
 * under the culprit, and how to fix it.
 */
import type { Loc } from "./ast.js";

export type Severity = "error" | "warning";

export class Diagnostic {
  readonly file: string;
  readonly loc: Loc;
  readonly hint?: string;

  constructor(
    readonly severity: Severity,
    readonly message: string,
    where: { file: string; loc: Loc; hint?: string },
  ) {
    this.file = where.file;
    this.loc = where.loc;
    this.hint = where.hint;
  }

  /** `file:line:col: error: message` */
  get headline(): string {
    return `${this.file}:${this.loc.line}:${this.loc.column}: ${this.severity}: ${this.message}`;
  }
}

/** Renders a diagnostic with its source line and a caret, rustc-style. */
export function renderDiagnostic(d: Diagnostic, source: string | undefined): string {
  const lines = [d.headline];
  if (source !== undefined) {
    const text = source.split(/\r?\n/)[d.loc.line - 1];
    if (text !== undefined) {
      const gutter = String(d.loc.line).length;
      const width = Math.max(1, Math.min(d.loc.end - d.loc.start, text.length - d.loc.column + 1));
      const pad = " ".repeat(gutter);
      lines.push(`${pad} |`);
      lines.push(`${d.loc.line} | ${text}`);
      lines.push(`${pad} | ${" ".repeat(Math.max(0, d.loc.column - 1))}${"^".repeat(width)}`);
    }
  }
  if (d.hint) lines.push(`  = help: ${d.hint}`);
  return lines.join("\n");
}

/** Levenshtein distance, for did-you-mean suggestions. */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length];
}

/** The closest candidate within a third of the name's length, if any. */
export function didYouMean(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDist = Infinity;
  for (const c of candidates) {
    const d = editDistance(name.toLowerCase(), c.toLowerCase());
    if (d < bestDist) [best, bestDist] = [c, d];
  }
  return bestDist <= Math.max(1, Math.ceil(name.length / 3)) ? best : undefined;
}

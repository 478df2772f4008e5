/**
 * What the command line means by a scheme: a built-in name (`mxfp4`), a name
 * declared in a .qs file (`my.qs:myscheme`), or a file holding exactly one
 * scheme (`my.qs`).
 */
import { existsSync } from "node:fs";
import { didYouMean } from "./diagnostics.js";
import { hasErrors, loadProgram, renderAll, standardScope, type LoadResult } from "./load.js";
import type { Scheme } from "../ir/scheme.js";

/** A user error: its message is complete (diagnostics included) and needs no stack trace. */
export class SpecError extends Error {
  override name = "SpecError";
}

/** Loads .qs files for a command: throws SpecError with rendered diagnostics if any error. */
export function loadForCommand(files: string[]): LoadResult {
  for (const f of files) if (!existsSync(f)) throw new SpecError(`${f}: no such file`);
  const r = loadProgram(files.map((file) => ({ file })));
  if (hasErrors(r.diagnostics)) throw new SpecError(renderAll(r));
  return r;
}

export function resolveScheme(spec: string): Scheme {
  const m = /^(.*\.qs)(?::([A-Za-z_][A-Za-z0-9_]*))?$/.exec(spec);
  if (!m) {
    const builtins = standardScope().schemes;
    const s = builtins.get(spec);
    if (s) return s;
    const guess = didYouMean(spec, builtins.keys());
    throw new SpecError(
      `unknown scheme '${spec}'${guess ? ` (did you mean '${guess}'?)` : ""}; \`qkc list\` shows the built-ins, and FILE.qs:NAME names one of yours`,
    );
  }
  const [, file, name] = m;
  const own = [...loadForCommand([file]).program.schemes.entries()].filter(([, s]) => !standardScope().schemes.has(s.name));
  if (name) {
    const found = own.find(([n]) => n === name)?.[1];
    if (found) return found;
    const guess = didYouMean(name, own.map(([n]) => n));
    throw new SpecError(`${file} declares no scheme '${name}'${guess ? ` (did you mean '${guess}'?)` : ""}; it declares: ${own.map(([n]) => n).join(", ") || "none"}`);
  }
  if (own.length === 1) return own[0][1];
  throw new SpecError(
    own.length === 0
      ? `${file} declares no scheme`
      : `${file} declares ${own.length} schemes (${own.map(([n]) => n).join(", ")}); name one: ${file}:${own[0][0]}`,
  );
}

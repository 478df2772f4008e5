/**
 * The built-in formats and schemes, read from stdlib/*.qs at start-up (see
 * dsl/load.ts). Lists are in declaration order: MX, NVIDIA, NF4, integers.
 */
import type { Format } from "../ir/formats/index.js";
import type { Origin } from "../ir/program.js";
import type { Scheme } from "../ir/scheme.js";
import { standardScope } from "../dsl/load.js";

const FILE_ORDER = ["mx.qs", "nvidia.qs", "nf4.qs", "int.qs"];

function sortByOrigin<T>(entries: ReadonlyMap<string, T>, origins: ReadonlyMap<string, Origin>): T[] {
  const rank = (name: string) => {
    const o = origins.get(name)!;
    const file = FILE_ORDER.findIndex((f) => o.file.endsWith(f));
    return (file < 0 ? FILE_ORDER.length : file) * 1e6 + o.line;
  };
  return [...entries.keys()].sort((a, b) => rank(a) - rank(b)).map((n) => entries.get(n)!);
}

const scope = standardScope();

export const BUILTIN_FORMATS: readonly Format[] = sortByOrigin(scope.formats, scope.origins);
export const BUILTIN_SCHEMES: readonly Scheme[] = sortByOrigin(scope.schemes, scope.origins);

export function builtinScheme(name: string): Scheme | undefined {
  return scope.schemes.get(name);
}

export function builtinFormat(name: string): Format | undefined {
  return scope.formats.get(name);
}

/** file:line of a built-in declaration */
export function builtinOrigin(name: string): Origin | undefined {
  return scope.origins.get(name);
}

import type { Format } from "../ir/formats/index.js";
import type { Scheme } from "../ir/scheme.js";
import { BUILTIN_FORMATS } from "./formats.js";
import { BUILTIN_SCHEMES } from "./schemes.js";

export { BUILTIN_FORMATS, BUILTIN_SCHEMES };

const schemesByName = new Map(BUILTIN_SCHEMES.map((s) => [s.name, s]));
const formatsByName = new Map(BUILTIN_FORMATS.map((f) => [f.name, f]));

export function builtinScheme(name: string): Scheme | undefined {
  return schemesByName.get(name);
}

export function builtinFormat(name: string): Format | undefined {
  return formatsByName.get(name);
}

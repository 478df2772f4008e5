/**
 * Loading .qs programs: files and their imports (relative to the importing
 * file, cycles reported at the import), checked against an outer scope of
 * primitives and the standard library.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Loc } from "./ast.js";
import { checkProgram, type ParsedFile } from "./check.js";
import type { OuterScope } from "./context.js";
import { Diagnostic, renderDiagnostic } from "./diagnostics.js";
import { parseQs } from "./parser.js";
import { bf16, f16, f32, type Format } from "../ir/formats/index.js";
import type { Program } from "../ir/program.js";

export interface LoadResult {
  program: Program;
  diagnostics: Diagnostic[];
  /** text of every file read, by the name diagnostics use */
  sources: Map<string, string>;
  /** files in load order (imports first) */
  files: string[];
}

export interface SourceInput {
  /** path (or display name when `text` is given) */
  file: string;
  text?: string;
}

export interface LoadOptions {
  /** the names in scope besides the files' own; default: primitives + stdlib */
  outer?: OuterScope;
  readFile?: (path: string) => string;
}

const PRIMITIVES: readonly Format[] = [f16, bf16, f32];

export function primitiveScope(): OuterScope {
  const formats = new Map(PRIMITIVES.map((f) => [f.name, f]));
  const origins = new Map(PRIMITIVES.map((f) => [f.name, { file: "<built-in>", line: 0, column: 0 }]));
  return { formats, schemes: new Map(), kernels: new Map(), origins };
}

export function loadProgram(inputs: readonly SourceInput[], options: LoadOptions = {}): LoadResult {
  const readFile = options.readFile ?? ((p: string) => readFileSync(p, "utf8"));
  const sources = new Map<string, string>();
  const parsed: ParsedFile[] = [];
  const diagnostics: Diagnostic[] = [];
  const done = new Set<string>();
  const stack: string[] = [];

  const visit = (file: string, text: string | undefined, from?: { file: string; loc: Loc }) => {
    const key = text === undefined ? resolve(file) : file;
    if (stack.includes(key)) {
      const cycle = [...stack.slice(stack.indexOf(key)), key].map((p) => display(p)).join(" -> ");
      diagnostics.push(new Diagnostic("error", `import cycle: ${cycle}`, { file: from!.file, loc: from!.loc, hint: "remove one of the imports" }));
      return;
    }
    if (done.has(key)) return;
    let src = text;
    if (src === undefined) {
      try {
        src = readFile(key);
      } catch (e) {
        const why = (e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message;
        const message = `cannot read '${display(key)}': ${why}`;
        if (from) diagnostics.push(new Diagnostic("error", message, { file: from.file, loc: from.loc, hint: "import paths are relative to the importing file" }));
        else diagnostics.push(new Diagnostic("error", message, { file: display(key), loc: { start: 0, end: 0, line: 1, column: 1 } }));
        return;
      }
    }
    const name = display(key);
    sources.set(name, src);
    const { file: ast, diagnostics: syntax } = parseQs(src, name);
    diagnostics.push(...syntax);
    stack.push(key);
    for (const d of ast.decls)
      if (d.kind === "import") visit(resolve(dirname(key), d.path), undefined, { file: name, loc: d.pathLoc });
    stack.pop();
    done.add(key);
    parsed.push({ file: name, ast });
  };
  for (const input of inputs) visit(input.file, input.text);

  const checked = checkProgram(parsed, options.outer ?? standardScope());
  return { program: checked.program, diagnostics: [...diagnostics, ...checked.diagnostics], sources, files: parsed.map((p) => p.file) };
}

/** Paths relative to the working directory when that is shorter. */
function display(path: string): string {
  if (!path.startsWith("/")) return path;
  const rel = relative(process.cwd(), path);
  return rel.length < path.length && !rel.startsWith("../..") ? rel : path;
}

export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === "error");
}

export function renderAll(r: Pick<LoadResult, "diagnostics" | "sources">): string {
  return r.diagnostics.map((d) => renderDiagnostic(d, r.sources.get(d.file))).join("\n\n");
}

// ---- the standard library ---------------------------------------------------

/** The folder of stdlib/*.qs: found by walking up from this module (source tree or dist/). */
export function stdlibDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, "stdlib");
    if (existsSync(join(candidate, "mx.qs"))) return candidate;
    dir = dirname(dir);
  }
  throw new Error("qkc: cannot find the stdlib/*.qs files next to the installed package");
}

let stdlib: { program: Program; files: string[] } | undefined;

/** The standard library, read and checked once. Its diagnostics are bugs of qkc, so they throw. */
export function standardLibrary(): { program: Program; files: string[] } {
  if (!stdlib) {
    const dir = stdlibDir();
    const files = readdirSync(dir).filter((f) => f.endsWith(".qs")).sort().map((f) => ({ file: join(dir, f) }));
    const r = loadProgram(files, { outer: primitiveScope() });
    if (r.diagnostics.length) throw new Error(`qkc internal error: the standard library does not check:\n${renderAll(r)}`);
    stdlib = { program: r.program, files: r.files };
  }
  return stdlib;
}

export function standardScope(): OuterScope {
  const p = primitiveScope();
  const s = standardLibrary().program;
  return {
    formats: new Map([...p.formats, ...s.formats]),
    schemes: s.schemes,
    kernels: s.kernels,
    origins: new Map([...p.origins, ...s.origins]),
  };
}

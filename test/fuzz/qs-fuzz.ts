/**
 * Random and mutated .qs sources for fuzzing the front end. Shared by the
 * quick test (a few thousand cases) and `bench/fuzz-dsl.ts` (100k+).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { loadProgram } from "../../dsl/load.js";
import { stdlibDir } from "../../dsl/load.js";

const VOCAB = [
  "format", "scheme", "kernel", "import", "extends", "float", "int", "table", "x", "{", "}", "(", ")", "[", "]",
  ",", ":", "=", "+", "-", "*", "/", "^", "e2m1", "e8m0", "mxfp4", "nvfp4", "f32", "block", "element", "scale",
  "rule", "floor", "amax", "rounding", "stochastic", "bits", "values", "exponent", "mantissa", "bias", "0", "1",
  "32", "0x7F", "1e-3", "2^-6", "1e999", "-0", ".5", '"a.qs"', '"main.qs"', "// c\n", "/* c */", "\n", "hadamard",
  "quantize", "gemv", "weights", "max", "all", "none", "true", "@", "'", '"', "\u00e9", "\t",
];

export class Rng {
  constructor(private s: number) {}
  next(): number {
    this.s = (Math.imul(this.s ^ (this.s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    this.s = (this.s ^ (this.s >>> 12)) >>> 0;
    return this.s / 2 ** 32;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
}

export function seedCorpus(): string[] {
  const dir = stdlibDir();
  return readdirSync(dir)
    .filter((f) => f.endsWith(".qs"))
    .map((f) => readFileSync(join(dir, f), "utf8"));
}

export function randomSource(rng: Rng): string {
  const n = 1 + rng.int(60);
  return Array.from({ length: n }, () => rng.pick(VOCAB)).join(rng.next() < 0.7 ? " " : "");
}

export function mutate(src: string, rng: Rng): string {
  let s = src;
  const rounds = 1 + rng.int(4);
  for (let r = 0; r < rounds; r++) {
    const i = rng.int(s.length + 1);
    const j = Math.min(s.length, i + rng.int(40));
    switch (rng.int(6)) {
      case 0:
        s = s.slice(0, i) + s.slice(j); // delete a span
        break;
      case 1:
        s = s.slice(0, i) + rng.pick(VOCAB) + s.slice(i); // insert a token
        break;
      case 2:
        s = s.slice(0, i) + s.slice(i, j) + s.slice(i); // duplicate a span
        break;
      case 3:
        s = s.slice(0, i); // truncate
        break;
      case 4:
        s = s.replace(/\d+/, () => rng.pick(["0", "999999999", "-1", "1e400", "0x", "3.5", "65536"])); // odd numbers
        break;
      default:
        s = s.slice(0, i) + String.fromCharCode(32 + rng.int(95)) + s.slice(i + 1); // flip a character
    }
  }
  return s;
}

export interface FuzzResult {
  cases: number;
  withErrors: number;
  /** sources that threw or produced a diagnostic without a valid location */
  failures: { source: string; problem: string }[];
}

/** Runs the whole front end (parse, imports, check) on each case; it must never throw. */
export function fuzz(cases: number, seed: number): FuzzResult {
  const rng = new Rng(seed);
  const corpus = seedCorpus();
  const result: FuzzResult = { cases, withErrors: 0, failures: [] };
  for (let c = 0; c < cases; c++) {
    const src = rng.next() < 0.3 ? randomSource(rng) : mutate(rng.pick(corpus), rng);
    const files: Record<string, string> = { "/f/main.qs": src, "/f/a.qs": mutate(rng.pick(corpus), rng) };
    try {
      const r = loadProgram([{ file: "/f/main.qs" }], {
        readFile: (p) => {
          if (!(p in files)) throw Object.assign(new Error("no such file"), { code: "ENOENT" });
          return files[p];
        },
      });
      if (r.diagnostics.some((d) => d.severity === "error")) result.withErrors++;
      for (const d of r.diagnostics) {
        const text = r.sources.get(d.file);
        const lines = text?.split("\n").length ?? 0;
        const ok =
          Number.isInteger(d.loc.line) && d.loc.line >= 1 && d.loc.column >= 1 && text !== undefined && d.loc.line <= lines + 1;
        if (!ok) result.failures.push({ source: src, problem: `diagnostic without a valid location: ${d.headline}` });
      }
    } catch (e) {
      result.failures.push({ source: src, problem: `threw: ${(e as Error).stack}` });
    }
  }
  return result;
}

import { describe, expect, it } from "vitest";
import { loadProgram, renderAll, type LoadResult } from "../dsl/load.js";
import { qdq } from "../ir/interpret/index.js";
import * as S from "../stdlib/schemes.js";

/** Loads `main.qs` (and any other files given) from memory. */
function load(main: string, others: Record<string, string> = {}): LoadResult {
  const files: Record<string, string> = { "/m/main.qs": main };
  for (const [k, v] of Object.entries(others)) files[`/m/${k}`] = v;
  return loadProgram([{ file: "/m/main.qs" }], {
    readFile: (p) => {
      if (!(p in files)) throw Object.assign(new Error("no such file"), { code: "ENOENT" });
      return files[p];
    },
  });
}

const messages = (r: LoadResult) => r.diagnostics.map((d) => `${d.severity} ${d.loc.line}:${d.loc.column} ${d.message}`);

describe("a valid program", () => {
  const r = load(`
// an E3M3 element with an E5M3 scale
format e3m3 = float { exponent: 3, mantissa: 3, bias: 3 }
format e5m3 = float { exponent: 5, mantissa: 3, bias: 15, specials: ieee, signed: false }
scheme mine {
  element: e3m3
  block: 2^5,
  scale: e5m3 { rule: amax }
  rounding: stochastic { bits: 0x0c }
}
// NVFP4 on 16x16 weight tiles, no tensor scale
scheme tile extends nvfp4 { block: 16 x 16, tensor_scale: none }
format k = int { bits: 2^3, shift: -(2 + 4) }
scheme narrow { element: k, block: max(e2m1) * 8, scale: e8m0 }
kernel q = quantize(mine, rotate: hadamard(32, seed: 7)) { input: bf16, layout: unpacked }
kernel g = gemv(weights: mxfp4, activations: f16) { accumulate: f32, order: any }
`);

  it("checks without diagnostics", () => {
    expect(renderAll(r)).toBe("");
  });

  it("lowers fields, defaults and inheritance", () => {
    const mine = r.program.schemes.get("mine")!;
    expect(mine.element).toMatchObject({ kind: "float", exponent: 3, mantissa: 3, bias: 3, signed: true });
    expect(mine.block).toEqual({ kind: "axis", axis: -1, size: 32 });
    expect(mine.scale.rule).toBe("amax");
    expect(mine.rounding).toEqual({ mode: "stochastic", randomBits: 12 });
    expect(mine.doc).toBeUndefined(); // the comment sits above the format, not the scheme
    const tile = r.program.schemes.get("tile")!;
    expect(tile.block).toEqual({ kind: "tile", rows: 16, cols: 16 });
    expect(tile.tensorScale).toBeUndefined();
    expect(tile.doc).toBe("NVFP4 on 16x16 weight tiles, no tensor scale");
    expect(tile.element.name).toBe("e2m1");
    expect(r.program.formats.get("k")).toMatchObject({ bits: 8, shift: -6 });
    const narrow = r.program.schemes.get("narrow")!;
    expect(narrow.block).toMatchObject({ size: 48 });
    expect(narrow.scale.rule).toBe("floor"); // e8m0 defaults to the OCP rule
    expect(r.program.kernels.get("q")).toMatchObject({ kind: "quantize", input: "bf16", rotate: { size: 32, seed: 7 }, layout: "unpacked" });
    expect(r.program.kernels.get("g")).toMatchObject({ kind: "gemv", input: "f16", order: "any", accumulate: "f32" });
  });

  it("runs on the interpreter like a hand-built scheme", () => {
    const s = load(`scheme m2 extends mxfp4 {}`).program.schemes.get("m2")!;
    const x = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i) * 5);
    expect(qdq(s, x)).toEqual(qdq(S.mxfp4, x));
  });
});

describe("diagnostics", () => {
  const cases: [string, string, RegExp][] = [
    ["unknown format with a suggestion", `scheme s { element: e2m2, block: 32, scale: e8m0 }`, /error 1:21 unknown format 'e2m2' \(did you mean 'e2m1'\?\)/],
    ["unknown scheme", `scheme s extends mxpf4 { block: 16 }`, /unknown scheme 'mxpf4' \(did you mean 'mxfp4'\?\)/],
    ["a scheme where a format is expected", `scheme s { element: mxfp4, block: 32, scale: e8m0 }`, /'mxfp4' is a scheme, not a format/],
    ["duplicate declarations", `format a = int { bits: 4 }\nformat a = int { bits: 5 }`, /error 2:8 'a' is already declared \(.*main.qs:1\)/],
    ["redeclaring a built-in", `format e2m1 = int { bits: 4 }`, /'e2m1' is already declared \(.*mx.qs/],
    ["exponent bits out of range", `format f = float { exponent: 9, mantissa: 2 }`, /exponent bits must be an integer in 1..8, got 9/],
    ["integer bits out of range", `format f = int { bits: 17 }`, /integer bits must be an integer in 2..16, got 17/],
    ["missing field", `format f = float { mantissa: 2 }`, /a float format needs 'exponent'/],
    ["unknown field", `format f = float { exponent: 2, mantisa: 1 }`, /unknown field 'mantisa' in a float format \(did you mean 'mantissa'\?\)/],
    ["empty value set", `format t = table { values: [] }`, /this list is empty/],
    ["table size", `format t = table { values: [1, 2, 3] }`, /needs 2, 4, 8, ..., 256 values/],
    ["repeated table value", `format t = table { values: [1, 2, 2, 3] }`, /repeats the value of code 1/],
    ["non-monotonic table", `format t = table { values: [2, 1, 3, 4] }`, /warning .* not in ascending order/],
    ["block size 0", `scheme s extends mxfp4 { block: 0 }`, /block size must be an integer in 1..1048576, got 0/],
    ["absurd block size", `scheme s extends mxfp4 { block: 2^30 }`, /block size must be an integer in 1..1048576/],
    ["large block warns", `scheme s extends mxfp4 { block: 65536 }`, /warning .*unusually large/],
    ["narrow power-of-two scale warns", `scheme s extends mxfp4 { scale: e4m3 { rule: floor } }`, /warning .*holds only the powers of two 2\^-9..2\^8/],
    ["stochastic rounding on a table", `scheme s extends nf4 { rounding: stochastic }`, /stochastic rounding is not defined for table format nf4v/],
    ["unknown rounding", `scheme s extends mxfp4 { rounding: nearest_odd }`, /unknown rounding mode 'nearest_odd'/],
    ["unknown rule", `scheme s extends mxfp4 { scale: e8m0 { rule: flor } }`, /unknown scale rule 'flor' \(did you mean 'floor'\?\)/],
    ["tensor scale needs amax", `scheme s extends mxfp4 { tensor_scale: f32 }`, /a tensor scale needs scale rule amax/],
    ["extends cycle", `scheme a extends b { block: 8 }\nscheme b extends a { block: 16 }`, /depends on itself \(a -> b -> a\)|depends on itself \(b -> a -> b\)/],
    ["format cycle", `format a = int { bits: bits(b) }\nformat b = int { bits: bits(a) }`, /depends on itself/],
    ["packed layout for 5-bit codes", `format i5 = int { bits: 5 }\nscheme s { element: i5, block: 32, scale: e8m0 }\nkernel k = quantize(s)`, /i5 codes are 5 bits: there is no packed layout/],
    ["gemv without weights", `kernel k = gemv(activations: f16)`, /gemv needs its quantized operand/],
    ["unknown kernel kind", `kernel k = quantise(mxfp4)`, /unknown kernel kind 'quantise' \(did you mean 'quantize'\?\)/],
    ["dequantize takes no input dtype", `kernel k = dequantize(mxfp4) { input: f16 }`, /unknown field 'input' in a dequantize kernel/],
    ["rotation size", `kernel k = quantize(mxfp4, rotate: hadamard(48))`, /Hadamard size must be a power of two, got 48/],
    ["a number where a name is", `format f = int { bits: four }`, /expected a number, found the name 'four'/],
    ["a tile outside block", `format f = int { bits: 2 x 4 }`, /only allowed as a block shape/],
    ["symmetric unsigned", `format f = int { bits: 4, signed: false, range: symmetric }`, /range symmetric needs a signed integer/],
  ];
  for (const [name, src, want] of cases) {
    it(name, () => {
      const r = load(src);
      expect(messages(r).join("\n")).toMatch(want);
      for (const d of r.diagnostics) expect(d.loc.line).toBeGreaterThan(0);
    });
  }

  it("reports every syntax error, not only the first, and keeps checking what parsed", () => {
    const r = load(`format bad = float { exponent 2, mantissa: }\nscheme s2 { element e2m1 }\nscheme ok extends mxfp4 { block: 0 }`);
    const m = messages(r);
    expect(m).toContainEqual(expect.stringMatching(/^error 1:31 expected ':' but found '2'/));
    expect(m).toContainEqual(expect.stringMatching(/^error 1:44 expected a value/));
    expect(m).toContainEqual(expect.stringMatching(/^error 2:21 expected ':' but found 'e2m1'/));
    expect(m).toContainEqual(expect.stringMatching(/^error 3:34 block size/));
  });

  it("renders file:line:col, the line and a caret under the culprit, and the fix", () => {
    const r = load(`scheme s {\n  element: e2m2\n  block: 32\n  scale: e8m0\n}`);
    expect(renderAll(r)).toBe(
      [
        "/m/main.qs:2:12: error: unknown format 'e2m2' (did you mean 'e2m1'?)",
        "  |",
        "2 |   element: e2m2",
        "  |            ^^^^",
      ].join("\n"),
    );
  });

  it("resolves imports relative to the importing file and reports cycles at the import", () => {
    const ok = load(`import "lib/a.qs"\nscheme s extends base_a {}`, {
      "lib/a.qs": `import "b.qs"\nscheme base_a extends base_b {}`,
      "lib/b.qs": `scheme base_b extends mxfp4 { block: 8 }`,
    });
    expect(renderAll(ok)).toBe("");
    expect(ok.program.schemes.get("s")!.block).toMatchObject({ size: 8 });

    const cyc = load(`import "a.qs"`, { "a.qs": `import "main.qs"` });
    expect(messages(cyc).join("\n")).toMatch(/import cycle: .*main.qs -> .*a.qs -> .*main.qs/);

    const missing = load(`import "nope.qs"`);
    expect(messages(missing).join("\n")).toMatch(/error 1:8 cannot read '.*nope.qs': no such file/);
  });
});

import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { formatQs } from "../dsl/format.js";
import { parseQs } from "../dsl/parser.js";

/** The AST without source positions, to compare parses of differently laid out text. */
function shape(text: string): unknown {
  const { file, diagnostics } = parseQs(text, "t.qs");
  expect(diagnostics.map((d) => d.headline)).toEqual([]);
  return JSON.parse(
    JSON.stringify(file.decls, (k, v) =>
      ["loc", "nameLoc", "pathLoc"].includes(k) ? undefined : v,
    ),
  );
}
const comments = (text: string) =>
  parseQs(text, "t.qs")
    .file.comments.map((c) => c.text)
    .sort();

const FILES = [
  ...readdirSync("stdlib")
    .filter((f) => f.endsWith(".qs"))
    .map((f) => `stdlib/${f}`),
  ...readdirSync("examples")
    .filter((f) => f.endsWith(".qs"))
    .map((f) => `examples/${f}`),
  "test/fixtures/qs/mixed.qs",
];

describe("qkc fmt (the prettier plugin for .qs)", () => {
  it.each([
    [
      "spacing and field commas",
      "format  a=float{exponent:2,mantissa:1}",
      "format a = float { exponent: 2, mantissa: 1 }\n",
    ],
    [
      "scheme bodies: one field per line",
      "scheme s extends mxfp4 { block: 16, axis: 0 }",
      "scheme s extends mxfp4 {\n  block: 16\n  axis: 0\n}\n",
    ],
    ["empty bodies", "scheme s extends mxfp4 {}", "scheme s extends mxfp4 {}\n"],
    [
      "operators",
      "format k = int { bits: 2 ^ 3, shift: -( 2+4 ) }",
      "format k = int { bits: 2^3, shift: -(2 + 4) }\n",
    ],
    [
      "tiles",
      "scheme t extends nvfp4 { block: 16x16 }",
      "scheme t extends nvfp4 {\n  block: 16 x 16\n}\n",
    ],
    [
      "numbers keep their text",
      "format t = table { values: [0x10, 1e-3, -0.5, .5] }",
      "format t = table { values: [0x10, 1e-3, -0.5, .5] }\n",
    ],
    [
      "calls",
      "kernel k = quantize( m , rotate : hadamard( 32 ) )",
      "kernel k = quantize(m, rotate: hadamard(32))\n",
    ],
    ["imports", "import   'x'".replace(/'/g, '"'), 'import "x"\n'],
    [
      "blank lines: at most one, kept where written",
      "format a = int { bits: 4 }\n\n\n\nformat b = int { bits: 5 }\nformat c = int { bits: 6 }",
      "format a = int { bits: 4 }\n\nformat b = int { bits: 5 }\nformat c = int { bits: 6 }\n",
    ],
    [
      "trailing comments stay on their line",
      "scheme s {\n  block: 32     // why\n}",
      "scheme s {\n  block: 32 // why\n}\n",
    ],
    [
      "comments above declarations stay above",
      "// doc\nformat a = int { bits: 4 }",
      "// doc\nformat a = int { bits: 4 }\n",
    ],
  ])("%s", async (_, input, want) => {
    expect(await formatQs(input)).toBe(want);
  });

  it("breaks long inline bodies one field per line, and long lists filling lines with a trailing comma", async () => {
    const long = `kernel a_kernel_with_a_long_name = quantize(mxfp4, rotate: hadamard(32, seed: 123456789)) { input: bf16, output: f32 }`;
    expect(await formatQs(long)).toBe(
      "kernel a_kernel_with_a_long_name = quantize(mxfp4, rotate: hadamard(32, seed: 123456789)) {\n  input: bf16\n  output: f32\n}\n",
    );
    const list = `format t = table { values: [${Array.from({ length: 16 }, (_, i) => (i / 16 - 0.5).toFixed(8)).join(", ")}] }`;
    const out = await formatQs(list);
    expect(out.split("\n").every((l) => l.length <= 100)).toBe(true);
    expect(out).toMatch(/0\.43750000,\n {2}\]/);
  });

  for (const f of FILES) {
    it(`${f}: idempotent, same AST, same comments${f.startsWith("test/") ? "" : ", already formatted"}`, async () => {
      const text = readFileSync(f, "utf8");
      const once = await formatQs(text, f);
      expect(await formatQs(once, f)).toBe(once);
      expect(shape(once)).toEqual(shape(text));
      expect(comments(once)).toEqual(comments(text));
      if (!f.startsWith("test/"))
        expect(once, `${f} is not formatted; run qkc fmt --write ${f}`).toBe(text);
    });
  }

  it("rejects a file with a syntax error with its file:line:col", async () => {
    await expect(formatQs("scheme s {\n  element e2m1\n}", "bad.qs")).rejects.toThrow(
      "bad.qs:2:11: error: expected ':' but found 'e2m1'",
    );
  });
});

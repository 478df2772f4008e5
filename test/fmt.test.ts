import { readdirSync, readFileSync } from "node:fs";
import * as prettier from "prettier";
import { describe, expect, it } from "vitest";
import { formatQs } from "../dsl/format.js";
import { parseQs } from "../dsl/parser.js";
import { Rng } from "./fuzz/qs-fuzz.js";
import plugin, { languages, parsers, printers } from "../dsl/prettier-plugin.js";

/** The AST without source positions (numbers keep their `text`), to compare parses of differently laid out text. */
function shape(text: string): unknown {
  const { file, diagnostics } = parseQs(text, "t.qs");
  expect(diagnostics.map((d) => d.headline)).toEqual([]);
  return JSON.parse(
    JSON.stringify(file.decls, (k, v) =>
      ["loc", "nameLoc", "pathLoc"].includes(k) ? undefined : v,
    ),
  );
}

/** The multiset of comment texts; the formatter strips trailing white space from line comments. */
const comments = (text: string) =>
  parseQs(text, "t.qs")
    .file.comments.map((c) => (c.text.startsWith("//") ? c.text.trimEnd() : c.text))
    .sort();

/** Formatting `input` is idempotent, keeps the AST (locations aside) and every comment, and ends in one newline. */
async function expectSound(input: string, printWidth?: number): Promise<string> {
  const once = await formatQs(input, "t.qs", { printWidth });
  expect(await formatQs(once, "t.qs", { printWidth }), "idempotent").toBe(once);
  expect(shape(once), "same AST").toEqual(shape(input));
  expect(comments(once), "same comments").toEqual(comments(input));
  if (once !== "") expect(once).toMatch(/[^\n]\n$/);
  // no trailing white space, except inside what is kept as written
  if (!/prettier-ignore|\/\*[^]*?\n[^]*?\*\//.test(input)) expect(once).not.toMatch(/[ \t]$/m);
  return once;
}

/** [rule, input, expected output] */
type Golden = [string, string, string];

const lines = (...ls: string[]) => ls.join("\n") + "\n";

const GOLDEN: Record<string, Golden[]> = {
  "declarations and blank lines": [
    [
      "one blank line between declarations, however many were written",
      "format a = int { bits: 4 }\n\n\n\nformat b = int { bits: 5 }",
      lines("format a = int { bits: 4 }", "", "format b = int { bits: 5 }"),
    ],
    [
      "declarations on consecutive lines stay together",
      "format a = int { bits: 4 }\nformat b = int { bits: 5 }\n\nformat c = int { bits: 6 }\nformat d = int { bits: 7 }",
      lines(
        "format a = int { bits: 4 }",
        "format b = int { bits: 5 }",
        "",
        "format c = int { bits: 6 }",
        "format d = int { bits: 7 }",
      ),
    ],
    [
      "declarations on one line are separated by a blank line",
      "format a = int { bits: 4 } format b = int { bits: 5 } scheme s { block: 32 }",
      lines(
        "format a = int { bits: 4 }",
        "",
        "format b = int { bits: 5 }",
        "",
        "scheme s {",
        "  block: 32",
        "}",
      ),
    ],
    [
      "a group of one-line formats after a multi-line scheme",
      "scheme s {\n  block: 32\n}\nformat a = int { bits: 4 }\nformat b = int { bits: 5 }",
      lines(
        "scheme s {",
        "  block: 32",
        "}",
        "format a = int { bits: 4 }",
        "format b = int { bits: 5 }",
      ),
    ],
    [
      "a comment directly above a declaration stays directly above it",
      "// doc\nformat a = int { bits: 4 }\n\n\n// section\n\n// doc b\nformat b = int { bits: 5 }",
      lines(
        "// doc",
        "format a = int { bits: 4 }",
        "",
        "// section",
        "",
        "// doc b",
        "format b = int { bits: 5 }",
      ),
    ],
    [
      "comments between consecutive declarations keep them together",
      "format a = int { bits: 4 } // a\n// b\nformat b = int { bits: 5 }",
      lines("format a = int { bits: 4 } // a", "// b", "format b = int { bits: 5 }"),
    ],
    [
      "leading and trailing blank lines go, the last newline is added",
      "\n\n\n  format a = int { bits: 4 }   \n\n\n",
      lines("format a = int { bits: 4 }"),
    ],
    ["no trailing newline in the input", 'import "a.qs"', lines('import "a.qs"')],
    [
      "CRLF line ends become LF",
      "format a = int { bits: 4 }\r\nformat b = int { bits: 5 }\r\n",
      lines("format a = int { bits: 4 }", "format b = int { bits: 5 }"),
    ],
    ["an empty file stays empty", "\n \n", ""],
    [
      "a file of comments",
      "\n// one   \n\n\n/* two */ // three\n",
      lines("// one", "", "/* two */", "// three"),
    ],
    [
      "imports keep their string as written",
      'import   "a\\"b\\\\c.qs"',
      lines('import "a\\"b\\\\c.qs"'),
    ],
  ],
  "scheme bodies": [
    [
      "one field per line, two-space indent, no commas",
      "scheme s extends mxfp4 { block: 16, scale: e4m3 { rule: amax }, tensor_scale: f32 }",
      lines(
        "scheme s extends mxfp4 {",
        "  block: 16",
        "  scale: e4m3 { rule: amax }",
        "  tensor_scale: f32",
        "}",
      ),
    ],
    [
      "fields without commas, several on a line, a trailing comma",
      "scheme  s{element:e2m1 block:32\n\tscale : e8m0{rule:floor},}",
      lines("scheme s {", "  element: e2m1", "  block: 32", "  scale: e8m0 { rule: floor }", "}"),
    ],
    [
      "a blank line between fields is kept (one at most)",
      "scheme s {\n\n  element: e2m1\n\n\n\n  block: 32\n  axis: 0\n\n}",
      lines("scheme s {", "  element: e2m1", "", "  block: 32", "  axis: 0", "}"),
    ],
    ["an empty body", "scheme s extends mxfp4 {  }", lines("scheme s extends mxfp4 {}")],
    [
      "the inline bodies of fields break when they do not fit",
      "scheme s { rounding: stochastic { bits: 8, source: philox, seed_from: tensor_index_and_block_offset_of_each_value } }",
      lines(
        "scheme s {",
        "  rounding: stochastic {",
        "    bits: 8",
        "    source: philox",
        "    seed_from: tensor_index_and_block_offset_of_each_value",
        "  }",
        "}",
      ),
    ],
  ],
  "inline bodies": [
    [
      "on one line with commas when they fit",
      "format a=float{exponent:2\nmantissa:1 ,bias:1}",
      lines("format a = float { exponent: 2, mantissa: 1, bias: 1 }"),
    ],
    ["an empty inline body", "format a = float {}", lines("format a = float {}")],
    [
      "nested bodies",
      "kernel k = quantize(mxfp4) { rounding: stochastic { bits: 8 }, input: bf16 }",
      lines("kernel k = quantize(mxfp4) { rounding: stochastic { bits: 8 }, input: bf16 }"),
    ],
    [
      "broken one field per line without commas when they do not fit in 100 columns",
      "kernel k = gemv(weights: mxfp4, activations: f16) { accumulate: f32, some_really_long_option_name: some_value }",
      lines(
        "kernel k = gemv(weights: mxfp4, activations: f16) {",
        "  accumulate: f32",
        "  some_really_long_option_name: some_value",
        "}",
      ),
    ],
    [
      "exactly 100 columns still fit",
      `format e8m0 = float { exponent: 8, mantissa: 0, bias: 127, signed: false, specials: e8m0, x_y: 123 }`,
      lines(
        `format e8m0 = float { exponent: 8, mantissa: 0, bias: 127, signed: false, specials: e8m0, x_y: 123 }`,
      ),
    ],
    [
      "101 columns do not",
      `format e8m0 = float { exponent: 8, mantissa: 0, bias: 127, signed: false, specials: e8m0, x_y: 1234 }`,
      lines(
        "format e8m0 = float {",
        "  exponent: 8",
        "  mantissa: 0",
        "  bias: 127",
        "  signed: false",
        "  specials: e8m0",
        "  x_y: 1234",
        "}",
      ),
    ],
    [
      "the outer body breaks first",
      "kernel k = quantize(mxfp4) { input: bf16, rounding: stochastic { bits: 8 }, layout: packed, output: some_long_name_here }",
      lines(
        "kernel k = quantize(mxfp4) {",
        "  input: bf16",
        "  rounding: stochastic { bits: 8 }",
        "  layout: packed",
        "  output: some_long_name_here",
        "}",
      ),
    ],
  ],
  "call arguments": [
    [
      "spacing, named arguments, nested calls",
      "kernel k = quantize( m , rotate : hadamard( 32 ) )",
      lines("kernel k = quantize(m, rotate: hadamard(32))"),
    ],
    [
      "empty arguments",
      "kernel k = quantize ( ) { input: bf16 }",
      lines("kernel k = quantize() { input: bf16 }"),
    ],
    [
      "a trailing comma in the source goes when the call fits",
      "kernel k = quantize(m, rotate: hadamard(32),)",
      lines("kernel k = quantize(m, rotate: hadamard(32))"),
    ],
    [
      "a call that does not fit breaks one argument per line with a trailing comma, like JavaScript",
      "kernel a_kernel_name = quantize(mxfp4_scheme_with_long_name, rotate: hadamard(32), seed: 12345678, extra: 1) { input: bf16 }",
      lines(
        "kernel a_kernel_name = quantize(",
        "  mxfp4_scheme_with_long_name,",
        "  rotate: hadamard(32),",
        "  seed: 12345678,",
        "  extra: 1,",
        ") { input: bf16 }",
      ),
    ],
    [
      "the call fits and the body after it breaks",
      "kernel a_kernel_with_a_long_name = quantize(mxfp4, rotate: hadamard(32, seed: 123456789)) { input: bf16, output: f32 }",
      lines(
        "kernel a_kernel_with_a_long_name = quantize(mxfp4, rotate: hadamard(32, seed: 123456789)) {",
        "  input: bf16",
        "  output: f32",
        "}",
      ),
    ],
  ],
  lists: [
    [
      "on one line when they fit, a trailing comma dropped",
      "format t = table { values: [ a , b,c, ] }",
      lines("format t = table { values: [a, b, c] }"),
    ],
    ["an empty list", "format t = table { values: [ ] }", lines("format t = table { values: [] }")],
    [
      "items without commas",
      "format t = table { values: [1 2 3] }",
      lines("format t = table { values: [1, 2, 3] }"),
    ],
    [
      "broken: one item per line, a trailing comma",
      "format t = table { values: [alpha_beta_gamma_1, alpha_beta_gamma_2, alpha_beta_gamma_3, alpha_beta_gamma_4, alpha_beta_gamma_5] }",
      lines(
        "format t = table {",
        "  values: [",
        "    alpha_beta_gamma_1,",
        "    alpha_beta_gamma_2,",
        "    alpha_beta_gamma_3,",
        "    alpha_beta_gamma_4,",
        "    alpha_beta_gamma_5,",
        "  ]",
        "}",
      ),
    ],
    [
      "numbers fill the lines when broken, a trailing comma",
      `format t = table { values: [${Array.from({ length: 16 }, (_, i) => (i / 16 - 0.5).toFixed(8)).join(", ")}] }`,
      lines(
        "format t = table {",
        "  values: [",
        "    -0.50000000, -0.43750000, -0.37500000, -0.31250000, -0.25000000, -0.18750000, -0.12500000,",
        "    -0.06250000, 0.00000000, 0.06250000, 0.12500000, 0.18750000, 0.25000000, 0.31250000, 0.37500000,",
        "    0.43750000,",
        "  ]",
        "}",
      ),
    ],
    [
      "numbers with a comment spanning lines among them go one per line when broken",
      "format t = table { values: [-0.50000000, -0.43750000, -0.37500000, /* two\n lines */ -0.31250000, -0.25000000, -0.18750000, -0.12500000, 0.5] }",
      lines(
        "format t = table {",
        "  values: [",
        "    -0.50000000,",
        "    -0.43750000,",
        "    -0.37500000,",
        "    /* two",
        " lines */ -0.31250000,",
        "    -0.25000000,",
        "    -0.18750000,",
        "    -0.12500000,",
        "    0.5,",
        "  ]",
        "}",
      ),
    ],
    [
      "tiles in a list",
      "scheme s { blocks: [16x16, 4 x 4, (2) x 8] }",
      lines("scheme s {", "  blocks: [16 x 16, 4 x 4, (2) x 8]", "}"),
    ],
  ],
  "numbers, strings and operators": [
    [
      "numbers keep their source text",
      "format t = table { values: [0x7F, 0XfF, 0b101, 1e-3, 1E+3, .5, 2.50, -0, -0.6961928009986877, 007] }",
      lines(
        "format t = table { values: [0x7F, 0XfF, 0b101, 1e-3, 1E+3, .5, 2.50, -0, -0.6961928009986877, 007] }",
      ),
    ],
    [
      "spaces around + - * / and x, none around ^",
      "format k = int { bits: 2 ^ 3, shift: -( 2+4 ), a: max(e2m1)*max(e4m3) }\nformat j = int { b: 1-2/3, c: 2^-6, d: 1 - -1 }",
      lines(
        "format k = int { bits: 2^3, shift: -(2 + 4), a: max(e2m1) * max(e4m3) }",
        "format j = int { b: 1 - 2 / 3, c: 2^-6, d: 1 - -1 }",
      ),
    ],
    [
      "unary signs attached, parentheses kept as written",
      "format k = int { a: - 3, b: + 4, c: - - 5, d: ((1)), e: (2 ^ 3) ^ 2, f: - 2 ^ 2, g: (-2)^2 }",
      lines("format k = int { a: -3, b: +4, c: --5, d: ((1)), e: (2^3)^2, f: -2^2, g: (-2)^2 }"),
    ],
    [
      "tiles, written with or without spaces",
      "scheme t extends nvfp4 { block: 16x16, b: 16 x (2*8) }",
      lines("scheme t extends nvfp4 {", "  block: 16 x 16", "  b: 16 x (2 * 8)", "}"),
    ],
    [
      "strings as written",
      'format s = named { label: "tab\\there", q: "say \\"hi\\"" }',
      lines('format s = named { label: "tab\\there", q: "say \\"hi\\"" }'),
    ],
  ],
  comments: [
    [
      "trailing line comments stay on their line, one space before them",
      "scheme s {\n  block: 32     // why\n  axis: 0\t// which\n}",
      lines("scheme s {", "  block: 32 // why", "  axis: 0 // which", "}"),
    ],
    [
      "comments on their own lines inside a scheme, before and after fields",
      "scheme s {\n  // first\n  block: 32\n  /* second */\n  axis: 0\n  // last\n}",
      lines(
        "scheme s {",
        "  // first",
        "  block: 32",
        "  /* second */",
        "  axis: 0",
        "  // last",
        "}",
      ),
    ],
    [
      "a line comment after the brace",
      "scheme s { // note\n  block: 32\n}",
      lines("scheme s {", "  // note", "  block: 32", "}"),
    ],
    [
      "block comments inside a line stay where they are",
      "format a = /* c */ int { bits: /* four */ 4, /* d */ signed: true /* e */ }",
      lines("format a = /* c */ int { bits: /* four */ 4, /* d */ signed: true /* e */ }"),
    ],
    [
      "a line comment breaks the inline body it is in",
      "scheme s { scale: e8m0 { rule: floor // why\n } }",
      lines("scheme s {", "  scale: e8m0 {", "    rule: floor // why", "  }", "}"),
    ],
    [
      "a line comment inside an expression goes to the end of its field",
      "format a = int { bits: 2 + // why\n 4, signed: true }",
      lines("format a = int {", "  bits: 2 + 4 // why", "  signed: true", "}"),
    ],
    [
      "a line comment between `=` and the value goes above the declaration",
      "format a = // why\n  int { bits: 4 }",
      lines("// why", "format a = int { bits: 4 }"),
    ],
    [
      "dangling comments in an empty scheme body",
      "scheme s extends b { /* nothing yet */ }\nscheme t extends b { // nothing yet\n}",
      lines(
        "scheme s extends b {",
        "  /* nothing yet */",
        "}",
        "scheme t extends b {",
        "  // nothing yet",
        "}",
      ),
    ],
    [
      "dangling comments in empty inline bodies, arguments and lists",
      "kernel k = quantize( /* a */ ) { /* b */ }\nformat t = table { values: [ /* none */ ] }",
      lines(
        "kernel k = quantize(/* a */) { /* b */ }",
        "format t = table { values: [/* none */] }",
      ),
    ],
    [
      "a dangling line comment breaks its brackets",
      "kernel k = quantize(m) { // later\n}\nformat t = table { values: [ // none\n] }",
      lines(
        "kernel k = quantize(m) {",
        "  // later",
        "}",
        "format t = table {",
        "  values: [",
        "    // none",
        "  ]",
        "}",
      ),
    ],
    [
      "comments before `)` stay in the arguments, after it in the body",
      "kernel k = quantize(m // the scheme\n) { input: bf16 }\nkernel j = quantize(m /* a */) /* b */ { input: bf16 }",
      lines(
        "kernel k = quantize(",
        "  m, // the scheme",
        ") { input: bf16 }",
        "kernel j = quantize(m /* a */) { /* b */ input: bf16 }",
      ),
    ],
    [
      "line comments in lists",
      "format t = table { values: [1, 2 // two\n, 3,\n // four\n 4] }",
      lines(
        "format t = table {",
        "  values: [",
        "    1, 2, // two",
        "    3,",
        "    // four",
        "    4,",
        "  ]",
        "}",
      ),
    ],
    [
      "comments in a scheme header and an import",
      'scheme s /* a */ extends b /* b */ { block: 32 }\nimport /* why */ "x.qs"',
      lines("scheme s /* a */ extends b /* b */ {", "  block: 32", "}", 'import /* why */ "x.qs"'),
    ],
    [
      "multi-line block comments are kept as written",
      "/**\n * doc\n */\nformat a = int { bits: 4 }",
      lines("/**", " * doc", " */", "format a = int { bits: 4 }"),
    ],
    [
      "comments after the last declaration",
      "format a = int { bits: 4 } // a\n\n// end\n",
      lines("format a = int { bits: 4 } // a", "", "// end"),
    ],
    [
      "prettier-ignore keeps the next declaration or field as written",
      "// prettier-ignore\nformat  a  = int {bits:4}\nscheme s {\n  // prettier-ignore\n  block:   16x16\n  axis:0\n}",
      lines(
        "// prettier-ignore",
        "format  a  = int {bits:4}",
        "scheme s {",
        "  // prettier-ignore",
        "  block:   16x16",
        "  axis: 0",
        "}",
      ),
    ],
  ],
};

/** The example of the language reference, as written and as formatted. */
const EXAMPLE = `// formats
format e2m1 = float { exponent: 2, mantissa: 1, bias: 1, specials: none }
format e4m3 = float { exponent: 4, mantissa: 3, bias: 7, specials: nan_only }
format e8m0 = float { exponent: 8, mantissa: 0, bias: 127, signed: false, specials: e8m0 }
format int4s = int { bits: 4, signed: true, range: symmetric }
format nf4v = table { values: [-1.0, -0.6961928009986877, 0.0, /* ... */ 1.0] }

// schemes
scheme mxfp4 {
  element: e2m1
  block: 32                 // along the last axis; \`block: 16 x 16\` for 2-D tiles; \`axis: 0\`
  scale: e8m0 { rule: floor }
  rounding: nearest_even    // nearest_away | toward_zero | stochastic { bits: 8 }
  overflow: saturate
}
scheme nvfp4 extends mxfp4 { block: 16, scale: e4m3 { rule: amax }, tensor_scale: f32 }

kernel quantize_mxfp4 = quantize(mxfp4) { input: bf16, layout: packed }
kernel qdq_nvfp4      = qdq(nvfp4)      { input: f32 }
kernel gemv_mxfp4     = gemv(weights: mxfp4, activations: f16) { accumulate: f32 }
kernel rot_mxfp4      = quantize(mxfp4, rotate: hadamard(32)) { input: bf16 }
format k = int { bits: 2^3, shift: -(2 + 4) }
`;

const EXAMPLE_FORMATTED = `// formats
format e2m1 = float { exponent: 2, mantissa: 1, bias: 1, specials: none }
format e4m3 = float { exponent: 4, mantissa: 3, bias: 7, specials: nan_only }
format e8m0 = float { exponent: 8, mantissa: 0, bias: 127, signed: false, specials: e8m0 }
format int4s = int { bits: 4, signed: true, range: symmetric }
format nf4v = table { values: [-1.0, -0.6961928009986877, 0.0, /* ... */ 1.0] }

// schemes
scheme mxfp4 {
  element: e2m1
  block: 32 // along the last axis; \`block: 16 x 16\` for 2-D tiles; \`axis: 0\`
  scale: e8m0 { rule: floor }
  rounding: nearest_even // nearest_away | toward_zero | stochastic { bits: 8 }
  overflow: saturate
}
scheme nvfp4 extends mxfp4 {
  block: 16
  scale: e4m3 { rule: amax }
  tensor_scale: f32
}

kernel quantize_mxfp4 = quantize(mxfp4) { input: bf16, layout: packed }
kernel qdq_nvfp4 = qdq(nvfp4) { input: f32 }
kernel gemv_mxfp4 = gemv(weights: mxfp4, activations: f16) { accumulate: f32 }
kernel rot_mxfp4 = quantize(mxfp4, rotate: hadamard(32)) { input: bf16 }
format k = int { bits: 2^3, shift: -(2 + 4) }
`;

const qsFiles = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith(".qs"))
    .map((f) => `${dir}/${f}`);

/** Files that must already be in the canonical style. */
const FORMATTED = [
  ...qsFiles("stdlib"),
  ...qsFiles("examples"),
  "test/fixtures/qs/mixed.expected.qs",
];

describe("qkc fmt (the prettier plugin for .qs)", () => {
  for (const [rule, cases] of Object.entries(GOLDEN)) {
    describe(rule, () => {
      it.each(cases)("%s", async (_, input, want) => {
        expect(await formatQs(input)).toBe(want);
        await expectSound(input);
        await expectSound(want);
      });
    });
  }

  it("formats the language example", async () => {
    expect(await formatQs(EXAMPLE, "example.qs")).toBe(EXAMPLE_FORMATTED);
    await expectSound(EXAMPLE);
    expect(await formatQs(EXAMPLE_FORMATTED)).toBe(EXAMPLE_FORMATTED);
  });

  it("formats a large mixed example (test/fixtures/qs/mixed.qs) as mixed.expected.qs", async () => {
    const text = readFileSync("test/fixtures/qs/mixed.qs", "utf8");
    expect(await expectSound(text)).toBe(
      readFileSync("test/fixtures/qs/mixed.expected.qs", "utf8"),
    );
  });

  it("is sound on all the golden inputs and files at once", async () => {
    const all = [
      ...Object.values(GOLDEN).flatMap((cases) => cases.map(([, input]) => input)),
      EXAMPLE.replace(/\b(format|scheme|kernel) (\w+)/g, "$1 $2_x"),
      ...FORMATTED.map((f) => readFileSync(f, "utf8")),
    ].join("\n");
    await expectSound(all);
  });

  for (const f of FORMATTED) {
    it(`${f} is formatted`, async () => {
      const text = readFileSync(f, "utf8");
      expect(await formatQs(text, f), `${f} is not formatted; run qkc fmt --write ${f}`).toBe(text);
      await expectSound(text);
    });
  }

  it("takes printWidth", async () => {
    const text = "kernel k = quantize(mxfp4) { input: bf16, layout: packed }";
    expect(await formatQs(text, "k.qs", { printWidth: 40 })).toBe(
      lines("kernel k = quantize(mxfp4) {", "  input: bf16", "  layout: packed", "}"),
    );
    expect(await formatQs(text, "k.qs", { printWidth: 20 })).toBe(
      lines("kernel k = quantize(", "  mxfp4,", ") {", "  input: bf16", "  layout: packed", "}"),
    );
    await expectSound(text, 20);
  });

  it("stays sound on mutated and generated sources (comments and line breaks anywhere)", async () => {
    const rng = new Rng(20261122);
    const corpus = [
      EXAMPLE,
      readFileSync("test/fixtures/qs/mixed.qs", "utf8"),
      ...FORMATTED.map((f) => readFileSync(f, "utf8")),
    ];
    let checked = 0;
    for (let n = 0; checked < 300 && n < 3000; n++) {
      let src = rng.next() < 0.5 ? generateFile(rng) : rng.pick(corpus);
      src = sprinkle(src, rng);
      if (parseQs(src, "t.qs").diagnostics.length) continue;
      checked++;
      try {
        await expectSound(src, rng.pick([100, 60, 30]));
      } catch (e) {
        throw new Error(`${(e as Error).message}\n--- source:\n${src}`, { cause: e });
      }
    }
    expect(checked).toBe(300);
  });

  it("rejects a file with a syntax error with its file:line:col", async () => {
    await expect(formatQs("scheme s {\n  element e2m1\n}", "bad.qs")).rejects.toThrow(
      new Error("bad.qs:2:11: error: expected ':' but found 'e2m1'"),
    );
    await expect(formatQs("format a = int { bits: 4 }\nformat b = @", "lex.qs")).rejects.toThrow(
      new Error("lex.qs:2:12: error: unexpected character '@'"),
    );
    await expect(formatQs("scheme s {")).rejects.toThrow(/^<input>:1:11: error: /);
  });

  it("is a prettier plugin: language, parser and printer, found by file extension", async () => {
    expect(languages).toEqual([
      expect.objectContaining({ name: "qs", extensions: [".qs"], parsers: ["qs"] }),
    ]);
    expect(parsers.qs.astFormat).toBe("qs-ast");
    expect(Object.keys(printers)).toEqual(["qs-ast"]);
    expect(plugin).toMatchObject({ languages, parsers, printers });
    // no parser named: prettier infers it from the .qs extension; printWidth defaults to 100
    const long =
      "format e8m0 = float { exponent: 8, mantissa: 0, bias: 127, signed: false, specials: e8m0 }";
    expect(
      await prettier.format(`${long}\nkernel  k=q(m)`, { filepath: "dir/x.qs", plugins: [plugin] }),
    ).toBe(lines(long, "kernel k = q(m)"));
    expect(await prettier.getFileInfo("x.qs", { plugins: [plugin] })).toMatchObject({
      inferredParser: "qs",
    });
  });

  it("hands prettier the comments on the AST, and visits only child nodes", async () => {
    const ast = (await parsers.qs.parse("// c\nformat a = int { bits: 2 + 4 } /* d */", {
      filepath: "a.qs",
    } as never)) as { comments: { text: string }[] };
    expect(ast.comments.map((c) => c.text)).toEqual(["// c", "/* d */"]);
    const keys = printers["qs-ast"].getVisitorKeys!;
    const none = new Set<string>();
    const source =
      'import "x.qs"\nformat a = t { v: [1, -(2 + 3)] }\nscheme s extends b { a: f(n: 1) { b: 1 } }\nkernel k = q(m)';
    const file = parseQs(source, "t.qs").file;
    const seen = new Set<string>();
    const visit = (node: object) => {
      for (const key of keys(node as never, none)) {
        seen.add(key);
        const value = (node as Record<string, object | object[] | undefined>)[key];
        for (const child of Array.isArray(value) ? value : value ? [value] : []) visit(child);
      }
    };
    visit(file);
    expect([...seen].sort()).toEqual([
      "args",
      "body",
      "decls",
      "fields",
      "inner",
      "items",
      "left",
      "operand",
      "right",
      "value",
    ]);
  });
});

// ---- random sources for the soundness property ------------------------------

const many = (rng: Rng, n: number, f: () => string) => Array.from({ length: rng.int(n) }, f);

function generateExpr(rng: Rng, depth: number): string {
  switch (depth > 3 ? rng.int(3) : rng.int(9)) {
    case 0:
      return rng.pick(["0", "32", "0x7F", "1e-3", ".5", "-0.6961928009986877", "2.50"]);
    case 1:
      return rng.pick(["e2m1", "floor", "mxfp4", "a_rather_long_reference_name"]);
    case 2:
      return '"s.qs"';
    case 3:
      return `${generateExpr(rng, depth + 1)} ${rng.pick(["+", "-", "*", "/", "^", "x"])} ${generateExpr(rng, depth + 1)}`;
    case 4:
      return `-${generateExpr(rng, depth + 1)}`;
    case 5:
      return `(${generateExpr(rng, depth + 1)})`;
    case 6:
      return `[${many(rng, 6, () => generateExpr(rng, depth + 1)).join(", ")}]`;
    case 7: {
      const args = many(
        rng,
        4,
        () => (rng.next() < 0.5 ? "n: " : "") + generateExpr(rng, depth + 1),
      );
      return `${rng.pick(["hadamard", "quantize"])}(${args.join(", ")})${rng.next() < 0.5 ? " " + generateBody(rng, depth + 1) : ""}`;
    }
    default:
      return `${rng.pick(["e8m0", "float"])} ${generateBody(rng, depth + 1)}`;
  }
}

function generateBody(rng: Rng, depth: number): string {
  const fields = many(
    rng,
    5,
    () =>
      `${rng.pick(["rule", "bits", "values", "a_long_field_name"])}: ${generateExpr(rng, depth + 1)}`,
  );
  return `{ ${fields.join(rng.pick([", ", " ", "\n"]))} }`;
}

function generateFile(rng: Rng): string {
  const decls = Array.from({ length: 1 + rng.int(5) }, () => {
    switch (rng.int(4)) {
      case 0:
        return `format f${rng.int(9)} = ${generateExpr(rng, 0)}`;
      case 1:
        return `kernel k${rng.int(9)} = ${generateExpr(rng, 0)}`;
      case 2:
        return 'import "x.qs"';
      default:
        return `scheme s${rng.int(9)}${rng.next() < 0.5 ? " extends b" : ""} ${generateBody(rng, 0)}`;
    }
  });
  return decls.join(rng.pick(["\n", "\n\n", " "]));
}

/** Comments and line breaks at random token boundaries; sometimes every line break changed. */
function sprinkle(src: string, rng: Rng): string {
  const INSERTS = ["// c\n", "/* c */", "/* a\n b */", "\n", "\n\n", " ", "// prettier-ignore\n"];
  let s = src;
  if (rng.next() < 0.3)
    s = s.replace(/[ \t]*\n[ \t]*/g, () => rng.pick([" ", "\n", "\n\n", "  \n\t"]));
  for (let k = rng.int(10); k > 0; k--) {
    const bounds = [...s.matchAll(/[^\s\w."]|\w+|"[^"\n]*"|\s+/g)].map((m) => m.index);
    const i = rng.pick([...bounds, s.length]);
    s = s.slice(0, i) + (rng.next() < 0.5 ? " " : "") + rng.pick(INSERTS) + s.slice(i);
  }
  return s;
}

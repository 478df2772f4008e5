import { describe, expect, it } from "vitest";
import { parseQs } from "../dsl/parser.js";
import type { Expr } from "../dsl/ast.js";

/** An expression as compact text, to compare parse trees in one line. */
function show(e: Expr): string {
  switch (e.kind) {
    case "number":
      return e.text;
    case "string":
      return JSON.stringify(e.value);
    case "unary":
      return `(${e.op}${show(e.operand)})`;
    case "binary":
      return `(${show(e.left)} ${e.op} ${show(e.right)})`;
    case "paren":
      return `[${show(e.inner)}]`;
    case "list":
      return `list(${e.items.map(show).join(", ")})`;
    case "ref": {
      const args = e.args ? `(${e.args.map((a) => (a.name ? `${a.name}=` : "") + show(a.value)).join(", ")})` : "";
      const body = e.body ? `{${e.body.map((f) => `${f.name}=${show(f.value)}`).join(", ")}}` : "";
      return e.name + args + body;
    }
  }
}

const value = (src: string) => {
  const r = parseQs(`format f = ${src}`, "t.qs");
  expect(r.diagnostics.map((d) => d.headline)).toEqual([]);
  const d = r.file.decls[0];
  return d.kind === "format" ? show(d.value) : "";
};

describe("expressions", () => {
  it.each([
    ["1 + 2 * 3", "(1 + (2 * 3))"],
    ["1 - 2 - 3", "((1 - 2) - 3)"],
    ["2^-6", "(2 ^ (-6))"],
    ["-2^2", "(-(2 ^ 2))"],
    ["2^3^2", "(2 ^ (3 ^ 2))"],
    ["(1 + 2) * 3", "([(1 + 2)] * 3)"],
    ["max(e2m1) * max(e4m3)", "(max(e2m1) * max(e4m3))"],
    ["0x7F + 0b101 + 1e-3 + .5", "(((0x7F + 0b101) + 1e-3) + .5)"],
    ["float { exponent: 2, mantissa: 1, }", "float{exponent=2, mantissa=1}"],
    ["float { exponent: 2 mantissa: 1 }", "float{exponent=2, mantissa=1}"],
    ["table { values: [-1.0, 0, 1,] }", "table{values=list((-1.0), 0, 1)}"],
    ["quantize(mxfp4, rotate: hadamard(32)) { input: bf16 }", "quantize(mxfp4, rotate=hadamard(32)){input=bf16}"],
    ["s { block: 16 x 16 }", "s{block=(16 x 16)}"],
    ['y { name: "a\\"b" }', 'y{name="a\\"b"}'],
    ["s { block: 16x16 }", "s{block=(16 x 16)}"],
  ])("%s", (src, want) => expect(value(src)).toBe(want));

  it("reads number literals exactly", () => {
    const r = parseQs("format f = t { a: [0x10, 0b11, 1e-3, 2.5e2, 0.6961928009986877] }", "t.qs");
    const d = r.file.decls[0];
    const items = d.kind === "format" && d.value.kind === "ref" && d.value.body![0].value.kind === "list" ? d.value.body![0].value.items : [];
    expect(items.map((e) => (e.kind === "number" ? e.value : NaN))).toEqual([16, 3, 0.001, 250, 0.6961928009986877]);
  });
});

describe("declarations", () => {
  it("parses all four kinds with locations and comments", () => {
    const src = `import "lib.qs"\n// doc\nscheme a extends b {\n  block: 16 /* c */\n}\nkernel k = qdq(a)\n`;
    const r = parseQs(src, "t.qs");
    expect(r.diagnostics).toEqual([]);
    expect(r.file.decls.map((d) => d.kind)).toEqual(["import", "scheme", "kernel"]);
    const s = r.file.decls[1];
    expect(s.kind === "scheme" && [s.name, s.base?.name, s.nameLoc.line, s.nameLoc.column]).toEqual(["a", "b", 3, 8]);
    expect(r.file.comments.map((c) => c.text)).toEqual(["// doc", "/* c */"]);
  });

  it("recovers after an error and reports each one", () => {
    const r = parseQs(`format a = float { exponent: }\nformat b = int { bits 4 }\nscheme c { block: 16 x }`, "t.qs");
    expect(r.diagnostics.map((d) => `${d.loc.line}:${d.loc.column}`)).toEqual(["1:30", "2:23", "3:24"]);
  });

  it("reports characters outside the language", () => {
    const r = parseQs(`format a = int { bits: 4 } @`, "t.qs");
    expect(r.diagnostics[0].headline).toBe("t.qs:1:28: error: unexpected character '@'");
  });

  it("never throws on control characters in strings", () => {
    expect(parseQs('import "a\tb"', "t.qs").file.decls[0]).toMatchObject({ path: "a\tb" });
  });
});

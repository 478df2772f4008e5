import { describe, expect, it } from "vitest";
import { dequantize, quantize } from "../ir/interpret/index.js";
import { BUILTIN_FORMATS, BUILTIN_SCHEMES, builtinScheme } from "../stdlib/index.js";
import { BUILTIN_SCHEMES as LEGACY } from "./fixtures/legacy-schemes.js";
import { standardLibrary } from "../dsl/load.js";
import { readFileSync } from "node:fs";

function corpus(): Float32Array {
  let s = 7;
  const rnd = () => (s = (s * 16807) % 2147483647) / 2147483647;
  const x = Float32Array.from({ length: 64 * 300 }, () => {
    const u = rnd();
    const v = rnd();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v) * 2 ** Math.floor(rnd() * 40 - 20);
  });
  x.set([0, -0, 7, 3.5, 0.25, 2 ** -140, 3.4e38, -6], 100);
  x[5000] = NaN;
  x[6000] = -Infinity;
  x.fill(0, 8192, 8192 + 256);
  return x;
}

describe("stdlib/*.qs", () => {
  it("defines every built-in scheme that used to be TypeScript, and each computes the same codes and values", () => {
    const x = corpus();
    for (const old of LEGACY) {
      const now = builtinScheme(old.name);
      expect(now, old.name).toBeDefined();
      const a = quantize(old, { dtype: "f32", shape: [300, 64], data: x }, { seed: 3 });
      const b = quantize(now!, { dtype: "f32", shape: [300, 64], data: x }, { seed: 3 });
      expect(b.codes, old.name).toEqual(a.codes);
      expect(b.scales, old.name).toEqual(a.scales);
      expect(b.tensorScale, old.name).toEqual(a.tensorScale);
      expect(Buffer.from(dequantize(b).buffer), old.name).toEqual(Buffer.from(dequantize(a).buffer));
    }
  });

  it("gives every declaration a one-line comment citing its source", () => {
    for (const s of BUILTIN_SCHEMES) expect(s.doc, s.name).toMatch(/\w/);
    const { files } = standardLibrary();
    for (const file of files) {
      const text = readFileSync(file.startsWith("/") ? file : `${process.cwd()}/${file}`, "utf8");
      const lines = text.split("\n");
      lines.forEach((line, i) => {
        if (/^(format|scheme|kernel) /.test(line)) expect(lines[i - 1], `${file}:${i + 1}`).toMatch(/^\/\/ /);
      });
    }
  });

  it("lists formats including the IEEE primitives", () => {
    expect(BUILTIN_FORMATS.map((f) => f.name)).toEqual(expect.arrayContaining(["e2m1", "e8m0", "f16", "bf16", "f32", "nf4v"]));
  });
});

describe("examples/*.qs", () => {
  it("check without diagnostics", async () => {
    const { readdirSync } = await import("node:fs");
    const { loadProgram, renderAll } = await import("../dsl/load.js");
    const files = readdirSync("examples").filter((f) => f.endsWith(".qs"));
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const f of files) expect(renderAll(loadProgram([{ file: `examples/${f}` }])), f).toBe("");
  });
});

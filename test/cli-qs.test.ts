import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../cli/main.js";
import { readNpy, writeNpy } from "../cli/npy.js";
import { qdq } from "../ir/interpret/index.js";
import { loadProgram } from "../dsl/load.js";

const dir = mkdtempSync(join(tmpdir(), "qkc-qs-"));

async function run(...argv: string[]) {
  let out = "";
  let err = "";
  const code = await main(argv, { stdout: (t) => void (out += t), stderr: (t) => void (err += t) });
  return { code, out, err };
}

const MY = `// an E3M3 element with an E5M3 scale
format e3m3 = float { exponent: 3, mantissa: 3, bias: 3 }
format e5m3 = float { exponent: 5, mantissa: 3, bias: 15, specials: ieee, signed: false }
// my scheme
scheme mine { element: e3m3, block: 32, scale: e5m3 { rule: amax } }
scheme other extends mine { block: 16 }
`;

describe("qkc with .qs files", () => {
  const file = join(dir, "my.qs");
  writeFileSync(file, MY);

  it("check: a good file prints a summary and exits 0", async () => {
    const r = await run("check", file);
    expect(r.code).toBe(0);
    expect(r.out).toBe("1 file(s): 2 formats, 2 schemes, 0 kernels; 0 errors, 0 warnings\n");
  });

  it("check: errors print file:line:col with a caret and exit 1", async () => {
    const bad = join(dir, "bad.qs");
    writeFileSync(bad, "scheme s {\n  element: e2m2\n  block: 32\n  scale: e8m0\n}\n");
    const r = await run("check", bad);
    expect(r.code).toBe(1);
    expect(r.err).toContain("bad.qs:2:12: error: unknown format 'e2m2' (did you mean 'e2m1'?)");
    expect(r.err).toContain("2 |   element: e2m2\n  |            ^^^^");
    expect(r.err).toMatch(/error: 1 file\(s\): .* 1 errors, 0 warnings\n$/);
  });

  it("qdq FILE.qs:NAME runs the declared scheme", async () => {
    const x = Float32Array.from({ length: 4096 }, (_, i) => Math.sin(i * 0.37) * 3);
    const inPath = join(dir, "x.npy");
    const outPath = join(dir, "y.npy");
    await writeNpy(inPath, { dtype: "f32", shape: [4096], data: x });
    const r = await run("qdq", `${file}:other`, "--in", inPath, "--out", outPath);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    const y = (await readNpy(outPath)).data;
    const scheme = loadProgram([{ file }]).program.schemes.get("other")!;
    expect(y).toEqual(qdq(scheme, x));
  });

  it("a file with several schemes needs a name; a wrong name gets a suggestion", async () => {
    const a = await run("error", file, "--synthetic", "gaussian", "--shape", "64,64");
    expect(a.code).toBe(1);
    expect(a.err).toMatch(/declares 2 schemes \(mine, other\); name one/);
    const b = await run("error", `${file}:mien`, "--synthetic", "gaussian", "--shape", "64,64");
    expect(b.err).toMatch(/declares no scheme 'mien' \(did you mean 'mine'\?\)/);
    const c = await run(
      "error",
      `${file}:mine`,
      "mxfp4",
      "--synthetic",
      "gaussian",
      "--shape",
      "64,64",
    );
    expect(c.code).toBe(0);
    expect(c.out).toMatch(/^mine /m);
  });

  it("list FILE.qs shows that file's declarations", async () => {
    const r = await run("list", file);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^e3m3 +float +7 /m);
    expect(r.out).toMatch(/^other +e3m3 +16 +e5m3 amax /m);
    expect(r.out).not.toMatch(/^mxfp4 /m);
  });
});

describe("qkc compile", () => {
  it("prints the IR after the passes asked for", async () => {
    const r = await run("compile", "mxfp4", "--dump-ir=fuse", "--kernel", "qdq_mxfp4");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^\/\/ qdq_mxfp4 after fuse\ngraph qdq_mxfp4 \{/);
    expect(r.out).toMatch(/= qdq\(%0, %1\) scheme=mxfp4/);
  });

  it("writes one .kir per kernel and a manifest naming scheme, layouts, target, version and source hash", async () => {
    const out = join(dir, "k");
    const r = await run("compile", "nvfp4", "--out", out);
    expect(r.code).toBe(0);
    const { readFileSync } = await import("node:fs");
    const m = JSON.parse(readFileSync(join(out, "manifest.json"), "utf8"));
    expect(m.target).toBe("ir");
    expect(m.sourceSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(m.kernels.map((k: { kind: string }) => k.kind)).toEqual([
      "quantize",
      "dequantize",
      "qdq",
      "qdq_backward",
      "gemv",
    ]);
    expect(m.kernels[0].codeLayout).toEqual({ kind: "nibbles", order: "low_first" });
    expect(m.kernels[4].order, "gemv's reduction order").toBe("fixed");
    expect(m.kernels[0].order).toBeUndefined();
    // and `any` where declared (the default alone would pass a manifest that always wrote fixed)
    const anyFile = join(dir, "any.qs");
    writeFileSync(anyFile, "kernel g = gemv(weights: mxfp4, activations: f32) { accumulate: f32, order: any }\n");
    const outAny = join(dir, "k-any");
    expect((await run("compile", anyFile, "--out", outAny)).code).toBe(0);
    const mAny = JSON.parse(readFileSync(join(outAny, "manifest.json"), "utf8"));
    expect(mAny.kernels.map((k: { kind: string; order?: string }) => [k.kind, k.order])).toEqual([["gemv", "any"]]);
    expect(readFileSync(join(out, "quantize_nvfp4.kir"), "utf8")).toMatch(
      /^kernel quantize_nvfp4_codes\(/,
    );
  });

  it("--relaxed-simd: the order any GEMV fuses its multiply-adds, the manifest says so; only for --target wasm", async () => {
    const { existsSync, readFileSync } = await import("node:fs");
    const anyFile = join(dir, "any-relaxed.qs");
    writeFileSync(anyFile, "kernel g = gemv(weights: mxfp4, activations: f32) { accumulate: f32, order: any }\n");
    const outs = { plain: join(dir, "k-plain"), relaxed: join(dir, "k-relaxed") };
    expect((await run("compile", anyFile, "--target", "wasm", "--out", outs.plain)).code).toBe(0);
    expect((await run("compile", anyFile, "--target", "wasm", "--relaxed-simd", "--out", outs.relaxed)).code).toBe(0);
    const read = (d: string, f: string) => readFileSync(join(d, f), "utf8");
    // the portable module stays as it was, the relaxed one beside it
    expect(read(outs.relaxed, "kernels.wat")).toBe(read(outs.plain, "kernels.wat"));
    expect(read(outs.plain, "kernels.wat")).not.toContain("relaxed");
    expect(read(outs.relaxed, "kernels.relaxed.wat")).toContain("f32x4.relaxed_madd");
    expect(readFileSync(join(outs.relaxed, "kernels.relaxed.wasm")).length).toBeGreaterThan(8);
    expect(existsSync(join(outs.plain, "kernels.relaxed.wasm"))).toBe(false);
    const manifest = (d: string) => JSON.parse(read(d, "manifest.json"));
    expect(manifest(outs.relaxed).wasm.relaxedSimdFile).toBe("kernels.relaxed.wasm");
    expect(manifest(outs.plain).wasm.relaxedSimdFile).toBeUndefined();
    expect(read(outs.relaxed, "kernels.ts")).toContain("relaxedSimdSupported");
    const r = await run("compile", anyFile, "--target", "wgsl", "--relaxed-simd", "--out", join(dir, "k-w"));
    expect(r.code).toBe(1);
    expect(r.err).toBe("error: --relaxed-simd is for --target wasm; drop it or add --target wasm\n");
  });

  it("refuses unknown passes with the list", async () => {
    const r = await run("compile", "mxfp4", "--dump-ir=lowr");
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      "error: --dump-ir=lowr: no such pass; passes: validate, graph, fuse, layout, lower\n",
    );
  });
});

describe("qkc gemv", () => {
  it("computes y = W x of the quantized weights, bit for bit with the interpreter", async () => {
    const { gemv: gemvRef, quantize: q } = await import("../ir/interpret/index.js");
    const N = 5;
    const K = 70;
    const w = Float32Array.from({ length: N * K }, (_, i) => Math.sin(i * 0.3));
    const x = Float32Array.from({ length: K }, (_, i) => Math.cos(i));
    await writeNpy(join(dir, "w.npy"), { dtype: "f32", shape: [N, K], data: w });
    await writeNpy(join(dir, "xv.npy"), { dtype: "f32", shape: [K], data: x });
    const r = await run(
      "gemv",
      "nvfp4",
      "--weights",
      join(dir, "w.npy"),
      "--x",
      join(dir, "xv.npy"),
      "--out",
      join(dir, "yv.npy"),
    );
    expect(r.err).toBe("");
    const { builtinScheme } = await import("../stdlib/index.js");
    const want = gemvRef(q(builtinScheme("nvfp4")!, { dtype: "f32", shape: [N, K], data: w }), x);
    expect((await readNpy(join(dir, "yv.npy"))).data).toEqual(want);
    const bad = await run(
      "gemv",
      "nvfp4",
      "--weights",
      join(dir, "w.npy"),
      "--x",
      join(dir, "w.npy"),
      "--out",
      join(dir, "yv.npy"),
    );
    expect(bad.err).toMatch(/x has 350 elements but the weights have K = 70 columns/);
  });
});

describe("qkc fmt", () => {
  it("prints the formatted file, --check lists unformatted files, --write rewrites them", async () => {
    const f = join(dir, "messy.qs");
    writeFileSync(f, "format  a=int{bits:4}\n");
    const p = await run("fmt", f);
    expect(p.out).toBe("format a = int { bits: 4 }\n");
    const c = await run("fmt", "--check", f);
    expect(c.code).toBe(1);
    expect(c.err).toMatch(/not formatted: .*messy.qs; run qkc fmt --write/);
    expect((await run("fmt", "--write", f)).code).toBe(0);
    expect((await run("fmt", "--check", f)).code).toBe(0);
  });
});

describe("--backend wasm", () => {
  it("qdq, quantize and gemv write the same bytes as the interpreter", async () => {
    const { readFileSync } = await import("node:fs");
    const x = Float32Array.from({ length: 64 * 48 }, (_, i) => Math.sin(i * 0.7) * (1 + (i % 9)));
    x[17] = NaN;
    const inPath = join(dir, "wx.npy");
    await writeNpy(inPath, { dtype: "f32", shape: [64, 48], data: x });
    for (const scheme of ["mxfp4", "nvfp4", "nf4_dq", "int4_g128_asym"]) {
      for (const backend of ["interp", "wasm"]) {
        expect(
          (
            await run(
              "qdq",
              scheme,
              "--in",
              inPath,
              "--out",
              join(dir, `q_${backend}.npy`),
              "--backend",
              backend,
            )
          ).code,
        ).toBe(0);
        expect(
          (
            await run(
              "quantize",
              scheme,
              "--in",
              inPath,
              "--out",
              join(dir, `qz_${backend}`),
              "--backend",
              backend,
            )
          ).code,
        ).toBe(0);
      }
      expect(readFileSync(join(dir, "q_wasm.npy")), scheme).toEqual(
        readFileSync(join(dir, "q_interp.npy")),
      );
      for (const f of ["codes.npy", "scales.npy"])
        expect(readFileSync(join(dir, "qz_wasm", f)), `${scheme} ${f}`).toEqual(
          readFileSync(join(dir, "qz_interp", f)),
        );
    }
    const xv = join(dir, "wxv.npy");
    await writeNpy(xv, {
      dtype: "f32",
      shape: [48],
      data: Float32Array.from({ length: 48 }, (_, i) => i / 7),
    });
    for (const backend of ["interp", "wasm"])
      expect(
        (
          await run(
            "gemv",
            "mxfp4",
            "--weights",
            inPath,
            "--x",
            xv,
            "--out",
            join(dir, `g_${backend}.npy`),
            "--backend",
            backend,
          )
        ).code,
      ).toBe(0);
    expect(readFileSync(join(dir, "g_wasm.npy"))).toEqual(readFileSync(join(dir, "g_interp.npy")));
  });

  it("names the backends that exist", async () => {
    const r = await run("qdq", "mxfp4", "--in", "x.npy", "--out", "y.npy", "--backend", "metal");
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/interp, wasm, wgsl, cuda/);
  });
});

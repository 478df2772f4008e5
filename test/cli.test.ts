import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { main } from "../cli/main.js";
import { readNpy, writeNpy, type NpyArray } from "../cli/npy.js";
import { dequantize, qdq, quantize } from "../ir/interpret/index.js";
import { bitsPerElement } from "../ir/scheme.js";
import type { CodeArray, Tensor } from "../ir/tensor.js";
import { BUILTIN_FORMATS, BUILTIN_SCHEMES, builtinScheme } from "../stdlib/index.js";
import { errorMetrics, qsnrDb } from "../tune/metrics.js";
import { parseDistribution, synthetic } from "../tune/synthetic.js";

const root = join(import.meta.dirname, "..");
const dir = mkdtempSync(join(tmpdir(), "qkc-cli-"));
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };

async function run(...argv: string[]) {
  let out = "";
  let err = "";
  const code = await main(argv, { stdout: (t) => void (out += t), stderr: (t) => void (err += t) });
  return { code, out, err };
}

/** A tensor with every hard case: ragged blocks, zeros, -0, huge and tiny values, a NaN and an Inf. */
function awkwardTensor(rows: number, cols: number): Float32Array {
  const x = Float32Array.from(
    { length: rows * cols },
    (_, i) => Math.sin(i * 0.731) * 2 ** ((i % 23) - 11),
  );
  x.fill(0, 0, 40); // an all-zero block
  x[45] = -0;
  x[100] = 3e38;
  x[101] = 1e-40;
  x[200] = NaN;
  x[300] = -Infinity;
  return x;
}

const asBits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

async function saveInput(name: string, a: NpyArray): Promise<string> {
  const path = join(dir, name);
  await writeNpy(path, a);
  return path;
}

describe("qkc list", () => {
  it("prints every built-in format and scheme in aligned tables", async () => {
    const { code, out, err } = await run("list");
    expect(code).toBe(0);
    expect(err).toBe("");
    for (const f of BUILTIN_FORMATS) expect(out).toMatch(new RegExp(`^${f.name} `, "m"));
    for (const s of BUILTIN_SCHEMES) expect(out).toMatch(new RegExp(`^${s.name} `, "m"));
    expect(out).toMatch(/^e4m3 +float +8 +448 +0\.00195313$/m);
    expect(out).toMatch(/^mxfp4 +e2m1 +32 +e8m0 floor +4\.25 +\S/m);
    expect(out).toMatch(/^nvfp4 +e2m1 +16 +e4m3 amax \+ f32 per tensor +4\.5 /m);
    // columns line up: every scheme row starts its element column where the header does
    const lines = out.split("\n");
    const head = lines.find((l) => l.startsWith("name") && l.includes("element"))!;
    const col = head.indexOf("element");
    for (const s of BUILTIN_SCHEMES) {
      const line = lines.find((l) => l.startsWith(`${s.name} `))!;
      expect(line.slice(col).startsWith(s.element.name)).toBe(true);
    }
  });

  it("--json describes the same formats and schemes", async () => {
    const { code, out } = await run("list", "--json");
    expect(code).toBe(0);
    const j = JSON.parse(out);
    expect(j.schemes.map((s: { name: string }) => s.name)).toEqual(
      BUILTIN_SCHEMES.map((s) => s.name),
    );
    expect(j.formats.find((f: { name: string }) => f.name === "e8m0").max).toBe(2 ** 127);
    expect(j.schemes.find((s: { name: string }) => s.name === "mxfp4").bitsPerElement).toBe(4.25);
  });
});

describe("qkc qdq", () => {
  const x = awkwardTensor(7, 200);
  const tensor: Tensor = { dtype: "f32", shape: [7, 200], data: x };

  it("equals the interpreter's qdq bit for bit for every built-in scheme", async () => {
    const input = await saveInput("qdq-in.npy", tensor);
    for (const s of BUILTIN_SCHEMES) {
      const output = join(dir, `qdq-${s.name}.npy`);
      const r = await run(
        "qdq",
        s.name,
        "--in",
        input,
        "--out",
        output,
        "--backend",
        "interp",
        "--seed",
        "7",
      );
      expect(r).toEqual({ code: 0, out: "", err: "" });
      const y = await readNpy(output);
      expect(y.dtype).toBe("f32");
      expect(y.shape).toEqual([7, 200]);
      expect(asBits(y.data as Float32Array)).toEqual(asBits(qdq(s, tensor, { seed: 7 })));
    }
  });

  it("reads float16 input", async () => {
    const data = Uint16Array.from({ length: 64 }, (_, i) => 0x3000 + i * 97);
    const input = await saveInput("qdq-in16.npy", { dtype: "f16", shape: [2, 32], data });
    const output = join(dir, "qdq-out16.npy");
    expect((await run("qdq", "mxfp8_e4m3", "--in", input, "--out", output)).code).toBe(0);
    const expected = qdq(builtinScheme("mxfp8_e4m3")!, { dtype: "f16", shape: [2, 32], data });
    expect(asBits((await readNpy(output)).data as Float32Array)).toEqual(asBits(expected));
  });
});

describe("qkc quantize", () => {
  const tensor: Tensor = { dtype: "f32", shape: [3, 300], data: awkwardTensor(3, 300) };
  let input = "";
  beforeAll(async () => {
    input = await saveInput("quant-in.npy", tensor);
  });

  const load = async (out: string, name: string) => readNpy(join(out, name));
  const manifestOf = (out: string) => JSON.parse(readFileSync(join(out, "manifest.json"), "utf8"));

  it("writes codes and scales that equal the interpreter's, with a manifest", async () => {
    const out = join(dir, "q-mxfp4");
    expect(await run("quantize", "mxfp4", "--in", input, "--out", out, "--seed", "3")).toEqual({
      code: 0,
      out: "",
      err: "",
    });
    const q = quantize(builtinScheme("mxfp4")!, tensor, { seed: 3 });
    const codes = await load(out, "codes.npy");
    const scales = await load(out, "scales.npy");
    expect([codes.dtype, codes.shape]).toEqual(["u8", [3, 300]]);
    expect([scales.dtype, scales.shape]).toEqual(["u8", [3, 10]]);
    expect(Array.from(codes.data)).toEqual(Array.from(q.codes));
    expect(Array.from(scales.data)).toEqual(Array.from(q.scales));
    expect(existsSync(join(out, "zeros.npy"))).toBe(false);

    const m = manifestOf(out);
    expect(m.qkc).toBe(pkg.version);
    expect(m.scheme).toMatchObject({
      name: "mxfp4",
      scale: { rule: "floor", format: { name: "e8m0" } },
      bitsPerElement: 4.25,
    });
    expect(m.scheme.rounding).toEqual({ mode: "nearest_even", randomBits: 8 });
    expect(m.scheme.overflow).toBe("saturate");
    expect(m.scheme.block).toEqual({ kind: "axis", axis: -1, size: 32 });
    expect(m.input).toEqual({
      file: input,
      shape: [3, 300],
      dtype: "f32",
      sha256: createHash("sha256").update(readFileSync(input)).digest("hex"),
    });
    expect(m.seed).toBe(3);
    expect(m.files.codes).toEqual({ file: "codes.npy", dtype: "u8", shape: [3, 300] });
    expect(m.files.scales).toEqual({ file: "scales.npy", dtype: "u8", shape: [3, 10] });
  });

  it("nvfp4: e4m3 scale bytes and the tensor scale in the manifest", async () => {
    const out = join(dir, "q-nvfp4");
    expect((await run("quantize", "nvfp4", "--in", input, "--out", out)).code).toBe(0);
    const q = quantize(builtinScheme("nvfp4")!, tensor);
    expect(Array.from((await load(out, "scales.npy")).data)).toEqual(Array.from(q.scales));
    expect((await load(out, "scales.npy")).shape).toEqual([3, 19]);
    expect(manifestOf(out).tensorScale).toEqual(q.tensorScale);
    expect(q.tensorScale!.decode).not.toBe(1);
  });

  it("int4_g128_asym: f16 scales as u16 and zero points", async () => {
    const out = join(dir, "q-asym");
    expect((await run("quantize", "int4_g128_asym", "--in", input, "--out", out)).code).toBe(0);
    const q = quantize(builtinScheme("int4_g128_asym")!, tensor);
    const scales = await load(out, "scales.npy");
    const zeros = await load(out, "zeros.npy");
    expect([scales.dtype, scales.shape, zeros.dtype, zeros.shape]).toEqual([
      "u16",
      [3, 3],
      "u8",
      [3, 3],
    ]);
    expect(Array.from(zeros.data)).toEqual(Array.from(q.zeros!));
    expect(manifestOf(out).files.zeros).toEqual({ file: "zeros.npy", dtype: "u8", shape: [3, 3] });
  });

  it("nf4_dq: f32 scales as u32 bits, the compressed scales and their offset; they dequantize back", async () => {
    const out = join(dir, "q-nf4dq");
    expect((await run("quantize", "nf4_dq", "--in", input, "--out", out)).code).toBe(0);
    const q = quantize(builtinScheme("nf4_dq")!, tensor);
    const scales = await load(out, "scales.npy");
    const dqCodes = await load(out, "dq_codes.npy");
    const dqScales = await load(out, "dq_scales.npy");
    expect([scales.dtype, scales.shape]).toEqual(["u32", [3, 5]]);
    expect([dqCodes.dtype, dqCodes.shape, dqScales.dtype, dqScales.shape]).toEqual([
      "u8",
      [15],
      "u32",
      [1],
    ]);
    expect(Array.from(dqCodes.data)).toEqual(Array.from(q.doubleQuant!.scales.codes));
    expect(manifestOf(out).doubleQuant.offset).toBe(q.doubleQuant!.offset);
    // rebuild the quantized tensor from the files alone: it dequantizes like the interpreter's
    const codes = (a: NpyArray) => a.data as CodeArray;
    const inner = { ...q.doubleQuant!.scales, codes: codes(dqCodes), scales: codes(dqScales) };
    const rebuilt = {
      ...q,
      codes: codes(await load(out, "codes.npy")),
      doubleQuant: { scales: inner, offset: manifestOf(out).doubleQuant.offset },
    };
    expect(asBits(dequantize(rebuilt))).toEqual(asBits(dequantize(q)));
  });

  it("removes array files of an earlier run that this scheme does not produce", async () => {
    const out = join(dir, "q-reuse");
    expect((await run("quantize", "int4_g128_asym", "--in", input, "--out", out)).code).toBe(0);
    expect(existsSync(join(out, "zeros.npy"))).toBe(true);
    expect((await run("quantize", "mxfp4", "--in", input, "--out", out)).code).toBe(0);
    expect(existsSync(join(out, "zeros.npy"))).toBe(false);
    expect(manifestOf(out).scheme.name).toBe("mxfp4");
  });
});

describe("qkc error", () => {
  const tensor: Tensor = { dtype: "f32", shape: [4, 256], data: awkwardTensor(4, 256) };

  it("prints a table whose numbers are the metrics of the interpreter's qdq", async () => {
    const input = await saveInput("err-in.npy", tensor);
    const { code, out, err } = await run("error", "mxfp4", "nvfp4", "--in", input);
    expect([code, err]).toEqual([0, ""]);
    const lines = out.trimEnd().split("\n");
    expect(lines[0]).toBe(`input: ${input}, shape [4, 256], f32`);
    expect(lines[1]).toMatch(/^scheme +bits\/elem +MSE +QSNR dB +max abs err +non-finite$/);
    for (const [k, name] of ["mxfp4", "nvfp4"].entries()) {
      const s = builtinScheme(name)!;
      const m = errorMetrics(tensor.data as Float32Array, qdq(s, tensor));
      const cells = lines[2 + k].split(/ +/);
      expect(cells).toEqual([
        name,
        String(bitsPerElement(s)),
        m.mse.toExponential(3),
        m.qsnrDb.toFixed(2),
        cells[4],
        String(m.nonFiniteOutputs),
      ]);
      expect(Math.abs(Number(cells[4]) / m.maxAbsError - 1)).toBeLessThan(1e-5);
    }
    expect(lines.at(-1)).toBe("2 non-finite input values were left out of every metric.");
  });

  it("--json gives the exact metrics", async () => {
    const input = await saveInput("err-in2.npy", tensor);
    const { code, out } = await run("error", "mxint8", "--in", input, "--json");
    expect(code).toBe(0);
    const j = JSON.parse(out);
    const m = errorMetrics(tensor.data as Float32Array, qdq(builtinScheme("mxint8")!, tensor));
    expect(j.results).toEqual([{ scheme: "mxint8", bitsPerElement: 8.25, ...m }]);
    expect(j.input).toEqual({ file: input, shape: [4, 256], dtype: "f32" });
  });

  it("'all' runs every built-in scheme on a synthetic tensor, deterministically per seed", async () => {
    const a = await run(
      "error",
      "all",
      "--synthetic",
      "student-t:5",
      "--shape",
      "16,512",
      "--seed",
      "11",
      "--json",
    );
    const b = await run(
      "error",
      "all",
      "--synthetic",
      "student-t:5",
      "--shape",
      "16,512",
      "--seed",
      "11",
      "--json",
    );
    const c = await run(
      "error",
      "all",
      "--synthetic",
      "student-t:5",
      "--shape",
      "16,512",
      "--seed",
      "12",
      "--json",
    );
    expect(a.code).toBe(0);
    const j = JSON.parse(a.out);
    expect(j.results.map((r: { scheme: string }) => r.scheme)).toEqual(
      BUILTIN_SCHEMES.map((s) => s.name),
    );
    expect(j.input).toEqual({ synthetic: "student-t:5", shape: [16, 512], seed: 11 });
    expect(a.out).toBe(b.out);
    expect(c.out).not.toBe(a.out);
    // whole-row blocks count one f32 scale per 512 elements here
    expect(
      j.results.find((r: { scheme: string }) => r.scheme === "int8_channel").bitsPerElement,
    ).toBe(8 + 32 / 512);
  });

  it("reproduces the MXFP8 and NVFP4 QSNR of SEMANTICS.md section 6 on N(0, 1)", async () => {
    const { out } = await run(
      "error",
      "mxfp8_e4m3",
      "mxfp8_e4m3_rceil",
      "nvfp4",
      "--synthetic",
      "gaussian",
      "--shape",
      "256,4096",
      "--json",
    );
    const q = Object.fromEntries(
      JSON.parse(out).results.map((r: { scheme: string; qsnrDb: number }) => [r.scheme, r.qsnrDb]),
    );
    expect(q.mxfp8_e4m3).toBeCloseTo(30.6, 0);
    expect(q.mxfp8_e4m3_rceil).toBeCloseTo(31.5, 0);
    expect(q.nvfp4).toBeCloseTo(20.4, 0);
  });
});

describe("user errors are one line and exit 1", () => {
  const cases: [string[], RegExp][] = [
    [
      ["qdq", "mxfp5", "--in", "x.npy", "--out", "y.npy"],
      /^error: unknown scheme 'mxfp5' \(did you mean 'mxfp4'\?\); `qkc list` shows the built-ins, and FILE.qs:NAME names one of yours\n$/,
    ],
    [["error", "NVFP4", "--synthetic", "gaussian"], /did you mean 'nvfp4'\?/],
    [
      ["error", "zzzzzzzzzz", "--synthetic", "gaussian"],
      /^error: unknown scheme 'zzzzzzzzzz'; `qkc list` shows the built-ins/,
    ],
    [
      ["qdq", "mxfp4", "--in", "x.npy", "--out", "y.npy", "--backend", "metal"],
      /argument 'metal' is invalid\. qkc has these backends: interp, wasm, wgsl, cuda\./,
    ],
    [
      ["qdq", "mxfp4", "--in", "/no/such/x.npy", "--out", "y.npy"],
      /^error: \/no\/such\/x\.npy: cannot read: no such file or directory\n$/,
    ],
    [["qdq", "mxfp4", "--out", "y.npy"], /required option '--in <file>' not specified/],
    [["error", "mxfp4"], /no input tensor; give --in FILE\.npy or --synthetic DIST/],
    [
      ["error", "mxfp4", "--synthetic", "cauchy"],
      /unknown distribution 'cauchy'; use gaussian, laplace, student-t:NU, uniform or outliers/,
    ],
    [
      ["error", "mxfp4", "--synthetic", "student-t"],
      /student-t needs positive degrees of freedom, e\.g\. student-t:5/,
    ],
    [["error", "mxfp4", "--synthetic", "gaussian", "--shape", "3,x"], /argument '3,x' is invalid/],
    [["error", "mxfp4", "--synthetic", "gaussian", "--seed", "1.5"], /argument '1\.5' is invalid/],
    [["error", "mxfp4", "--in", "a.npy", "--synthetic", "gaussian"], /cannot be used with/],
    [["frobnicate"], /unknown command 'frobnicate'/],
  ];
  for (const [argv, message] of cases) {
    it(argv.join(" "), async () => {
      const { code, out, err } = await run(...argv);
      expect(code).toBe(1);
      expect(out).toBe("");
      expect(err).toMatch(message);
      expect(err.trimEnd().split("\n")).toHaveLength(1);
      expect(err).not.toMatch(/\n\s+at /);
    });
  }

  it("a bad .npy is the NpyError line", async () => {
    const bad = await saveInput("u8-input.npy", {
      dtype: "u8",
      shape: [4],
      data: new Uint8Array(4),
    });
    const { code, err } = await run("qdq", "mxfp4", "--in", bad, "--out", join(dir, "never.npy"));
    expect(code).toBe(1);
    expect(err).toBe(
      `error: ${bad}: dtype '|u1' holds integer codes, not values to quantize; save the tensor as float32 (x.astype(np.float32)) or float16\n`,
    );
    expect(existsSync(join(dir, "never.npy"))).toBe(false);
  });

  it("a bug in qkc prints a stack trace under a line that says so, and exits 2", async () => {
    let err = "";
    const code = await main(["list"], {
      stdout: () => {
        throw new TypeError("broken stdout");
      },
      stderr: (t) => void (err += t),
    });
    expect(code).toBe(2);
    expect(err).toMatch(/^qkc: internal error: this is a bug in qkc/);
    expect(err).toMatch(/TypeError: broken stdout\n\s+at /);
  });

  it("--help and --version exit 0", async () => {
    const help = await run("quantize", "--help");
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/Usage: qkc quantize \[options\] <scheme>/);
    expect(help.out).toMatch(/manifest\.json/);
    expect(await run("--version")).toEqual({ code: 0, out: `${pkg.version}\n`, err: "" });
  });
});

describe("tune: metrics and synthetic data", () => {
  it("computes MSE, QSNR and max error over finite pairs and counts the rest", () => {
    const x = Float32Array.from([1, -2, 3, NaN, 4]);
    const y = Float32Array.from([1, -2.5, 2, 0, Infinity]);
    expect(errorMetrics(x, y)).toEqual({
      count: 3,
      nonFiniteOutputs: 1,
      nonFiniteInputs: 1,
      mse: (0.25 + 1) / 3,
      qsnrDb: 10 * Math.log10(14 / 1.25),
      maxAbsError: 1,
    });
    expect(qsnrDb(1, 0)).toBe(Infinity);
    expect(errorMetrics(new Float32Array([NaN]), new Float32Array([NaN])).mse).toBeNaN();
  });

  it("draws the named distributions", () => {
    const moments = (xs: Float32Array) => {
      let m = 0;
      let v = 0;
      for (const x of xs) m += x;
      m /= xs.length;
      for (const x of xs) v += (x - m) ** 2;
      return [m, v / xs.length];
    };
    const n = 1 << 18;
    const check = (spec: string, variance: number) => {
      const [m, v] = moments(synthetic(parseDistribution(spec), n, 1));
      expect(Math.abs(m)).toBeLessThan(0.02);
      expect(v).toBeCloseTo(variance, 1);
    };
    check("gaussian", 1);
    check("laplace", 2);
    check("uniform", 1 / 3);
    check("student-t:9", 9 / 7);
    const u = synthetic({ kind: "uniform" }, n, 2);
    expect(u.every((v) => v >= -1 && v < 1)).toBe(true);
    expect(asBits(synthetic({ kind: "gaussian" }, 5, 3))).toEqual(
      asBits(synthetic({ kind: "gaussian" }, 5, 3)),
    );
  });
});

describe("bin/qkc.js after npm run build", () => {
  beforeAll(() => {
    execFileSync("npm", ["run", "build"], { cwd: root, stdio: "pipe" });
  }, 120_000);

  it("qdq of a 4M-float tensor takes a few seconds and equals the interpreter", async () => {
    const shape = [1024, 4096];
    const data = synthetic({ kind: "gaussian" }, 1024 * 4096, 5);
    const input = await saveInput("big-in.npy", { dtype: "f32", shape, data });
    const output = join(dir, "big-out.npy");
    const t0 = performance.now();
    const r = spawnSync(
      process.execPath,
      [join(root, "bin/qkc.js"), "qdq", "mxfp4", "--in", input, "--out", output],
      { encoding: "utf8" },
    );
    const seconds = (performance.now() - t0) / 1000;
    expect([r.status, r.stderr]).toEqual([0, ""]);
    expect(seconds).toBeLessThan(10);
    const y = await readNpy(output);
    expect(y.shape).toEqual(shape);
    expect(asBits(y.data as Float32Array)).toEqual(
      asBits(qdq(builtinScheme("mxfp4")!, { dtype: "f32", shape, data })),
    );
  });

  it("passes the exit code and the one-line error through", () => {
    const r = spawnSync(
      process.execPath,
      [join(root, "bin/qkc.js"), "error", "mxfp44", "--synthetic", "gaussian"],
      { encoding: "utf8" },
    );
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(
      "error: unknown scheme 'mxfp44' (did you mean 'mxfp4'?); `qkc list` shows the built-ins, and FILE.qs:NAME names one of yours\n",
    );
  });
});

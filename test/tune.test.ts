import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readPlan } from "../cli/checkpoint/plan.js";
import { main } from "../cli/main.js";
import { createSafetensors } from "../cli/safetensors.js";
import { loadProgram, standardScope } from "../dsl/load.js";
import { blockGrid } from "../ir/interpret/blocks.js";
import { rotate } from "../ir/interpret/index.js";
import type { Scheme } from "../ir/scheme.js";
import { builtinScheme } from "../stdlib/index.js";
import { measureVariant, reconstruct, storageBits, unrotate, type Measurement } from "../tune/measure.js";
import { histogram, histogramKl, tuneMetrics } from "../tune/metrics.js";
import { dominates, paretoFront } from "../tune/pareto.js";
import { qsFile } from "../tune/qs.js";
import { allocate, bestUnderBudget } from "../tune/recommend.js";
import { summarize, type VariantSummary } from "../tune/summary.js";
import { distributionSigma, synthetic, syntheticWithCrest } from "../tune/synthetic.js";
import { sweep } from "../tune/sweep.js";
import { buildVariants } from "../tune/variants.js";

const f32 = (...v: number[]) => Float32Array.from(v);
const blocksOf = (n: number, size: number) => blockGrid([n], { kind: "axis", axis: -1, size });
const scheme = (name: string) => builtinScheme(name)!;
const formats = standardScope().formats;

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: (t: string) => void out.push(t), stderr: (t: string) => void err.push(t) }, out, err };
}

describe("tune metrics against closed forms", () => {
  it("MSE, QSNR, max abs and max relative error", () => {
    const m = tuneMetrics(f32(1, 2, 3, 4, 0), f32(1, 2, 3, 5, 0.5), blocksOf(5, 5));
    expect(m.mse).toBe((1 + 0.25) / 5);
    expect(m.qsnrDb).toBeCloseTo(10 * Math.log10(30 / 1.25), 12);
    expect(m.signalEnergy).toBe(30);
    expect(m.noiseEnergy).toBe(1.25);
    expect(m.maxAbsError).toBe(1);
    // x = 0 has no relative error; 4 -> 5 is 1/4
    expect(m.maxRelError).toBe(0.25);
  });

  it("error on the block maximum: mean over blocks of the max element's relative error", () => {
    const m = tuneMetrics(f32(1, -4, 3, 0.5, 0, 0), f32(1, -3, 2.5, 0.5, 0, 0), blocksOf(6, 2));
    // block 0: |-4 - -3| / 4 = 1/4; block 1: |3 - 2.5| / 3 = 1/6; block 2 is all zero and left out
    expect(m.blockMaxRelError).toBeCloseTo((1 / 4 + 1 / 6) / 2, 15);
  });

  it("KL of the value histograms, with the half-count estimate for Q", () => {
    // P = [1, 0], Q = [0.5/3, 2.5/3]: KL = log(1 / (1/6)) = log 6
    expect(histogramKl(Float64Array.of(2, 0), Float64Array.of(0, 2))).toBeCloseTo(Math.log(6), 12);
    // identical histograms [a, b] of total N over 2 bins: sum p log(p / ((c + 1/2) / (N + 1)))
    const p = Float64Array.of(3, 1);
    const want = 0.75 * Math.log(0.75 / (3.5 / 5)) + 0.25 * Math.log(0.25 / (1.5 / 5));
    expect(histogramKl(p, p)).toBeCloseTo(want, 12);
    expect(Array.from(histogram(f32(-1, -0.5, 0, 0.99, 1, 7, NaN), 1, 4))).toEqual([1, 1, 1, 3]);
    const x = f32(-1, -0.2, 0.3, 1);
    expect(tuneMetrics(x, f32(-1, 0, 0, 1), blocksOf(4, 4)).klDivergence).toBeCloseTo(
      histogramKl(histogram(x, 1), histogram(f32(-1, 0, 0, 1), 1)),
      12,
    );
  });

  it("bits per element include block scales and the per-tensor scale", () => {
    expect(storageBits(scheme("mxfp4"), [8, 4096])).toBe(4.25);
    expect(storageBits(scheme("nvfp4"), [4, 256])).toBe(4.5 + 32 / 1024);
    expect(storageBits(scheme("int8_channel"), [16, 512])).toBe(8 + 32 / 512);
  });

  it("a zero reconstruction error is +Infinity dB and 0 everywhere else", () => {
    const x = synthetic({ kind: "gaussian" }, 256, 3);
    const m = tuneMetrics(x, x, blocksOf(256, 32));
    expect([m.qsnrDb, m.mse, m.maxAbsError, m.maxRelError, m.blockMaxRelError]).toEqual([Infinity, 0, 0, 0, 0]);
  });
});

describe("variants are the base scheme with fields replaced, invalid ones skipped with the reason", () => {
  it("cross product, names, fields", () => {
    const { variants, skipped } = buildVariants([scheme("mxfp4")], { block: [16, 64], rule: ["floor", "rceil"] }, { formats, seed: 0 });
    expect(skipped).toEqual([]);
    expect(variants.map((v) => v.name)).toEqual([
      "mxfp4_b16_e8m0_floor",
      "mxfp4_b64_e8m0_floor",
      "mxfp4_b16_e8m0_rceil",
      "mxfp4_b64_e8m0_rceil",
    ]);
    const v = variants[3];
    expect(v.scheme.block).toEqual({ kind: "axis", axis: -1, size: 64 });
    expect(v.scheme.scale.rule).toBe("rceil");
    expect(v.scheme.element).toBe(scheme("mxfp4").element);
    expect(v.family).toBe("mxfp4 · e8m0 rceil");
  });

  it("rejected combinations become skips naming the reason", () => {
    const r = buildVariants(
      [scheme("nvfp4"), scheme("nf4")],
      { block: [8, 48], rule: ["floor", "amax"], rotate: ["hadamard"], rounding: ["stochastic"] },
      { formats, seed: 1, lastAxis: [96] },
    );
    const reason = (name: string) => r.skipped.find((s) => s.name === name)?.reason;
    expect(reason("nvfp4_b8_e4m3_floor_had_sr")).toMatch(/tensor scale needs scale rule amax/);
    expect(reason("nvfp4_b8_e4m3_amax_had_sr")).toMatch(/power of two in 16\.\.256, not 8/);
    expect(reason("nvfp4_b48_e4m3_amax_had_sr")).toMatch(/power of two in 16\.\.256, not 48/);
    expect(reason("nf4_b8_f32_amax_had_sr")).toMatch(/stochastic rounding is not defined for table/);
    expect(r.variants).toEqual([]);
    const axis = buildVariants([scheme("mxfp4")], { block: [64], rotate: ["hadamard"] }, { formats, seed: 1, lastAxis: [96] });
    expect(axis.skipped[0].reason).toMatch(/last axis \(96\) is not a multiple of the Hadamard size 64/);
  });

  it("the inverse rotation undoes the interpreter's rotation", () => {
    const x = synthetic({ kind: "laplace" }, 4 * 64, 2);
    const r = { kind: "hadamard" as const, size: 64, seed: 5 };
    const back = unrotate(rotate(x, [4, 64], r), r);
    for (let i = 0; i < x.length; i++) expect(Math.abs(back[i] - x[i])).toBeLessThan(1e-5 * (1 + Math.abs(x[i])));
  });
});

describe("Pareto front and recommendations", () => {
  const row = (variant: string, bits: number, qsnr: number): VariantSummary =>
    ({ variant, bitsPerElement: bits, qsnrDb: qsnr }) as VariantSummary;
  const rows = [row("a", 4.5, 18), row("b", 4.25, 18.5), row("c", 4.125, 17), row("d", 5, 21), row("e", 5, 20), row("f", 4.25, NaN)];

  it("keeps exactly the undominated points, cheapest first", () => {
    expect(paretoFront(rows).map((r) => r.variant)).toEqual(["c", "b", "d"]);
    for (const p of rows.filter((r) => !Number.isNaN(r.qsnrDb)))
      expect(paretoFront(rows).includes(p)).toBe(!rows.some((q) => dominates(q, p)));
  });

  it("pooling over tensors: QSNR of the size-weighted mean noise-to-signal ratio", () => {
    const v = buildVariants([scheme("mxfp4")], {}, { formats, seed: 0 }).variants[0];
    const m = (elements: number, signalEnergy: number, noiseEnergy: number, bits: number) =>
      ({ elements, count: elements, signalEnergy, noiseEnergy, bitsPerElement: bits, blockMaxRelError: 0, klDivergence: 0, maxAbsError: 1, maxRelError: 1, nonFiniteOutputs: 0 }) as Measurement;
    const s = summarize(v, [m(100, 1000, 1, 4), m(300, 1, 0.01, 5)]);
    // NSR 1e-3 on 100 elements and 1e-2 on 300: mean 7.75e-3
    expect(s.qsnrDb).toBeCloseTo(-10 * Math.log10((100 * 1e-3 + 300 * 1e-2) / 400), 12);
    expect(s.mse).toBeCloseTo(1.01 / 400, 15);
    expect(s.bitsPerElement).toBe(4.75);
  });

  it("the best variant within a budget", () => {
    expect(bestUnderBudget(rows, 4.5)?.variant).toBe("b");
    expect(bestUnderBudget(rows, 5)?.variant).toBe("d");
    expect(bestUnderBudget(rows, 4)).toBeUndefined();
  });

  it("per-tensor allocation matches the brute-force optimum and keeps the budget", () => {
    const m = (tensor: string, elements: number, bits: number, nsr: number) =>
      ({ tensor, variant: `${tensor}@${bits}`, elements, bitsPerElement: bits, signalEnergy: 1, noiseEnergy: nsr, qsnrDb: -10 * Math.log10(nsr) }) as Measurement;
    // each tensor's error falls by a factor per extra bit (a convex trade-off), at different rates and sizes
    const byTensor = new Map<string, Measurement[]>();
    const specs: [string, number, number][] = [["a", 1000, 0.5], ["b", 3000, 0.3], ["c", 500, 0.6]];
    for (const [t, n, f] of specs) byTensor.set(t, [4, 4.5, 5, 6].map((b) => m(t, n, b, f ** ((b - 4) * 2) * 0.1)));
    for (const budget of [4, 4.3, 4.6, 5, 5.5, 6]) {
      const got = allocate(byTensor, budget)!;
      expect(got.bitsPerElement).toBeLessThanOrEqual(budget + 1e-12);
      const cost = (ms: readonly Measurement[]) => ms.reduce((a, x) => a + x.elements * x.noiseEnergy, 0);
      let best = Infinity;
      const [A, B, C] = [...byTensor.values()];
      for (const a of A) for (const b of B) for (const c of C) {
        const bits = (a.bitsPerElement * 1000 + b.bitsPerElement * 3000 + c.bitsPerElement * 500) / 4500;
        if (bits <= budget + 1e-12) best = Math.min(best, cost([a, b, c]));
      }
      expect(cost(got.choices.map((c) => c.choice))).toBeCloseTo(best, 12);
    }
    expect(allocate(byTensor, 3.9)).toBeUndefined();
  });
});

describe("synthetic tensors with a controlled crest factor", () => {
  it("every group's max |x| / sigma is the crest factor", () => {
    for (const d of [{ kind: "gaussian" }, { kind: "laplace" }, { kind: "student-t", nu: 3 }] as const) {
      const x = syntheticWithCrest(d, 32 * 40 + 7, 4, 2.5, 32);
      const peak = Math.fround(2.5 * distributionSigma(d));
      for (let g = 0; g < x.length; g += 32) {
        const block = Array.from(x.subarray(g, g + 32), Math.abs);
        expect(Math.max(...block)).toBe(peak);
        expect(block.filter((v) => v === peak).length).toBe(1);
      }
    }
  });
});

describe(".qs output", () => {
  it("printed variants load back to the same schemes", () => {
    const { variants } = buildVariants(
      [scheme("nvfp4"), scheme("mxfp4"), scheme("nf4_dq")],
      { block: [32], rounding: ["nearest_even", "stochastic"], rotate: ["none", "hadamard"] },
      { formats, seed: 3 },
    );
    // nf4_dq has a table element: its stochastic variants are skipped
    expect(variants.length).toBe(10);
    const text = qsFile(["test"], variants.map((v) => ({ scheme: v.scheme, doc: ["a variant"], ...(v.rotate ? { rotate: v.rotate } : {}) })));
    const r = loadProgram([{ file: "variants.qs", text }], { outer: standardScope() });
    expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    const strip = (s: Scheme) => ({ ...s, name: "", doc: "" });
    for (const v of variants) expect(strip(r.program.schemes.get(v.name)!)).toEqual(strip(v.scheme));
    const rotated = variants.filter((v) => v.rotate);
    for (const v of rotated) expect(r.program.kernels.get(`quantize_${v.name}`)?.rotate).toEqual(v.rotate);
  });
});

describe("qkc tune on a small synthetic tensor", () => {
  it("writes the report, the chart and a recommendation on the Pareto front that qkc check accepts", async () => {
    const out = mkdtempSync(join(tmpdir(), "qkc-tune-"));
    const c = capture();
    const argv = ["tune", "mxfp4", "--synthetic", "gaussian", "--shape", "16,1024", "--block", "8,16,32,64,128", "--rule", "floor,rceil"];
    const code = await main([...argv, "--backend", "interp", "--runs", "1", "--jobs", "2", "--budget-bits", "4.3", "--out", out], c.io);
    expect(code, c.err.join("")).toBe(0);
    const report = JSON.parse(readFileSync(join(out, "tune.json"), "utf8"));
    expect(report.measurements.length).toBe(10);
    expect(report.failures).toEqual([]);
    const rec = report.recommendations[0].variant as string;
    expect(report.paretoFront).toContain(rec);
    const row = report.summary.find((r: VariantSummary) => r.variant === rec);
    expect(row.bitsPerElement).toBeLessThanOrEqual(4.3);
    expect(typeof row.quantizeMelemPerS).toBe("number");
    expect(readFileSync(join(out, "pareto.svg"), "utf8")).toMatch(/^<svg/);
    expect(readFileSync(join(out, "pareto.png")).subarray(1, 4).toString()).toBe("PNG");
    expect(c.out.join("")).toContain(`scheme ${rec} {`);
    const check = capture();
    expect(await main(["check", join(out, "recommended.qs")], check.io), check.out.join("") + check.err.join("")).toBe(0);
  });

  it("the WASM backend reconstructs bit for bit as the interpreter and is timed", async () => {
    const x = { dtype: "f32" as const, shape: [8, 256], data: synthetic({ kind: "student-t", nu: 4 }, 2048, 9) };
    const { variants } = buildVariants([scheme("nvfp4")], { block: [16, 32], rotate: ["none", "hadamard"] }, { formats, seed: 2 });
    for (const v of variants.slice(0, 3)) {
      expect(await reconstruct(v, x, "wasm", 0)).toEqual(await reconstruct(v, x, "interp", 0));
      const w = await measureVariant(v, "x", x, { backend: "wasm", seed: 0, runs: 1 });
      expect(w.throughput!.quantizeMelemPerS).toBeGreaterThan(0);
      expect(w.throughput!.elements).toBe(2048);
      expect((await measureVariant(v, "x", x, { backend: "interp", seed: 0, runs: 0 })).throughput).toBeUndefined();
    }
  });

  it("worker threads time WASM kernels emitted in this thread", async () => {
    const { variants } = buildVariants([scheme("mxfp4")], { block: [32], rotate: ["none", "hadamard"] }, { formats, seed: 0 });
    const data = synthetic({ kind: "laplace" }, 4096, 3);
    const r = await sweep([{ name: "x", shape: [4, 1024], load: async () => data }], variants, { backend: "wasm", seed: 0, runs: 1, jobs: 2 });
    expect(r.failures).toEqual([]);
    expect(r.measurements.map((m) => m.variant).sort()).toEqual(variants.map((v) => v.name).sort());
    for (const m of r.measurements) expect(m.throughput!.dequantizeMelemPerS).toBeGreaterThan(0);
  });

  it("per-tensor mode on a safetensors checkpoint writes a plan qkc quantize-model reads", async () => {
    const dir = mkdtempSync(join(tmpdir(), "qkc-tune-"));
    const file = join(dir, "m.safetensors");
    const tensors: [string, number[], Float32Array][] = [
      ["a.weight", [8, 256], synthetic({ kind: "student-t", nu: 3 }, 2048, 1)],
      ["b.weight", [16, 256], synthetic({ kind: "gaussian" }, 4096, 2)],
    ];
    const w = createSafetensors(file, tensors.map(([name, shape]) => ({ name, shape, dtype: "F32" as const })));
    for (const [name, , data] of tensors) w.write(name, new Uint8Array(data.buffer));
    w.finish();
    const c = capture();
    const argv = ["tune", "nvfp4", "--tensor", file, "--block", "16,32,64", "--per-tensor", "--budget-bits", "4.3"];
    expect(await main([...argv, "--backend", "interp", "--runs", "0", "--jobs", "1", "--out", dir], c.io), c.err.join("")).toBe(0);
    const report = JSON.parse(readFileSync(join(dir, "tune.json"), "utf8"));
    expect(report.perTensor.bitsPerElement).toBeLessThanOrEqual(4.3);
    const plan = readPlan(join(dir, "per-tensor.qs"));
    expect([...plan.keys()].sort()).toEqual(["a.weight", "b.weight"]);
    for (const ch of report.perTensor.choices) expect(plan.get(ch.tensor)!.scheme.name).toBe(ch.variant);
  });

  for (const jobs of [1, 2])
    it(`an abort keeps the finished measurements (${jobs === 1 ? "this thread" : "worker threads"})`, async () => {
      const { variants } = buildVariants([scheme("mxfp4")], { block: [16, 32, 64, 128], rule: ["floor", "rceil"] }, { formats, seed: 0 });
      const data = synthetic({ kind: "gaussian" }, 4096, 1);
      const abort = new AbortController();
      const r = await sweep([{ name: "x", shape: [4, 1024], load: async () => data }], variants, {
        backend: "interp",
        seed: 0,
        runs: 0,
        jobs,
        signal: abort.signal,
        onProgress: (done) => void (done >= 2 && abort.abort()),
      });
      expect(r.interrupted).toBe(true);
      expect(r.measurements.length).toBeGreaterThanOrEqual(2);
      expect(r.measurements.length).toBeLessThan(variants.length);
      expect(r.notRun).toBe(variants.length - r.measurements.length - r.failures.length);
      for (const m of r.measurements) expect(m.qsnrDb).toBeGreaterThan(10);
    });

  it("bad input is a one-line error", async () => {
    const c = capture();
    expect(await main(["tune", "mxfp4", "--out", join(tmpdir(), "qkc-tune-none")], c.io)).toBe(1);
    expect(c.err.join("")).toMatch(/^error: no tensor to tune on; give --tensor/);
    const d = capture();
    expect(await main(["tune", "mxfp4", "--synthetic", "gaussian", "--scale", "e9m9"], d.io)).toBe(1);
    expect(d.err.join("")).toMatch(/--scale e9m9: no such format/);
    const npy = join(mkdtempSync(join(tmpdir(), "qkc-tune-")), "bad.npy");
    writeFileSync(npy, "not numpy");
    const e = capture();
    expect(await main(["tune", "mxfp4", "--tensor", npy], e.io)).toBe(1);
    expect(e.err.join("").split("\n").filter(Boolean).length).toBe(1);
  });
});

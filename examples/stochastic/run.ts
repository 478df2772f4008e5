/**
 * Stochastic against nearest rounding, on MXFP4 built as data from the
 * built-in scheme (`rounding: stochastic { bits: k }`):
 *
 * 1. Bias and variance over many draws (Philox seeds), next to the closed form
 *    of the hardware definition: with t the discarded fraction between the
 *    neighbours lo < x < hi, P(up) = p = floor(t 2^k) / 2^k, so
 *    E[SR(x)] - x = (hi - lo)(p - t) and Var = (hi - lo)^2 p (1 - p).
 * 2. The gradient-noise threshold of "FP4 All the Way" (arXiv 2505.19115) on a
 *    quadratic toy problem: least squares by gradient descent on MXFP4
 *    gradients (SR or RNE) under a fixed block scale. Progress stalls once the
 *    gradient norm falls below about sqrt(3) x the norm of the rounding noise.
 *
 *   npx tsx examples/stochastic/run.ts [--out DIR]
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { resolveScheme } from "../../cli/schemes.js";
import { renderTable } from "../../cli/table.js";
import { qdq } from "../../ir/interpret/index.js";
import { validateScheme, type Scheme } from "../../ir/scheme.js";
import { CHART_CONFIG, renderSvg, svgToPng, type TopLevelSpec } from "../../tune/plot.js";
import { synthetic } from "../../tune/synthetic.js";

const E2M1 = [0, 0.5, 1, 1.5, 2, 3, 4, 6];
const base = resolveScheme("mxfp4");
const withRounding = (mode: "stochastic" | "nearest_even", bits = 8): Scheme =>
  validateScheme({ ...base, name: `mxfp4_${mode}${mode === "stochastic" ? bits : ""}`, rounding: { mode, randomBits: bits } });

// --- 1. bias and variance ------------------------------------------------------------

const DRAWS = 2000;
const GRID = 31 * 16; // test values, 31 per block next to a pinned 6.0 that fixes the scale at 1

function biasAndVariance(bits: number) {
  const xs = Array.from({ length: GRID }, (_, i) => (6 * (i + 0.5)) / GRID);
  const blocks = GRID / 31;
  const data = new Float32Array(blocks * 32);
  for (let b = 0; b < blocks; b++) {
    data[b * 32] = 6;
    for (let j = 0; j < 31; j++) data[b * 32 + 1 + j] = xs[b * 31 + j];
  }
  const at = (i: number) => Math.floor(i / 31) * 32 + 1 + (i % 31);
  const sum = new Float64Array(GRID);
  const sq = new Float64Array(GRID);
  const sr = withRounding("stochastic", bits);
  for (let seed = 1; seed <= DRAWS; seed++) {
    const y = qdq(sr, { dtype: "f32", shape: [blocks, 32], data }, { seed });
    for (let i = 0; i < GRID; i++) {
      sum[i] += y[at(i)];
      sq[i] += y[at(i)] ** 2;
    }
  }
  const rne = qdq(withRounding("nearest_even"), { dtype: "f32", shape: [blocks, 32], data });
  return xs.map((x0, i) => {
    const x = data[at(i)];
    const hi = E2M1.find((v) => v > x)!;
    const lo = E2M1[E2M1.indexOf(hi) - 1];
    const t = (x - lo) / (hi - lo);
    const p = Math.floor(t * 2 ** bits) / 2 ** bits;
    const mean = sum[i] / DRAWS;
    const variance = Math.max(0, sq[i] / DRAWS - mean * mean);
    return {
      x: x0,
      bits,
      srBias: mean - x,
      srBiasTheory: (hi - lo) * (p - t),
      srStd: Math.sqrt(variance),
      srStdTheory: (hi - lo) * Math.sqrt(p * (1 - p)),
      srStep: hi - lo,
      rneBias: rne[at(i)] - x,
    };
  });
}

// --- 2. the quadratic toy problem ---------------------------------------------------

const N = 512;
const D = 248; // 8 blocks of 31 entries
const STEPS = 300;

/**
 * Least squares 1/(2N) |X w - X w*|^2 by gradient descent whose gradients are
 * MXFP4 rounded by `rounding`, with the block scale held at the first
 * gradient's (as delayed scaling does): each block of 32 carries 31 gradient
 * entries and one reference value, the first gradient's max, that fixes its
 * scale. Then the rounding noise does not shrink with the gradient.
 */
function train(rounding: Scheme | undefined) {
  const X = synthetic({ kind: "gaussian" }, N * D, 21);
  const wStar = synthetic({ kind: "gaussian" }, D, 22);
  // H = X^T X / N: the gradient at w is H (w - w*)
  const H = new Float64Array(D * D);
  for (let r = 0; r < N; r++)
    for (let i = 0; i < D; i++) {
      const xi = X[r * D + i];
      for (let j = 0; j < D; j++) H[i * D + j] += (xi * X[r * D + j]) / N;
    }
  const grad = (w: Float32Array | Float64Array) => {
    const g = new Float32Array(D);
    for (let i = 0; i < D; i++) {
      let s = 0;
      for (let j = 0; j < D; j++) s += H[i * D + j] * (w[j] - wStar[j]);
      g[i] = s;
    }
    return g;
  };
  const loss = (w: Float32Array) => {
    const g = new Float64Array(D);
    for (let j = 0; j < D; j++) g[j] = w[j] - wStar[j];
    let s = 0;
    for (let i = 0; i < D; i++) {
      let hi = 0;
      for (let j = 0; j < D; j++) hi += H[i * D + j] * g[j];
      s += g[i] * hi;
    }
    return s / 2;
  };
  const norm = (v: ArrayLike<number>, u?: ArrayLike<number>) => {
    let s = 0;
    for (let i = 0; i < v.length; i++) s += (v[i] - (u ? u[i] : 0)) ** 2;
    return Math.sqrt(s);
  };
  const blocks = D / 31;
  let reference = 0;
  const quantize = (g: Float32Array, seed: number) => {
    const data = new Float32Array(blocks * 32);
    for (let b = 0; b < blocks; b++) {
      data[b * 32] = reference;
      data.set(g.subarray(b * 31, (b + 1) * 31), b * 32 + 1);
    }
    if (!rounding) return g;
    const y = qdq(rounding, { dtype: "f32", shape: [blocks, 32], data }, { seed });
    return Float32Array.from({ length: D }, (_, i) => y[Math.floor(i / 31) * 32 + 1 + (i % 31)]);
  };
  const w = new Float32Array(D);
  // H's eigenvalues lie in about [(1 - sqrt(D/N))^2, (1 + sqrt(D/N))^2] = [0.09, 3]: 0.5 is a stable step
  const lr = 0.5;
  const trace = [];
  for (let step = 0; step < STEPS; step++) {
    const g = grad(w);
    if (step === 0) reference = Math.max(...g.map(Math.abs));
    const q = quantize(g, step + 1);
    trace.push({ step, rounding: rounding?.rounding.mode ?? "exact (f32)", loss: loss(w), gradNorm: norm(g), noiseNorm: norm(q, g) });
    for (let i = 0; i < D; i++) w[i] -= lr * q[i];
  }
  return trace;
}

async function main(out: string): Promise<void> {
  const rows8 = biasAndVariance(8);
  const rows2 = biasAndVariance(2);
  // the measured mean and std against the closed form, in standard errors of the estimates (about N(0, 1) each)
  const summary = [rows8, rows2].map((rows) => {
    const z = (r: (typeof rows)[number]) => (r.srBias - r.srBiasTheory) / Math.max(1e-12, r.srStdTheory / Math.sqrt(DRAWS));
    const dStd = (r: (typeof rows)[number]) => (r.srStd - r.srStdTheory) / r.srStep;
    const mean = (f: (r: (typeof rows)[number]) => number) => rows.reduce((a, r) => a + f(r), 0) / rows.length;
    const maxAbs = (f: (r: (typeof rows)[number]) => number) => Math.max(...rows.filter((r) => r.srStdTheory > 0).map((r) => Math.abs(f(r))));
    return [
      `SR, ${rows[0].bits} random bits`,
      mean((r) => r.srBias).toExponential(2),
      mean((r) => r.srBiasTheory).toExponential(2),
      maxAbs(z).toFixed(2),
      maxAbs(dStd).toFixed(4),
    ];
  });
  const rneMean = rows8.reduce((a, r) => a + r.rneBias, 0) / rows8.length;
  summary.push(["nearest even", rneMean.toExponential(2), `max |bias| ${Math.max(...rows8.map((r) => Math.abs(r.rneBias))).toFixed(3)}`, "-", "-"]);
  console.log(`1. E2M1 elements (scale 1), ${GRID} values in [0, 6), ${DRAWS} draws each:`);
  console.log(
    renderTable(
      [
        { header: "rounding" },
        { header: "mean bias", align: "right" },
        { header: "closed form", align: "right" },
        { header: "max |z| of the mean", align: "right" },
        { header: "max |std - closed form| / step", align: "right" },
      ],
      summary,
    ),
  );
  console.log(`(z: measured mean minus closed form over its standard error; over ${GRID} values a max |z| under about 4 is agreement; the std of ${DRAWS} draws is good to about 0.02 steps)\n`);

  const runs = [train(withRounding("stochastic")), train(withRounding("nearest_even")), train(undefined)];
  const rows: string[][] = [];
  const crossings = [];
  for (const trace of runs) {
    const cross = trace.find((t) => t.gradNorm < Math.sqrt(3) * t.noiseNorm);
    const exact = runs[2];
    const final = trace.at(-1)!;
    const at = cross?.step ?? STEPS;
    // progress after the crossing: how much more the loss falls over the rest of the run
    const later = cross ? cross.loss / final.loss : NaN;
    if (cross) crossings.push({ rounding: trace[0].rounding, step: at });
    rows.push([
      trace[0].rounding,
      String(cross?.step ?? "never"),
      cross ? cross.loss.toExponential(2) : "-",
      final.loss.toExponential(2),
      Number.isFinite(later) ? later.toFixed(2) : "-",
      cross ? (exact[cross.step].loss / exact.at(-1)!.loss).toExponential(2) : "-",
    ]);
  }
  console.log(`2. least squares (${N} x ${D}), MXFP4 gradients under a fixed scale, ${STEPS} steps of gradient descent:`);
  console.log(
    renderTable(
      [
        { header: "gradient rounding" },
        { header: "step |grad| < sqrt(3) |noise|", align: "right" },
        { header: "loss there", align: "right" },
        { header: "final loss", align: "right" },
        { header: "loss ratio after", align: "right" },
        { header: "exact run's ratio", align: "right" },
      ],
      rows,
    ),
  );

  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "results.json"), JSON.stringify({ draws: DRAWS, bias: [...rows8, ...rows2], training: runs.flat(), crossings }, null, 2) + "\n");
  const biasSpec = {
    title: { text: "Rounding bias on E2M1 (scale 1)", subtitle: `mean over ${DRAWS} draws minus x; SR with 8 and 2 random bits next to its closed form` },
    width: 520,
    height: 240,
    data: {
      values: [
        ...rows8.map((r) => ({ x: r.x, bias: r.rneBias, what: "nearest even" })),
        ...rows8.map((r) => ({ x: r.x, bias: r.srBias, what: "SR 8 bits (measured)" })),
        ...rows2.map((r) => ({ x: r.x, bias: r.srBias, what: "SR 2 bits (measured)" })),
        ...rows2.map((r) => ({ x: r.x, bias: r.srBiasTheory, what: "SR 2 bits (closed form)" })),
      ],
    },
    mark: { type: "line", strokeWidth: 1.5 },
    encoding: {
      x: { field: "x", type: "quantitative", title: "x" },
      y: { field: "bias", type: "quantitative", title: "E[round(x)] - x" },
      color: { field: "what", type: "nominal", title: null, legend: { orient: "right" } },
    },
  };
  const trainSpec = {
    title: { text: "Training stalls below the sqrt(3) gradient-noise threshold", subtitle: "least squares, MXFP4 gradients, fixed scale; rules: first step with |grad| < sqrt(3) |rounding noise|" },
    width: 520,
    height: 240,
    data: { values: [...runs.flat(), ...crossings.map((c) => ({ ...c, rule: true }))] },
    layer: [
      {
        transform: [{ filter: "!datum.rule" }],
        mark: { type: "line", strokeWidth: 2 },
        encoding: {
          x: { field: "step", type: "quantitative", title: "step" },
          y: { field: "loss", type: "quantitative", scale: { type: "log" }, title: "loss" },
          color: { field: "rounding", type: "nominal", title: "gradient rounding", legend: { orient: "right" } },
        },
      },
      {
        transform: [{ filter: "datum.rule" }],
        mark: { type: "rule", strokeDash: [5, 3], strokeWidth: 1.5 },
        encoding: { x: { field: "step", type: "quantitative" }, color: { field: "rounding", type: "nominal" } },
      },
    ],
  };
  const spec = { $schema: "https://vega.github.io/schema/vega-lite/v5.json", config: CHART_CONFIG, vconcat: [biasSpec, trainSpec], resolve: { scale: { color: "independent" }, legend: { color: "independent" } } } as unknown as TopLevelSpec;
  const svg = await renderSvg(spec);
  writeFileSync(join(out, "stochastic.svg"), svg);
  writeFileSync(join(out, "stochastic.png"), svgToPng(svg));
  console.log(`\nwrote ${join(out, "results.json")}, stochastic.svg and stochastic.png`);
}

const at = process.argv.indexOf("--out");
await main(at > 0 ? process.argv[at + 1] : "report/examples/stochastic");

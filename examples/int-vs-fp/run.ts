/**
 * INT against FP block formats: QSNR against the crest factor on Gaussian
 * blocks, measured by qkc's interpreter next to the closed-form theory
 * (tune/theory.ts), with the crossover crest factors found by bisection.
 *
 *   npx tsx examples/int-vs-fp/run.ts [--out DIR]
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { qdq } from "../../ir/interpret/index.js";
import type { Scheme } from "../../ir/scheme.js";
import { resolveScheme } from "../../cli/schemes.js";
import { renderTable } from "../../cli/table.js";
import { CHART_CONFIG, renderSvg, svgToPng, type TopLevelSpec } from "../../tune/plot.js";
import { synthetic, syntheticWithCrest } from "../../tune/synthetic.js";
import { bisect, fpQsnrDb, fpShape, intQsnrDb } from "../../tune/theory.js";

interface Pair {
  readonly label: string;
  readonly int: Scheme;
  readonly fp: Scheme;
  readonly bits: number;
  /** scale overhead of the theory */
  readonly rho: number;
  /** INT levels the block max maps to (default 2^(bits-1)) */
  readonly levels?: number;
  /** SEMANTICS.md section 6 */
  readonly expected: number;
}

const here = new URL(".", import.meta.url).pathname;
const PAIRS: Pair[] = [
  { label: "MXINT8 / MXFP8 (E4M3)", int: resolveScheme("mxint8"), fp: resolveScheme("mxfp8_e4m3"), bits: 8, rho: 1.5, expected: 7.55 },
  { label: "MXINT6 / MXFP6 (E2M3)", int: resolveScheme(join(here, "mxint6.qs:mxint6")), fp: resolveScheme("mxfp6_e2m3"), bits: 6, rho: 1.5, expected: 1.96 },
  { label: "MXINT4 / MXFP4", int: resolveScheme("mxint4"), fp: resolveScheme("mxfp4"), bits: 4, rho: 1.5, expected: 2.04 },
    // the E4M3 block scale is amax / Qmax to 3 mantissa bits: no power-of-two overhead, and INT4 [-7, 7] has 7 levels
  { label: "NVINT4 / NVFP4", int: resolveScheme("nvint4"), fp: resolveScheme("nvfp4"), bits: 4, rho: 1, levels: 7, expected: 2.39 },
];

const BLOCKS = 4096;
const SEED = 7;
/** the theory assumes the values under the block max are Gaussian: true when little mass lies above it */
const TAIL_LIMIT = 0.02;
const gaussianTail = (k: number) => 1 - erfApprox(k / Math.SQRT2);

function erfApprox(x: number): number {
  let s = 0;
  // series good to 1e-12 for x <= 6
  for (let n = 0, term = x; n < 80; n++, term *= (-x * x) / n) s += term / (2 * n + 1);
  return (2 / Math.sqrt(Math.PI)) * s;
}

/**
 * Blocks of the scheme's size whose max is exactly crest x sigma, each times a
 * random gain 2^u (u uniform in [0, 1)) so that the block max sits anywhere in
 * its binade, as the theory's average rho assumes. QSNR counts the values under
 * the max (the one the scale is fitted to), gains divided out.
 */
function measuredQsnr(s: Scheme, crest: number): number {
  const size = s.block.kind === "axis" && typeof s.block.size === "number" ? s.block.size : 32;
  const n = size * BLOCKS;
  const x = syntheticWithCrest({ kind: "gaussian" }, n, SEED, crest, size);
  const gains = synthetic({ kind: "uniform" }, BLOCKS, SEED + 1).map((u) => 2 ** ((u + 1) / 2));
  for (let i = 0; i < n; i++) x[i] *= gains[Math.floor(i / size)];
  const y = qdq(s, { dtype: "f32", shape: [BLOCKS, size], data: x });
  let signal = 0;
  let noise = 0;
  for (let b = 0; b < BLOCKS; b++) {
    const g2 = gains[b] * gains[b];
    let m = b * size;
    for (let i = b * size; i < (b + 1) * size; i++) if (Math.abs(x[i]) > Math.abs(x[m])) m = i;
    for (let i = b * size; i < (b + 1) * size; i++) {
      if (i === m) continue;
      signal += (x[i] * x[i]) / g2;
      noise += ((x[i] - y[i]) * (x[i] - y[i])) / g2;
    }
  }
  return 10 * Math.log10(signal / noise);
}

const theoryInt = (p: Pair, k: number) => intQsnrDb(p.bits, k, p.rho, p.levels);
const theoryFp = (p: Pair, k: number) => fpQsnrDb(fpShape(p.fp.element), k, p.rho);

function main(out: string): void {
  const crests = Array.from({ length: 29 }, (_, i) => Math.round(1.25 * 1.08 ** i * 1000) / 1000);
  const points: Record<string, unknown>[] = [];
  const rows: string[][] = [];
  const results = [];
  for (const p of PAIRS) {
    const worst = { INT: 0, FP: 0 };
    for (const k of crests) {
      const holds = gaussianTail(k) <= TAIL_LIMIT;
      for (const [fmt, s, th] of [
        ["INT", p.int, theoryInt(p, k)],
        ["FP", p.fp, theoryFp(p, k)],
      ] as const) {
        const m = measuredQsnr(s, k);
        if (holds) worst[fmt] = Math.max(worst[fmt], Math.abs(m - th));
        points.push({ pair: p.label, crest: k, format: fmt, source: "measured (qkc)", qsnr: m });
        points.push({ pair: p.label, crest: k, format: fmt, source: "theory", qsnr: th });
      }
    }
    const theory = bisect((k) => theoryInt(p, k) - theoryFp(p, k), 1, 20, 1e-4);
    const measured = bisect((k) => measuredQsnr(p.int, k) - measuredQsnr(p.fp, k), 1.25, 12, 0.005);
    results.push({ pair: p.label, int: p.int.name, fp: p.fp.name, rho: p.rho, levels: p.levels ?? 2 ** (p.bits - 1), expected: p.expected, theory, measured, maxDeviationDb: worst });
    rows.push([p.label, String(p.rho), p.expected.toFixed(2), theory?.toFixed(2) ?? "none", measured?.toFixed(2) ?? "none", worst.INT.toFixed(2), worst.FP.toFixed(2)]);
  }

  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "results.json"), JSON.stringify({ blocks: BLOCKS, seed: SEED, tailLimit: TAIL_LIMIT, results, points }, null, 2) + "\n");
  console.log("Crossover crest factors (INT beats FP below them):");
  console.log(
    renderTable(
      [
        { header: "pair" },
        { header: "rho", align: "right" },
        { header: "expected", align: "right" },
        { header: "theory", align: "right" },
        { header: "measured", align: "right" },
        { header: "INT max |dev| dB", align: "right" },
        { header: "FP max |dev| dB", align: "right" },
      ],
      rows,
    ),
  );
  console.log(`(deviation over crest factors with at most ${TAIL_LIMIT * 100}% of N(0,1) above the block max, where the theory's Gaussian-below-the-max assumption holds)`);
  const crossings = results.flatMap((r) => [
    ...(r.theory ? [{ pair: r.pair, crest: r.theory, source: "theory" }] : []),
    ...(r.measured ? [{ pair: r.pair, crest: r.measured, source: "measured (qkc)" }] : []),
  ]);
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: { text: "INT vs FP block formats: QSNR against the crest factor", subtitle: "Gaussian blocks, block max = crest x sigma; solid: qkc measured, dashed: closed-form theory (rho = 1.5 for MX, 1 for NV); rules: crossovers" },
    config: CHART_CONFIG,
    facet: { field: "pair", type: "nominal", title: null, sort: PAIRS.map((p) => p.label), header: { labelFontSize: 13 } },
    columns: 2,
    data: { values: [...points, ...crossings.map((c) => ({ ...c, rule: true }))] },
    spec: {
      width: 360,
      height: 240,
      layer: [
        {
          transform: [{ filter: "!datum.rule" }],
          mark: { type: "line", strokeWidth: 2 },
          encoding: {
            x: { field: "crest", type: "quantitative", scale: { type: "log" }, title: "crest factor k = max|x| / sigma" },
            y: { field: "qsnr", type: "quantitative", title: "QSNR (dB)", scale: { zero: false } },
            color: { field: "format", type: "nominal", scale: { domain: ["INT", "FP"], range: ["#1f77b4", "#d62728"] }, title: "format" },
            strokeDash: { field: "source", type: "nominal", scale: { domain: ["measured (qkc)", "theory"], range: [[1, 0], [5, 4]] }, title: null },
          },
        },
        {
          transform: [{ filter: "datum.rule" }],
          mark: { type: "rule", color: "#555" },
          encoding: {
            x: { field: "crest", type: "quantitative" },
            strokeDash: { field: "source", type: "nominal" },
          },
        },
      ],
    },
    resolve: { scale: { y: "independent" } },
  } as TopLevelSpec;
  void renderSvg(spec).then((svg) => {
    writeFileSync(join(out, "qsnr-vs-crest.svg"), svg);
    writeFileSync(join(out, "qsnr-vs-crest.png"), svgToPng(svg));
    console.log(`\nwrote ${join(out, "results.json")}, qsnr-vs-crest.svg and qsnr-vs-crest.png`);
  });
}

const at = process.argv.indexOf("--out");
main(at > 0 ? process.argv[at + 1] : "report/examples/int-vs-fp");

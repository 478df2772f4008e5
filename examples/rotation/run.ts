/**
 * Random Hadamard rotation before block quantization: the QSNR change it
 * brings to MXFP4, MXINT4, NVFP4 and NVINT4 on heavy-tailed data, for rotation
 * sizes 16..128 ("Bridging the Gap", arXiv 2509.23202; "INT v.s. FP", arXiv
 * 2510.25602). The rotation is the interpreter's (ir/interpret/rotate.ts);
 * errors are measured after rotating back, in the data's own coordinates.
 *
 *   npx tsx examples/rotation/run.ts [--out DIR]
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { resolveScheme } from "../../cli/schemes.js";
import { renderTable } from "../../cli/table.js";
import { blockGrid } from "../../ir/interpret/blocks.js";
import { reconstruct } from "../../tune/measure.js";
import { tuneMetrics } from "../../tune/metrics.js";
import { CHART_CONFIG, renderSvg, svgToPng, type TopLevelSpec } from "../../tune/plot.js";
import { distributionName, synthetic, type Distribution } from "../../tune/synthetic.js";
import type { Variant } from "../../tune/variants.js";

const SCHEMES = ["mxfp4", "mxint4", "nvfp4", "nvint4"];
const SIZES = [16, 32, 64, 128];
const DATA: Distribution[] = [{ kind: "laplace" }, { kind: "student-t", nu: 3 }, { kind: "gaussian" }];
const SHAPE = [128, 4096];
const SEED = 11;

function variant(name: string, size?: number): Variant {
  const scheme = resolveScheme(name);
  const spec = { base: name, block: 0, scale: scheme.scale.format.name, rule: scheme.scale.rule, rotate: size ? "hadamard" : "none", rounding: scheme.rounding.mode } as const;
  return { name, family: name, spec, scheme, ...(size ? { rotate: { kind: "hadamard", size, seed: SEED } } : {}) };
}

async function main(out: string): Promise<void> {
  const n = SHAPE[0] * SHAPE[1];
  const rows: string[][] = [];
  const points: { data: string; scheme: string; size: number; gainDb: number; qsnrDb: number }[] = [];
  for (const d of DATA) {
    const x = { dtype: "f32" as const, shape: SHAPE, data: synthetic(d, n, SEED) };
    for (const name of SCHEMES) {
      const qsnr = async (size?: number) => {
        const v = variant(name, size);
        const y = await reconstruct(v, x, "interp", 0);
        return tuneMetrics(x.data, y, blockGrid(SHAPE, v.scheme.block)).qsnrDb;
      };
      const plain = await qsnr();
      const gains: string[] = [];
      for (const size of SIZES) {
        const q = await qsnr(size);
        points.push({ data: distributionName(d), scheme: name, size, gainDb: q - plain, qsnrDb: q });
        gains.push((q - plain >= 0 ? "+" : "") + (q - plain).toFixed(2));
      }
      rows.push([distributionName(d), name, plain.toFixed(2), ...gains]);
    }
  }
  console.log("QSNR without rotation (dB), and its change with a random Hadamard rotation of each size:");
  console.log(
    renderTable(
      [{ header: "data" }, { header: "scheme" }, { header: "no rotation", align: "right" }, ...SIZES.map((s) => ({ header: `H${s}`, align: "right" as const }))],
      rows,
    ),
  );
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "results.json"), JSON.stringify({ shape: SHAPE, seed: SEED, points }, null, 2) + "\n");
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: { text: "What a random Hadamard rotation does to 4-bit block formats", subtitle: "QSNR change against no rotation; above 0 the rotation helps" },
    config: CHART_CONFIG,
    data: { values: points },
    facet: { column: { field: "data", type: "nominal", title: null, header: { labelFontSize: 13 } } },
    spec: {
      width: 260,
      height: 260,
      layer: [
        {
          mark: { type: "bar" },
          encoding: {
            x: { field: "size", type: "ordinal", title: "rotation size", axis: { labelAngle: 0 } },
            xOffset: { field: "scheme", sort: SCHEMES },
            y: { field: "gainDb", type: "quantitative", title: "QSNR change (dB)" },
            color: { field: "scheme", type: "nominal", sort: SCHEMES, title: "scheme" },
          },
        },
        { mark: { type: "rule", color: "#333" }, encoding: { y: { datum: 0 } } },
      ],
    },
  } as TopLevelSpec;
  const svg = await renderSvg(spec);
  writeFileSync(join(out, "rotation.svg"), svg);
  writeFileSync(join(out, "rotation.png"), svgToPng(svg));
  console.log(`wrote ${join(out, "results.json")}, rotation.svg and rotation.png`);
}

const at = process.argv.indexOf("--out");
await main(at > 0 ? process.argv[at + 1] : "report/examples/rotation");

/** The tuner's chart: QSNR against bits per element, one series per scheme family, the Pareto front drawn over them. */
import { CHART_CONFIG, type TopLevelSpec } from "./plot.js";
import type { VariantSummary } from "./summary.js";

export function paretoChart(
  rows: readonly VariantSummary[],
  front: readonly VariantSummary[],
  subtitle: string,
  recommended: readonly string[] = [],
): TopLevelSpec {
  const onFront = new Set(front.map((r) => r.variant));
  const picked = new Set(recommended);
  const values = rows
    .filter((r) => Number.isFinite(r.qsnrDb))
    .map((r) => ({
      variant: r.variant,
      family: r.family,
      block: String(r.spec.block),
      bits: r.bitsPerElement,
      qsnr: r.qsnrDb,
      front: onFront.has(r.variant),
      recommended: picked.has(r.variant),
    }));
  const x = { field: "bits", type: "quantitative", title: "bits per element (codes + scales)", scale: { zero: false, nice: false, padding: 16 } } as const;
  const y = { field: "qsnr", type: "quantitative", title: "QSNR (dB, higher is better)", scale: { zero: false, padding: 16 } } as const;
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: { text: "QSNR against storage", subtitle: [subtitle, "dashed: the Pareto front (labels: block size) · red diamond: recommended"] },
    width: 640,
    height: 400,
    config: CHART_CONFIG,
    data: { values },
    layer: [
      {
        mark: { type: "line", point: { size: 50, filled: true }, strokeWidth: 1.5, opacity: 0.85 },
        encoding: {
          x,
          y,
          color: { field: "family", type: "nominal", title: "scheme family", legend: { orient: "bottom", columns: 2 } },
          order: { field: "bits", type: "quantitative" },
          tooltip: [{ field: "variant" }, { field: "bits", format: ".3f" }, { field: "qsnr", format: ".2f" }],
        },
      },
      {
        transform: [{ filter: "datum.front" }],
        mark: { type: "line", interpolate: "step-after", color: "#111", strokeDash: [5, 3], strokeWidth: 1.5 },
        encoding: { x, y, order: { field: "bits", type: "quantitative" } },
      },
      {
        transform: [{ filter: "datum.front" }],
        mark: { type: "point", shape: "circle", size: 190, stroke: "#111", strokeWidth: 2, fillOpacity: 0 },
        encoding: { x, y },
      },
      {
        transform: [{ filter: "datum.recommended" }],
        mark: { type: "point", shape: "diamond", size: 320, filled: true, color: "#d62728", stroke: "#111", strokeWidth: 1 },
        encoding: { x, y, tooltip: [{ field: "variant", title: "recommended" }] },
      },
      {
        transform: [{ filter: "datum.front" }],
        mark: { type: "text", dx: 8, dy: -10, align: "left", fontSize: 11, color: "#111" },
        encoding: { x, y, text: { field: "block" } },
      },
    ],
  } as TopLevelSpec;
}

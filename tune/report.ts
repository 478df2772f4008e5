/** The tuner's terminal table: one row per variant (pooled over tensors), cheapest first, the Pareto front marked. */
import { fmtExp, fmtFixed, fmtNumber, renderTable } from "../cli/table.js";
import type { VariantSummary } from "./summary.js";

const db = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : String(v));
const rate = (v: number | undefined) => (v === undefined ? "-" : v.toFixed(1));

/** Rows by bits per element, then QSNR (best first); `*` marks the Pareto front. */
export function sortedRows(rows: readonly VariantSummary[]): VariantSummary[] {
  return [...rows].sort(
    (a, b) => a.bitsPerElement - b.bitsPerElement || b.qsnrDb - a.qsnrDb || a.variant.localeCompare(b.variant),
  );
}

export function summaryTable(rows: readonly VariantSummary[], front: readonly VariantSummary[]): string {
  const onFront = new Set(front.map((r) => r.variant));
  const right = "right" as const;
  return renderTable(
    [
      { header: "" },
      { header: "variant" },
      { header: "bits/elem", align: right },
      { header: "QSNR dB", align: right },
      { header: "MSE", align: right },
      { header: "max abs", align: right },
      { header: "max rel", align: right },
      { header: "blockmax rel", align: right },
      { header: "KL", align: right },
      { header: "q Melem/s", align: right },
      { header: "dq Melem/s", align: right },
    ],
    sortedRows(rows).map((r) => [
      onFront.has(r.variant) ? "*" : "",
      r.variant,
      fmtFixed(r.bitsPerElement, 4),
      db(r.qsnrDb),
      fmtExp(r.mse),
      fmtNumber(r.maxAbsError),
      fmtNumber(r.maxRelError),
      fmtNumber(r.blockMaxRelError),
      fmtNumber(r.klDivergence),
      rate(r.quantizeMelemPerS),
      rate(r.dequantizeMelemPerS),
    ]),
  );
}

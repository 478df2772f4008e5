/** The table quantize-model prints: per scheme, then copied tensors and the total. */
import { elementCount } from "../../ir/tensor.js";
import { fmtFixed, renderTable } from "../table.js";
import type { TensorRecord } from "./manifest.js";

/** 512 B, 12.3 KiB, 4.5 GiB */
export function fmtBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let k = 0;
  while (bytes >= 1024 * 0.95 && k < units.length - 1) [bytes, k] = [bytes / 1024, k + 1];
  return `${k === 0 ? bytes : fmtFixed(bytes, 1)} ${units[k]}`;
}

function row(what: string, rs: readonly TensorRecord[]): string[] {
  const params = rs.reduce((a, r) => a + elementCount(r.shape), 0);
  const before = rs.reduce((a, r) => a + r.bytesBefore, 0);
  const after = rs.reduce((a, r) => a + r.bytesAfter, 0);
  const measured = rs.filter((r) => r.qsnrDb !== undefined);
  // mean of the per-tensor QSNR in dB (each tensor counts once, whatever its size)
  const mean = measured.reduce((a, r) => a + r.qsnrDb!, 0) / measured.length;
  const worst = measured.reduce<TensorRecord | undefined>(
    (w, r) => (!w || r.qsnrDb! < w.qsnrDb! ? r : w),
    undefined,
  );
  return [
    what,
    String(rs.length),
    String(params),
    fmtBytes(before),
    fmtBytes(after),
    params > 0 ? fmtFixed((after * 8) / params, 3) : "-",
    measured.length ? fmtFixed(mean, 2) : "-",
    worst ? `${worst.name} (${fmtFixed(worst.qsnrDb!, 2)} dB)` : "-",
  ];
}

export function summaryTable(records: readonly TensorRecord[]): string {
  const bySpec = new Map<string, TensorRecord[]>();
  for (const r of records) {
    const key = r.action === "quantize" ? r.scheme! : "copied";
    bySpec.set(key, [...(bySpec.get(key) ?? []), r]);
  }
  const keys = [...bySpec.keys()].sort((a, b) =>
    a === "copied" ? 1 : b === "copied" ? -1 : a < b ? -1 : 1,
  );
  const rows = keys.map((k) => row(k, bySpec.get(k)!));
  rows.push(row("total", records));
  return renderTable(
    [
      { header: "scheme" },
      { header: "tensors", align: "right" },
      { header: "params", align: "right" },
      { header: "before", align: "right" },
      { header: "after", align: "right" },
      { header: "bits/weight", align: "right" },
      { header: "mean QSNR dB", align: "right" },
      { header: "worst tensor" },
    ],
    rows,
  );
}

import { describe, expect, it } from "vitest";
import { qdq } from "../ir/interpret/index.js";
import { scheme } from "../ir/scheme.js";
import { builtinScheme } from "../stdlib/index.js";
import { errorMetrics } from "../tune/metrics.js";
import { synthetic } from "../tune/synthetic.js";

/**
 * SEMANTICS.md section 6: QSNR on 2^20 i.i.d. N(0,1) samples, RNE, as measured by
 * "INT v.s. FP" (arXiv 2510.25602). The paper's MXFP6-E3M2 and MXINT4 figures
 * correspond to the rceil scale rule (docs/semantics.md, "Reference results").
 */
const PAPER: [string, string | undefined, number][] = [
  ["mxfp8_e4m3", undefined, 30.6],
  ["mxfp8_e4m3_rceil", undefined, 31.5],
  ["mxint8", undefined, 41.6],
  ["mxfp6_e2m3", undefined, 31.0],
  ["mxfp6_e3m2", "rceil", 25.5],
  ["mxfp4", undefined, 18.8],
  ["mxint4", "rceil", 16.9],
  ["nvfp4", undefined, 20.4],
  ["nvint4", undefined, 21.3],
];

describe("QSNR on N(0,1) matches the published measurements within 0.1 dB", () => {
  const x = synthetic({ kind: "gaussian" }, 1 << 20, 1);
  for (const [name, rule, want] of PAPER) {
    it(`${name}${rule ? ` (${rule})` : ""}: ${want} dB`, () => {
      const base = builtinScheme(name)!;
      const s = rule ? scheme({ ...base, scale: { ...base.scale, rule: rule as "rceil" } }) : base;
      const got = errorMetrics(x, qdq(s, x)).qsnrDb;
      expect(Math.abs(got - want), `measured ${got.toFixed(2)} dB`).toBeLessThanOrEqual(0.1);
    });
  }
});

import { describe, expect, it } from "vitest";
import { builtinFormat } from "../stdlib/index.js";
import { bisect, erf, fpQsnrDb, fpShape, intQsnrDb } from "../tune/theory.js";

const fp = (name: string) => fpShape(builtinFormat(name)!);

describe("closed-form QSNR theory (SEMANTICS.md section 6)", () => {
  it("INT: 4.77 + 6.02 b - 20 log10(rho) - 20 log10(k)", () => {
    expect(intQsnrDb(8, 1, 1)).toBeCloseTo(10 * Math.log10(12) + 20 * 7 * Math.log10(2), 12);
    expect(intQsnrDb(4, 2, 1.5) - intQsnrDb(4, 4, 1.5)).toBeCloseTo(20 * Math.log10(2), 12);
    expect(intQsnrDb(4, 1, 1, 7)).toBeCloseTo(10 * Math.log10(12 * 49), 12);
  });

  it("FP with ample range: 13.80 + 6.02 M (MXFP8 E4M3: 31.86 dB)", () => {
    expect(fpQsnrDb(fp("e4m3"), 2, 1.5)).toBeCloseTo(10 * Math.log10(24) + 20 * 3 * Math.log10(2), 3);
    expect(fpQsnrDb(fp("e4m3"), 2, 1.5)).toBeCloseTo(31.86, 2);
    expect(fp("e2m1")).toEqual({ mantissa: 1, minNormal: 1, subnormalStep: 0.5, max: 6 });
  });

  it("erf", () => {
    expect(erf(0)).toBeCloseTo(0, 7);
    expect(erf(1)).toBeCloseTo(0.8427007929, 6);
    expect(erf(-2)).toBeCloseTo(-0.995322265, 6);
  });

  it("crossover crest factors by bisection: 7.55, 1.96, 2.04 at rho = 1.5", () => {
    const cross = (bits: number, f: string) => bisect((k) => intQsnrDb(bits, k, 1.5) - fpQsnrDb(fp(f), k, 1.5), 1, 20)!;
    // 7.54 with the exact 10 log10(12 4^(b-1)); the paper's rounded 4.78 + 6.02 b gives 7.55
    expect(Math.abs(cross(8, "e4m3") - 7.55)).toBeLessThan(0.01);
    expect(cross(6, "e2m3")).toBeCloseTo(1.96, 2);
    expect(cross(4, "e2m1")).toBeCloseTo(2.04, 2);
    expect(bisect((k) => k - 30, 1, 20)).toBeUndefined();
  });
});

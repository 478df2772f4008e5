import { describe, expect, it } from "vitest";
import {
  nvidia128x4Offset,
  pack6,
  packNibbles,
  swizzleNvidia128x4,
  unpack6,
  unpackNibbles,
  unswizzleNvidia128x4,
} from "../ir/layout/index.js";
import { codec, NEAREST_EVEN } from "../ir/formats/index.js";
import { e2m1 } from "../stdlib/formats.js";

describe("FP4 nibble order", () => {
  it("packs [1.0, -2.0] to 0xC2 with element 2i in the low nibble", () => {
    const c = codec(e2m1);
    const codes = [1.0, -2.0].map((x) => c.encode(x, NEAREST_EVEN, "saturate"));
    expect([...packNibbles(codes, "low_first")]).toEqual([0xc2]);
    expect([...packNibbles(codes, "high_first")]).toEqual([0x2c]);
  });

  it("round-trips odd lengths in both orders", () => {
    const codes = Uint8Array.from({ length: 33 }, (_, i) => (i * 7) % 16);
    for (const order of ["low_first", "high_first"] as const)
      expect(unpackNibbles(packNibbles(codes, order), 33, order)).toEqual(codes);
  });
});

describe("FP6 packing", () => {
  it("puts 4 codes in 3 bytes, least significant bit first", () => {
    expect([...pack6([0x3f, 0, 0, 0])]).toEqual([0x3f, 0, 0]);
    expect([...pack6([0, 0x3f, 0, 0])]).toEqual([0xc0, 0x0f, 0]);
    expect([...pack6([0, 0, 0, 0x3f])]).toEqual([0, 0, 0xfc]);
    expect(pack6(new Uint8Array(32)).length).toBe(24);
  });

  it("round-trips", () => {
    const codes = Uint8Array.from({ length: 37 }, (_, i) => (i * 29) % 64);
    expect(unpack6(pack6(codes), 37)).toEqual(codes);
  });
});

describe("NVIDIA 128x4 scale swizzle", () => {
  it("matches the SEMANTICS.md vectors for R=128, C=8", () => {
    expect(nvidia128x4Offset(5, 2, 8)).toBe(82);
    expect(nvidia128x4Offset(5, 5, 8)).toBe(593);
  });

  it("is a bijection onto the padded tile space", () => {
    const rows = 200;
    const cols = 6;
    const seen = new Set<number>();
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) seen.add(nvidia128x4Offset(r, c, cols));
    expect(seen.size).toBe(rows * cols);
    expect(Math.max(...seen)).toBeLessThan(256 * 8);
    const s = Uint8Array.from({ length: rows * cols }, (_, i) => i % 251);
    expect(unswizzleNvidia128x4(swizzleNvidia128x4(s, rows, cols), rows, cols)).toEqual(s);
  });
});

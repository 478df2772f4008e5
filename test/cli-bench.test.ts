/**
 * qkc bench: one JSON object with the field names outside tools read
 * (median_ms, bytes_in, bytes_out, gbps, threads), and on the WebAssembly
 * backend the deployed variants of GEMV: packed 4-bit codes, `order: any`,
 * relaxed SIMD's fused multiply-adds; options a backend or kernel cannot take
 * are refused in one line.
 */
import { setFlagsFromString } from "node:v8";
import { describe, expect, it } from "vitest";
import { main } from "../cli/main.js";
import { relaxedSimdSupported } from "../backends/wasm/compile-module.js";

async function run(...argv: string[]) {
  let out = "";
  let err = "";
  const code = await main(argv, { stdout: (t) => void (out += t), stderr: (t) => void (err += t) });
  return { code, out, err };
}

const relaxedAtStart = relaxedSimdSupported();
const SMALL = ["--size", "65536", "--runs", "3"];

describe("qkc bench", () => {
  it("prints the fields outside tools read, for the interpreter's default kernel", async () => {
    const r = await run("bench", "mxfp4", ...SMALL, "--json");
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ scheme: "mxfp4", kernel: "qdq", backend: "interp", threads: 1, layout: "unpacked" });
    for (const key of ["median_ms", "bytes_in", "bytes_out", "gbps", "threads"]) expect(typeof j[key], key).toBe("number");
    expect(j.median_ms).toBeGreaterThan(0);
    expect(j.bytes_in).toBe(16 * 4096 * 4);
  });

  it("times the packed order any GEMV on wasm: half the code bytes, the order and layout in the object", async () => {
    const r = await run("bench", "mxfp4", "--kernel", "gemv", "--backend", "wasm", "--packed", "--order", "any", ...SMALL);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ kernel: "gemv", backend: "wasm", order: "any", layout: "packed", shape: [256, 256] });
    // packed codes (one byte per two), E8M0 scales (one byte per 32), x in f32
    expect(j.bytes_in).toBe((256 * 256) / 2 + (256 * 256) / 32 + 256 * 4);
    expect(j.relaxed_simd).toBeUndefined();
    const fixed = JSON.parse((await run("bench", "mxfp4", "--kernel", "gemv", "--backend", "wasm", ...SMALL)).out);
    expect(fixed).toMatchObject({ order: "fixed", layout: "unpacked", bytes_in: 256 * 256 + (256 * 256) / 32 + 256 * 4 });
  });

  it("refuses what a backend or kernel cannot take, in one line naming the fix", async () => {
    const cases: [string[], string][] = [
      [["mxfp4", "--kernel", "qdq", "--order", "any"], "--order any is gemv's; drop it or use --kernel gemv"],
      [["mxfp4", "--kernel", "gemv", "--order", "any"], "--order any: only --backend wasm times it here (without double quantization); add --backend wasm"],
      [["mxfp8_e4m3", "--kernel", "gemv", "--backend", "wasm", "--packed"], "--packed packs 4-bit codes; this scheme's are not 4-bit, drop --packed"],
      [["mxfp4", "--kernel", "gemv", "--backend", "wasm", "--relaxed-simd"], "--relaxed-simd fuses only order any GEMV; add --kernel gemv --order any"],
    ];
    for (const [argv, line] of cases) {
      const r = await run("bench", ...argv, ...SMALL);
      expect(r.code, argv.join(" ")).toBe(1);
      expect(r.err).toBe(`error: ${line}\n`);
    }
  });

  it.skipIf(relaxedAtStart)("--relaxed-simd on a Node without relaxed SIMD: one line naming the fix", async () => {
    const r = await run("bench", "mxfp4", "--kernel", "gemv", "--backend", "wasm", "--order", "any", "--relaxed-simd", ...SMALL);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^error: --relaxed-simd: this Node \(v[\d.]+\) has no relaxed SIMD; use Node 22\+, or run qkc as node --experimental-wasm-relaxed-simd/);
  });

  it("--relaxed-simd where relaxed SIMD is on (Node 20: V8's flag, set here)", async () => {
    if (!relaxedSimdSupported()) setFlagsFromString("--experimental-wasm-relaxed-simd");
    const r = await run("bench", "mxfp4", "--kernel", "gemv", "--backend", "wasm", "--packed", "--order", "any", "--relaxed-simd", ...SMALL);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ order: "any", layout: "packed", relaxed_simd: true });
  });
});

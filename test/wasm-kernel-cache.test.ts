/**
 * The WASM kernel cache of backends/runner.ts is bounded: the Lru it uses
 * (count and bytes, sizes read on every touch since wasm memories grow), and
 * wasmKernel rebuilding a kernel set once it was evicted.
 */
import { describe, expect, it } from "vitest";
import { Lru } from "../backends/lru.js";
import { limitWasmKernelCache, WASM_CACHE_LIMITS, wasm, wasmKernel } from "../backends/runner.js";
import { builtinScheme } from "../stdlib/index.js";
import type { KernelSpec } from "../ir/program.js";

describe("Lru", () => {
  const sized = () => new Map<string, number>();

  it("keeps at most maxEntries, dropping the least recently used (get refreshes)", () => {
    const lru = new Lru<string>({ maxEntries: 2, maxBytes: Infinity }, () => 0);
    lru.set("a", "A");
    lru.set("b", "B");
    expect(lru.get("a")).toBe("A");
    lru.set("c", "C");
    expect(lru.keys()).toEqual(["a", "c"]);
    expect(lru.get("b")).toBeUndefined();
  });

  it("bounds the bytes the entries hold now, counting growth after insertion", () => {
    const bytes = sized();
    const lru = new Lru<string>({ maxEntries: 10, maxBytes: 100 }, (k) => bytes.get(k) ?? 0);
    for (const k of ["a", "b", "c"]) {
      bytes.set(k, 30);
      lru.set(k, k);
    }
    expect(lru.bytes).toBe(90);
    bytes.set("b", 60); // b's memory grew while cached
    expect(lru.get("c")).toBe("c"); // 30 + 60 + 30 > 100: the touch evicts a, the least recent
    expect(lru.keys()).toEqual(["b", "c"]);
    bytes.set("c", 80);
    lru.get("c");
    expect(lru.keys()).toEqual(["c"]);
    bytes.set("c", 500); // the entry used last stays, whatever its size
    lru.get("c");
    expect(lru.keys()).toEqual(["c"]);
  });

  it("limit() evicts at once; delete(key, value) spares a newer value", () => {
    const lru = new Lru<number>({ maxEntries: 5, maxBytes: Infinity }, () => 0);
    for (let j = 0; j < 5; j++) lru.set(`k${j}`, j);
    lru.limit({ maxEntries: 2, maxBytes: Infinity });
    expect(lru.keys()).toEqual(["k3", "k4"]);
    lru.delete("k4", 99);
    expect(lru.keys()).toEqual(["k3", "k4"]);
    lru.delete("k4", 4);
    expect(lru.keys()).toEqual(["k3"]);
  });
});

describe("wasmKernel cache", () => {
  const spec = (kind: "dequantize" | "gemv"): KernelSpec => ({
    name: `${kind}_int4_g128_asym`,
    kind,
    scheme: builtinScheme("int4_g128_asym")!,
    input: "f32",
    output: "f32",
    layout: "unpacked",
  });

  it("rebuilds a kernel set after it was evicted, and counts the memories' bytes", async () => {
    try {
      limitWasmKernelCache({ maxEntries: 1, maxBytes: Infinity });
      const first = await wasmKernel(spec("dequantize"));
      expect(await wasmKernel(spec("dequantize"))).toBe(first);
      await wasmKernel(spec("gemv"));
      expect(await wasmKernel(spec("dequantize"))).not.toBe(first);
      const s = builtinScheme("int4_g128_asym")!;
      const q = await wasm.quantize(s, {
        dtype: "f32",
        shape: [64, 1024],
        data: new Float32Array(65536),
      });
      await wasm.dequantize(q); // grows the dequantize set's memory past 64K floats
      const state = limitWasmKernelCache({ maxEntries: 1, maxBytes: Infinity });
      expect(state.entries).toBe(1);
      expect(state.bytes).toBeGreaterThan(65536 * 4);
    } finally {
      limitWasmKernelCache(WASM_CACHE_LIMITS);
    }
  }, 120_000);
});

import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { main } from "../cli/main.js";
import { qdq, quantize } from "../ir/interpret/index.js";
import { builtinScheme } from "../stdlib/index.js";

const root = join(import.meta.dirname, "..");
const dir = mkdtempSync(join(tmpdir(), "qkc-bind-"));

describe("qkc compile --target wasm", () => {
  beforeAll(() => {
    execFileSync("npm", ["run", "build"], { cwd: root, stdio: "ignore" });
    // the generated module imports the runtime from the `qkc` package
    mkdirSync(join(dir, "node_modules"));
    symlinkSync(root, join(dir, "node_modules", "qkc"));
  }, 120_000);

  it("writes a module with typed bindings that a user imports and runs, bit-exact with the interpreter", async () => {
    const out = join(dir, "k");
    let err = "";
    const code = await main(["compile", "nvfp4", "--target", "wasm", "--out", out], {
      stdout: () => {},
      stderr: (t) => void (err += t),
    });
    expect(err).toBe("");
    expect(code).toBe(0);
    expect(readFileSync(join(out, "kernels.d.ts"), "utf8")).toMatch(
      /qdq_nvfp4\(inputs: \{\s*x: Float32Array;\s*\}, shape: readonly number\[\], seed\?: number\): \{\s*y: Float32Array;/,
    );
    expect(readFileSync(join(out, "kernels.wat"), "utf8")).toMatch(/\(import "env" "memory"/);
    const mod = (await import(join(out, "kernels.js"))) as {
      load: (b: Uint8Array) => Promise<Record<string, (inputs: object, shape: number[]) => Record<string, unknown>>>;
    };
    const k = await mod.load(readFileSync(join(out, "kernels.wasm")));
    const x = Float32Array.from({ length: 8 * 64 }, (_, i) => Math.sin(i) * (i % 5));
    const s = builtinScheme("nvfp4")!;
    const y = k.qdq_nvfp4({ x }, [8, 64]).y as Float32Array;
    expect(Buffer.from(y.buffer)).toEqual(
      Buffer.from(qdq(s, { dtype: "f32", shape: [8, 64], data: x }).buffer),
    );
    const q = k.quantize_nvfp4({ x }, [8, 64]);
    const ref = quantize(s, { dtype: "f32", shape: [8, 64], data: x });
    expect(Array.from(q.scales as Uint8Array)).toEqual(Array.from(ref.scales));
  });

  it("holds every plan of a double-quantized scheme in one module (nested kernels that share a name are renamed apart)", async () => {
    const out = join(dir, "dq");
    let err = "";
    const code = await main(["compile", "nf4_dq", "--target", "wasm", "--out", out], {
      stdout: () => {},
      stderr: (t) => void (err += t),
    });
    expect(err).toBe("");
    expect(code).toBe(0);
    const mod = (await import(join(out, "kernels.js"))) as {
      load: (b: Uint8Array) => Promise<Record<string, (inputs: object, shape: number[]) => Record<string, unknown>>>;
    };
    const k = await mod.load(readFileSync(join(out, "kernels.wasm")));
    const shape = [4, 512];
    const x = Float32Array.from({ length: 4 * 512 }, (_, i) => Math.sin(i * 0.37) * ((i % 7) + 1));
    const s = builtinScheme("nf4_dq")!;
    const y = k.qdq_nf4_dq({ x }, shape).y as Float32Array;
    expect(Buffer.from(y.buffer)).toEqual(
      Buffer.from(qdq(s, { dtype: "f32", shape, data: x }).buffer),
    );
  });
});

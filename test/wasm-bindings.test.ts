import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { main } from "../cli/main.js";
import { qdq, quantize } from "../ir/interpret/index.js";
import { builtinScheme } from "../stdlib/index.js";

const root = join(import.meta.dirname, "..");
const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "qkc-bind-"));

/** `qkc compile SCHEME --target wasm --out dir/NAME`: its exit code and stderr. */
async function compileTo(scheme: string, name: string) {
  let err = "";
  const code = await main(["compile", scheme, "--target", "wasm", "--out", join(dir, name)], {
    stdout: () => {},
    stderr: (t) => void (err += t),
  });
  return { code, err };
}

describe("qkc compile --target wasm", () => {
  let compiled: Record<"nvfp4" | "nf4_dq", { code: number; err: string }>;

  beforeAll(async () => {
    // the build runs in a child process (async, so vitest's worker keeps answering) while
    // this thread compiles the two modules: on two cores they overlap
    const built = run("npm", ["run", "build"], { cwd: root });
    built.catch(() => {}); // a failed build is reported by the await below, not as unhandled
    try {
      compiled = { nvfp4: await compileTo("nvfp4", "k"), nf4_dq: await compileTo("nf4_dq", "dq") };
    } finally {
      await built;
    }
    // the generated module imports the runtime from the `qkc` package
    mkdirSync(join(dir, "node_modules"));
    symlinkSync(root, join(dir, "node_modules", "qkc"));
  }, 120_000);

  it("writes a module with typed bindings that a user imports and runs, bit-exact with the interpreter", async () => {
    const out = join(dir, "k");
    expect(compiled.nvfp4).toEqual({ code: 0, err: "" });
    expect(readFileSync(join(out, "kernels.d.ts"), "utf8")).toMatch(
      /qdq_nvfp4\(inputs: \{\s*x: Float32Array;\s*\}, shape: readonly number\[\], seed\?: number\): \{\s*y: Float32Array;/,
    );
    expect(readFileSync(join(out, "kernels.wat"), "utf8")).toMatch(/\(import "env" "memory"/);
    const mod = (await import(join(out, "kernels.js"))) as {
      load: (
        b: Uint8Array,
      ) => Promise<Record<string, (inputs: object, shape: number[]) => Record<string, unknown>>>;
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

  it("loadThreaded in plain Node (outside vitest): the runtime finds its worker_threads runner, and a scheme with a tensor scale says why it ran on one thread", async () => {
    const out = join(dir, "k");
    writeFileSync(
      join(out, "user.mjs"),
      `import { readFileSync } from "node:fs";
import { load, loadThreaded } from "./kernels.js";
const bytes = readFileSync(new URL("./kernels.wasm", import.meta.url));
const x = Float32Array.from({ length: 2048 * 64 }, (_, i) => Math.sin(i * 0.3) * (i % 11));
const t = await loadThreaded(bytes, 2);
const r = await t.quantize_nvfp4({ x }, [2048, 64]);
await t.close();
const k = await load(bytes);
const same = Buffer.from(r.outputs.codes).equals(Buffer.from(k.quantize_nvfp4({ x }, [2048, 64]).codes));
console.log(JSON.stringify({ threads: r.threads, why: r.why, same }));
`,
    );
    const { stdout } = await run(process.execPath, [join(out, "user.mjs")]);
    expect(JSON.parse(stdout)).toEqual({
      threads: 1,
      why: "a tensor scale depends on every row",
      same: true,
    });
  });

  it("holds every plan of a double-quantized scheme in one module (nested kernels that share a name are renamed apart)", async () => {
    const out = join(dir, "dq");
    expect(compiled.nf4_dq).toEqual({ code: 0, err: "" });
    const mod = (await import(join(out, "kernels.js"))) as {
      load: (
        b: Uint8Array,
      ) => Promise<Record<string, (inputs: object, shape: number[]) => Record<string, unknown>>>;
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

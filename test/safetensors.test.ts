import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { main } from "../cli/main.js";
import {
  createSafetensors,
  MAX_HEADER_BYTES,
  openCheckpoint,
  openSafetensors,
  SafetensorsError,
  writeIndex,
} from "../cli/safetensors.js";

const dir = mkdtempSync(join(tmpdir(), "qkc-st-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;

/** A safetensors file from a header object and raw data bytes (for writing broken files). */
function rawFile(
  header: unknown,
  data: Uint8Array = new Uint8Array(0),
  lenOverride?: bigint,
): string {
  const json = Buffer.from(typeof header === "string" ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lenOverride ?? BigInt(json.length));
  const path = join(dir, `raw${fileNo++}.safetensors`);
  writeFileSync(path, Buffer.concat([len, json, data]));
  return path;
}

const f32 = (...v: number[]) => new Uint8Array(Float32Array.from(v).buffer);

describe("safetensors writer and reader", () => {
  it("round-trips tensors of several dtypes with metadata, 8-byte aligned data", () => {
    const path = join(dir, "ok.safetensors");
    const w = createSafetensors(
      path,
      [
        { name: "a", dtype: "F32", shape: [2, 2] },
        { name: "b", dtype: "BF16", shape: [3] },
        { name: "c", dtype: "F16", shape: [2] },
        { name: "d", dtype: "U8", shape: [0] },
        { name: "e", dtype: "F8_E4M3", shape: [1] },
      ],
      { format: "pt" },
    );
    w.write("a", f32(1, -2, 0.5, 3e38));
    w.write("b", new Uint8Array(new Uint16Array([0x3f80, 0xc000, 0x7fc0]).buffer));
    w.write("c", new Uint8Array(new Uint16Array([0x3c00, 0x0001]).buffer));
    w.write("d", new Uint8Array(0));
    w.write("e", Uint8Array.of(0x7e));
    expect(readdirSync(dir).some((f) => f.endsWith(".tmp"))).toBe(true);
    w.finish();
    expect(readdirSync(dir).some((f) => f.endsWith(".tmp"))).toBe(false);

    const f = openSafetensors(path);
    expect(f.metadata).toEqual({ format: "pt" });
    expect(f.tensors.map((t) => [t.name, t.dtype, t.shape])).toEqual([
      ["a", "F32", [2, 2]],
      ["b", "BF16", [3]],
      ["c", "F16", [2]],
      ["d", "U8", [0]],
      ["e", "F8_E4M3", [1]],
    ]);
    expect(f.tensors[0].fileOffset % 8).toBe(0);
    expect([...f.readF32("a")]).toEqual([1, -2, 0.5, Math.fround(3e38)]);
    expect([...f.readF32("b")]).toEqual([1, -2, NaN]);
    expect([...f.readF32("c")]).toEqual([1, 2 ** -24]);
    expect([...f.readBytes("e")]).toEqual([0x7e]);
    expect(() => f.readF32("e")).toThrow(/F8_E4M3; qkc reads F32, F16 and BF16/);
    expect(() => f.readBytes("zz")).toThrow(/no tensor named 'zz'/);
    f.close();
  });

  it("abort and wrong writes leave no file behind", () => {
    const sub = mkdtempSync(join(dir, "abort-"));
    const w = createSafetensors(join(sub, "x.safetensors"), [
      { name: "a", dtype: "F32", shape: [2] },
    ]);
    expect(() => w.write("a", f32(1))).toThrow(/expected 'a' \(8 bytes\)/);
    expect(readdirSync(sub)).toEqual([]);
    const v = createSafetensors(join(sub, "y.safetensors"), [
      { name: "a", dtype: "F32", shape: [1] },
    ]);
    v.abort();
    expect(readdirSync(sub)).toEqual([]);
    const u = createSafetensors(join(sub, "z.safetensors"), [
      { name: "a", dtype: "F32", shape: [1] },
    ]);
    expect(() => u.finish()).toThrow(/after 0 of 1 tensors/);
    expect(readdirSync(sub)).toEqual([]);
  });

  it("Ctrl-C in the middle of a file removes the temporary file", () => {
    const sub = mkdtempSync(join(dir, "sigint-"));
    const script = join(sub, "interrupted.mts");
    const module = pathToFileURL(join(import.meta.dirname, "../cli/safetensors.ts")).href;
    writeFileSync(
      script,
      `import { createSafetensors } from ${JSON.stringify(module)};
const w = createSafetensors(process.argv[2], [{ name: "a", dtype: "F32", shape: [4] }, { name: "b", dtype: "F32", shape: [4] }]);
w.write("a", new Uint8Array(16));
process.kill(process.pid, "SIGINT");
setTimeout(() => {}, 10000);
`,
    );
    const out = mkdtempSync(join(dir, "sigint-out-"));
    const r = spawnSync(process.execPath, ["--import", "tsx", script, join(out, "x.safetensors")]);
    expect(r.signal).toBe("SIGINT");
    expect(readdirSync(out)).toEqual([]);
  });

  it("reads a sharded checkpoint through its index, a folder, or a comma list", async () => {
    const sub = mkdtempSync(join(dir, "shards-"));
    for (const [k, name] of ["x", "y"].entries()) {
      const w = createSafetensors(join(sub, `model-0000${k + 1}-of-00002.safetensors`), [
        { name, dtype: "F32", shape: [1] },
      ]);
      w.write(name, f32(k + 1));
      w.finish();
    }
    await writeIndex(
      sub,
      { x: "model-00001-of-00002.safetensors", y: "model-00002-of-00002.safetensors" },
      8,
    );
    for (const spec of [
      sub,
      join(sub, "model.safetensors.index.json"),
      `${join(sub, "model-00001-of-00002.safetensors")},${join(sub, "model-00002-of-00002.safetensors")}`,
    ]) {
      const c = openCheckpoint(spec);
      expect(c.tensors.map((t) => t.name)).toEqual(["x", "y"]);
      expect([...c.readF32("y")]).toEqual([2]);
      c.close();
    }
    const dup = `${join(sub, "model-00001-of-00002.safetensors")},${join(sub, "model-00001-of-00002.safetensors")}`;
    expect(() => openCheckpoint(dup)).toThrow(/tensor 'x' appears in two files/);
  });
});

describe("bad safetensors files: one-line errors", () => {
  const ok = { a: { dtype: "F32", shape: [2], data_offsets: [0, 8] } };
  const cases: [string, () => string, RegExp][] = [
    [
      "an empty file",
      () => {
        const p = join(dir, "empty.safetensors");
        writeFileSync(p, new Uint8Array(0));
        return p;
      },
      /file is truncated \(0 bytes, shorter than the 8-byte header length\)/,
    ],
    [
      "a file shorter than 8 bytes",
      () => {
        const p = join(dir, "short.safetensors");
        writeFileSync(p, Uint8Array.of(1, 2, 3));
        return p;
      },
      /file is truncated \(3 bytes, shorter than the 8-byte header length\)/,
    ],
    [
      "a truncated header",
      () => rawFile(ok, new Uint8Array(0), 5000n),
      /truncated inside the header \(5000 header bytes claimed/,
    ],
    [
      "truncated data",
      () => rawFile(ok, f32(1)),
      /tensor 'a': data_offsets end at 8, past the 4 data bytes the file holds \(truncated\?\)/,
    ],
    [
      "offsets that lie about the size",
      () => rawFile({ a: { dtype: "F32", shape: [2], data_offsets: [0, 12] } }, f32(1, 2, 3)),
      /data_offsets \[0, 12\] hold 12 bytes, shape \[2\] of F32 needs 8/,
    ],
    [
      "offsets out of order",
      () => rawFile({ a: { dtype: "F32", shape: [0], data_offsets: [8, 4] } }, f32(1, 2)),
      /data_offsets is not \[begin, end\]/,
    ],
    [
      "an unknown dtype",
      () =>
        rawFile({ a: { dtype: "F128", shape: [1], data_offsets: [0, 16] } }, new Uint8Array(16)),
      /tensor 'a': unknown dtype "F128" \(known: BOOL, U8/,
    ],
    [
      "overlapping tensors",
      () =>
        rawFile(
          {
            a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
            b: { dtype: "F32", shape: [2], data_offsets: [4, 12] },
          },
          new Uint8Array(12),
        ),
      /tensors 'a' and 'b' overlap/,
    ],
    [
      "a bad shape",
      () => rawFile({ a: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, f32(1)),
      /shape is not a list of non-negative integers/,
    ],
    ["header not JSON", () => rawFile("{not json", new Uint8Array(0)), /header is not valid JSON/],
    ["header an array", () => rawFile("[1,2]"), /header is not a JSON object/],
    [
      "bad __metadata__",
      () => rawFile({ __metadata__: { k: 1 } }),
      /__metadata__ 'k' is not a string/,
    ],
    [
      "a header over 100 MB",
      () => {
        // a sparse file: the header length is not a lie, the limit alone refuses it, before allocating
        const p = rawFile("{}", new Uint8Array(0), BigInt(MAX_HEADER_BYTES + 1));
        truncateSync(p, MAX_HEADER_BYTES + 64);
        return p;
      },
      /header claims 100000001 bytes, over the 100000000-byte limit/,
    ],
    [
      "a missing file",
      () => join(dir, "nope.safetensors"),
      /cannot read: no such file or directory/,
    ],
  ];

  for (const [what, make, message] of cases)
    it(`${what}`, async () => {
      const path = make();
      expect(() => openSafetensors(path)).toThrow(SafetensorsError);
      expect(() => openSafetensors(path)).toThrow(message);
      const out = join(dir, `out-${fileNo++}`);
      let err = "";
      const code = await main(["quantize-model", path, "--scheme", "nvfp4", "--out", out], {
        stdout: () => {},
        stderr: (t) => void (err += t),
      });
      expect(code).toBe(1);
      expect(err).toMatch(message);
      expect(err.trimEnd().split("\n")).toHaveLength(1);
      expect(existsSync(out)).toBe(false);
    });
});

import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { UserError } from "../cli/errors.js";
import {
  encodeNpy,
  NpyError,
  npyToTensor,
  parseNpy,
  parsePyLiteral,
  readNpy,
  writeNpy,
  type NpyArray,
} from "../cli/npy.js";

const dir = mkdtempSync(join(tmpdir(), "qkc-npy-"));
const bytesOf = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

/** A .npy file built by hand: any version, any header text, any data. */
function npyFile(
  version: number,
  header: string,
  data: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const pre = version === 1 ? 10 : 12;
  const text = Buffer.from(header, version === 3 ? "utf8" : "latin1");
  const out = new Uint8Array(pre + text.length + data.length);
  out.set(bytesOf("\x93NUMPY"));
  out[6] = version;
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, text.length, true);
  else view.setUint32(8, text.length, true);
  out.set(text, pre);
  out.set(data, pre + text.length);
  return out;
}

const header = (descr: string, shape: string, fortran = "False") =>
  `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': ${shape}, }\n`;

const samples: NpyArray[] = [
  { dtype: "f32", shape: [2, 3], data: Float32Array.from([1.5, -0, NaN, Infinity, -3e38, 1e-45]) },
  { dtype: "f16", shape: [4], data: Uint16Array.from([0x3c00, 0x8000, 0x7e00, 0xfbff]) },
  { dtype: "u8", shape: [3, 1, 2], data: Uint8Array.from([0, 1, 127, 128, 254, 255]) },
  { dtype: "u16", shape: [2, 2], data: Uint16Array.from([0, 1, 0x8000, 0xffff]) },
  { dtype: "u32", shape: [3], data: Uint32Array.from([0, 0x7fc00000, 0xffffffff]) },
  { dtype: "f32", shape: [], data: Float32Array.from([42]) },
  { dtype: "u8", shape: [0, 5], data: new Uint8Array(0) },
];

/** Bit patterns, so that NaN and -0 compare exactly. */
const bits = (a: NpyArray) =>
  Array.from(new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength));

describe("npy round trips", () => {
  for (const a of samples) {
    it(`${a.dtype} shape [${a.shape}] through bytes and through a file`, async () => {
      const back = parseNpy(encodeNpy(a), "mem.npy");
      expect(back.dtype).toBe(a.dtype);
      expect(back.shape).toEqual(a.shape);
      expect(back.data.constructor).toBe(a.data.constructor);
      expect(bits(back)).toEqual(bits(a));

      const path = join(dir, `rt-${a.dtype}-${a.shape.join("x")}.npy`);
      await writeNpy(path, a);
      const file = await readNpy(path);
      expect(bits(file)).toEqual(bits(a));
      expect(file.shape).toEqual(a.shape);
    });
  }

  it("writes exactly what numpy.save writes (version 1.0, data at a multiple of 64)", () => {
    // bytes of np.save(f, np.arange(3, dtype='<u2')) from numpy 2.4
    const golden = bytesOf(
      "\x93NUMPY\x01\x00v\x00{'descr': '<u2', 'fortran_order': False, 'shape': (3,), }" +
        " ".repeat(60) +
        "\n\x00\x00\x01\x00\x02\x00",
    );
    const ours = encodeNpy({ dtype: "u16", shape: [3], data: Uint16Array.from([0, 1, 2]) });
    expect(Array.from(ours)).toEqual(Array.from(golden));
  });

  it("switches to version 2.0 when the header outgrows 64 KiB, and reads it back", () => {
    const shape = new Array(30000).fill(1);
    const bytes = encodeNpy({ dtype: "u8", shape, data: Uint8Array.from([9]) });
    expect(bytes[6]).toBe(2);
    const headerLen = new DataView(bytes.buffer).getUint32(8, true);
    expect((12 + headerLen) % 64).toBe(0);
    const back = parseNpy(bytes, "big.npy");
    expect(back.shape).toEqual(shape);
    expect(Array.from(back.data)).toEqual([9]);
  });

  it("reads version 2.0 and 3.0 (utf-8) headers and Python 2 style long integers", () => {
    const data = new Uint8Array(Float32Array.from([1, 2, 3, 4, 5, 6]).buffer);
    for (const v of [1, 2, 3]) {
      const a = parseNpy(npyFile(v, header("<f4", "(2L, 3L)"), data), `v${v}.npy`);
      expect(a.shape).toEqual([2, 3]);
      expect(Array.from(a.data)).toEqual([1, 2, 3, 4, 5, 6]);
    }
  });

  it("reads data at an offset that is not a multiple of 4", () => {
    const data = new Uint8Array(Float32Array.from([7.25]).buffer);
    const a = parseNpy(
      npyFile(1, "{'descr':'<f4','fortran_order':False,'shape':(1,)}\n", data),
      "odd.npy",
    );
    expect(Array.from(a.data)).toEqual([7.25]);
  });

  it("turns float32 and float16 into tensors and refuses code arrays", () => {
    expect(npyToTensor(samples[0], "a.npy")).toMatchObject({ dtype: "f32", shape: [2, 3] });
    expect(npyToTensor(samples[1], "b.npy")).toMatchObject({ dtype: "f16", shape: [4] });
    expect(() => npyToTensor(samples[2], "c.npy")).toThrow(
      /^c\.npy: dtype '\|u1' holds integer codes, not values to quantize; save the tensor as float32/,
    );
  });
});

describe("npy errors", () => {
  const f4 = new Uint8Array(24);
  const cases: [string, Uint8Array, RegExp][] = [
    ["empty file", new Uint8Array(0), /file is empty/],
    [
      "bad magic",
      bytesOf("PK\x03\x04 not numpy at all"),
      /not a NumPy \.npy file \(bad magic bytes\)/,
    ],
    ["truncated preamble", bytesOf("\x93NUMP"), /file is truncated/],
    [
      "truncated header",
      npyFile(1, header("<f4", "(2, 3)")).subarray(0, 40),
      /truncated inside the header/,
    ],
    [
      "truncated data",
      npyFile(1, header("<f4", "(2, 3)"), f4.subarray(0, 20)),
      /file is truncated: shape \(2, 3\) of '<f4' needs 24 bytes of data, the file holds 20/,
    ],
    [
      "extra data",
      npyFile(1, header("<f4", "(2, 3)"), new Uint8Array(28)),
      /header\/data size mismatch: .* needs 24 bytes of data, the file holds 28/,
    ],
    [
      "float64",
      npyFile(1, header("<f8", "(3,)"), f4),
      /dtype '<f8' is not supported; save as float32 \(np\.float32\) or float16/,
    ],
    [
      "big-endian",
      npyFile(1, header(">f4", "(2, 3)"), f4),
      /dtype '>f4' is big-endian.*save x\.astype\('<f4'\)/,
    ],
    [
      "Fortran order",
      npyFile(1, header("<f4", "(2, 3)", "True"), f4),
      /Fortran-order arrays are not supported; save np\.ascontiguousarray\(x\)/,
    ],
    ["object array", npyFile(1, header("|O", "(3,)"), f4), /object arrays are not supported/],
    [
      "structured dtype",
      npyFile(
        1,
        "{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, 'shape': (3,), }\n",
        f4,
      ),
      /structured dtypes are not supported/,
    ],
    ["int32", npyFile(1, header("<i4", "(6,)"), f4), /dtype '<i4' is not supported/],
    [
      "version 4.0",
      Uint8Array.from([...bytesOf("\x93NUMPY\x04\x00"), 0, 0]),
      /format version 4\.0 is not supported \(qkc reads 1\.0, 2\.0 and 3\.0\)/,
    ],
    [
      "garbage header",
      npyFile(1, "{'descr': '<f4', 'shape': (2, 3)\n", f4),
      /malformed \.npy header/,
    ],
    [
      "missing key",
      npyFile(1, "{'descr': '<f4', 'shape': (2, 3), }\n", f4),
      /needs the keys descr, fortran_order and shape/,
    ],
    [
      "negative dimension",
      npyFile(1, header("<f4", "(-2, 3)"), f4),
      /shape is not a tuple of non-negative integers/,
    ],
  ];
  for (const [what, bytes, message] of cases) {
    it(what, () => {
      let err: unknown;
      try {
        parseNpy(bytes, "x.npy");
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(NpyError);
      const msg = (err as Error).message;
      expect(msg.startsWith("x.npy: ")).toBe(true);
      expect(msg).toMatch(message);
      expect(msg).not.toContain("\n");
    });
  }

  it("names a missing file", async () => {
    await expect(readNpy(join(dir, "missing.npy"))).rejects.toThrow(
      /missing\.npy: cannot read: no such file or directory$/,
    );
  });

  it("reads a file written by hand with the same checks", async () => {
    const path = join(dir, "trunc.npy");
    writeFileSync(path, npyFile(1, header("<f2", "(4,)"), new Uint8Array(6)));
    await expect(readNpy(path)).rejects.toThrow(`${path}: file is truncated`);
  });
});

describe("npy writes are atomic", () => {
  it("replaces an existing file and leaves no temporary file", async () => {
    const path = join(dir, "atomic.npy");
    writeFileSync(path, "old contents");
    await writeNpy(path, samples[0]);
    expect(bits(parseNpy(readFileSync(path), path))).toEqual(bits(samples[0]));
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("fails with one line when the folder does not exist, writing nothing", async () => {
    const path = join(dir, "no-such-folder", "y.npy");
    const err = await writeNpy(path, samples[0]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toBe(
      `${path}: cannot write: no such file or directory; check that the folder exists and is writable`,
    );
  });
});

describe("npy header literals", () => {
  it("parses dicts, tuples, lists, strings, booleans and None", () => {
    expect(
      parsePyLiteral(`{"a": (1,), 'b': [True, False, None], 'c': (), 'd': 'x\\'y', }`),
    ).toEqual({
      a: [1],
      b: [true, false, null],
      c: [],
      d: "x'y",
    });
  });

  it("rejects trailing text and unterminated input", () => {
    expect(() => parsePyLiteral("{'a': 1} x")).toThrow(/trailing text/);
    expect(() => parsePyLiteral("{'a': (1, 2")).toThrow();
    expect(() => parsePyLiteral("'abc")).toThrow(/unterminated string/);
  });
});

/**
 * NumPy .npy files: read format 1.0, 2.0 and 3.0, write 1.0 (2.0 when the header
 * needs it). Little-endian, C order, and only the dtypes qkc exchanges.
 * https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
 */
import { readFile } from "node:fs/promises";
import type { Tensor } from "../ir/tensor.js";
import { writeFileAtomic } from "./atomic.js";
import { fsReason, UserError } from "./errors.js";

export type NpyDType = "f32" | "f16" | "u8" | "u16" | "u32";

type Shape = readonly number[];
export type NpyArray =
  | { readonly dtype: "f32"; readonly shape: Shape; readonly data: Float32Array }
  | { readonly dtype: "f16" | "u16"; readonly shape: Shape; readonly data: Uint16Array }
  | { readonly dtype: "u8"; readonly shape: Shape; readonly data: Uint8Array }
  | { readonly dtype: "u32"; readonly shape: Shape; readonly data: Uint32Array };

export class NpyError extends UserError {
  override name = "NpyError";
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
const DESCR: Record<NpyDType, string> = {
  f32: "<f4",
  f16: "<f2",
  u8: "|u1",
  u16: "<u2",
  u32: "<u4",
};
const ITEM_SIZE: Record<NpyDType, number> = { f32: 4, f16: 2, u8: 1, u16: 2, u32: 4 };
const FROM_DESCR: Record<string, NpyDType> = {
  "<f4": "f32",
  "<f2": "f16",
  "|u1": "u8",
  "<u1": "u8",
  ">u1": "u8",
  "<u2": "u16",
  "<u4": "u32",
};
const TO_FIX = "re-save it with numpy.save";

// ---------------------------------------------------------------------------
// reading

export async function readNpy(path: string): Promise<NpyArray> {
  return parseNpy(await readBytes(path), path);
}

/** The bytes of a file, with a one-line NpyError when it cannot be read. */
export async function readBytes(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (e) {
    throw new NpyError(`${path}: cannot read: ${fsReason(e)}`);
  }
}

/** Parses the bytes of a .npy file; `name` is the file name used in errors. */
export function parseNpy(bytes: Uint8Array, name: string): NpyArray {
  const fail = (msg: string): never => {
    throw new NpyError(`${name}: ${msg}`);
  };
  if (bytes.length === 0) fail(`file is empty; ${TO_FIX}`);
  if (!MAGIC.every((b, k) => k >= bytes.length || bytes[k] === b))
    fail(`not a NumPy .npy file (bad magic bytes); save the array with numpy.save`);
  if (bytes.length < 10)
    fail(`file is truncated (${bytes.length} bytes, shorter than a .npy preamble); ${TO_FIX}`);
  const [major, minor] = [bytes[6], bytes[7]];
  if (major < 1 || major > 3 || minor !== 0)
    fail(
      `.npy format version ${major}.${minor} is not supported (qkc reads 1.0, 2.0 and 3.0); ${TO_FIX}`,
    );

  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lenBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lenBytes) fail(`file is truncated inside the header; ${TO_FIX}`);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = 8 + lenBytes + headerLen;
  if (bytes.length < start) fail(`file is truncated inside the header; ${TO_FIX}`);
  const text = Buffer.from(bytes.buffer, bytes.byteOffset + 8 + lenBytes, headerLen).toString(
    major === 3 ? "utf8" : "latin1",
  );
  const { dtype, shape, descr } = readHeader(text, fail);

  const expected = shape.reduce((a, b) => a * b, 1) * ITEM_SIZE[dtype];
  const found = bytes.length - start;
  const what = `shape (${shape.join(", ")}) of '${descr}' needs ${expected} bytes of data, the file holds ${found}`;
  if (found < expected) fail(`file is truncated: ${what}; ${TO_FIX}`);
  if (found > expected) fail(`header/data size mismatch: ${what}; ${TO_FIX}`);

  // Copy into a fresh buffer: the data offset need not be aligned for the typed array.
  const raw = new Uint8Array(expected);
  raw.set(bytes.subarray(start, start + expected));
  return fromBuffer(dtype, shape, raw.buffer);
}

function fromBuffer(dtype: NpyDType, shape: Shape, buf: ArrayBuffer): NpyArray {
  switch (dtype) {
    case "f32":
      return { dtype, shape, data: new Float32Array(buf) };
    case "f16":
    case "u16":
      return { dtype, shape, data: new Uint16Array(buf) };
    case "u8":
      return { dtype, shape, data: new Uint8Array(buf) };
    case "u32":
      return { dtype, shape, data: new Uint32Array(buf) };
  }
}

function readHeader(text: string, fail: (msg: string) => never) {
  let header: Py;
  try {
    header = parsePyLiteral(text);
  } catch (e) {
    return fail(`malformed .npy header (${(e as Error).message}); ${TO_FIX}`);
  }
  if (
    !isDict(header) ||
    !("descr" in header) ||
    !("fortran_order" in header) ||
    !("shape" in header)
  )
    return fail(
      `malformed .npy header: it needs the keys descr, fortran_order and shape; ${TO_FIX}`,
    );
  const { descr, fortran_order: fortran, shape } = header;
  if (Array.isArray(descr))
    return fail(
      `structured dtypes are not supported; save one plain numeric array (e.g. x['field'])`,
    );
  if (typeof descr !== "string")
    return fail(`malformed .npy header: descr is not a string; ${TO_FIX}`);
  const dtype = FROM_DESCR[descr];
  if (!dtype) return fail(unsupportedDtype(descr));
  if (fortran === true)
    return fail(`Fortran-order arrays are not supported; save np.ascontiguousarray(x) instead`);
  if (fortran !== false)
    return fail(`malformed .npy header: fortran_order is not True or False; ${TO_FIX}`);
  if (
    !Array.isArray(shape) ||
    !shape.every((d) => typeof d === "number" && Number.isSafeInteger(d) && d >= 0)
  )
    return fail(`malformed .npy header: shape is not a tuple of non-negative integers; ${TO_FIX}`);
  return { dtype, descr, shape: shape as number[] };
}

function unsupportedDtype(descr: string): string {
  if (/^[|<>=]?O/.test(descr))
    return `object arrays are not supported; save a numeric array (x.astype(np.float32))`;
  if (descr.startsWith(">"))
    return `dtype '${descr}' is big-endian, qkc reads little-endian only; save x.astype('<${descr.slice(1)}')`;
  return `dtype '${descr}' is not supported; save as float32 (np.float32) or float16 (qkc also reads uint8, uint16 and uint32 codes)`;
}

// ---------------------------------------------------------------------------
// the header: a Python literal (dict of strings, booleans, tuples of ints)

type Py = string | number | boolean | null | Py[] | { [key: string]: Py };

const isDict = (v: Py): v is { [key: string]: Py } =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Parses the subset of Python literal syntax that .npy headers use. */
export function parsePyLiteral(text: string): Py {
  let i = 0;
  const fail = (what: string): never => {
    throw new Error(`${what} at character ${i}`);
  };
  const skip = () => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  const items = <T>(close: string, item: () => T): T[] => {
    const out: T[] = [];
    i++; // the opening bracket
    for (skip(); text[i] !== close; skip()) {
      if (i >= text.length) fail(`missing '${close}'`);
      out.push(item());
      skip();
      if (text[i] === ",") i++;
      else if (text[i] !== close) fail(`expected ',' or '${close}'`);
    }
    i++;
    return out;
  };
  const value = (): Py => {
    skip();
    const c = text[i];
    if (c === "{") {
      const pairs = items("}", () => {
        const key = value();
        if (typeof key !== "string") fail("dict keys must be strings");
        skip();
        if (text[i++] !== ":") fail("expected ':'");
        return [key as string, value()] as const;
      });
      return Object.fromEntries(pairs);
    }
    if (c === "(") return items(")", value);
    if (c === "[") return items("]", value);
    if (c === "'" || c === '"') {
      let s = "";
      for (i++; text[i] !== c; i++) {
        if (i >= text.length) fail("unterminated string");
        if (text[i] === "\\") i++;
        s += text[i];
      }
      i++;
      return s;
    }
    const m = /^(?:(-?\d+)L?|True|False|None)/.exec(text.slice(i, i + 32));
    if (!m) return fail("unexpected text");
    i += m[0].length;
    return m[1] !== undefined
      ? Number(m[1])
      : m[0] === "True"
        ? true
        : m[0] === "False"
          ? false
          : null;
  };
  const v = value();
  skip();
  if (i < text.length) fail("trailing text");
  return v;
}

// ---------------------------------------------------------------------------
// writing

/** The bytes of a .npy file holding `a`. */
export function encodeNpy(a: NpyArray): Uint8Array {
  const count = a.shape.reduce((x, y) => x * y, 1);
  if (count !== a.data.length)
    throw new Error(`encodeNpy: shape [${a.shape}] does not hold ${a.data.length} values`);
  const shape = a.shape.length === 1 ? `(${a.shape[0]},)` : `(${a.shape.join(", ")})`;
  const dict = `{'descr': '${DESCR[a.dtype]}', 'fortran_order': False, 'shape': ${shape}, }`;
  // Pad with spaces and a newline so that the data starts at a multiple of 64 bytes.
  const padded = (pre: number) =>
    dict.padEnd(Math.ceil((pre + dict.length + 1) / 64) * 64 - pre - 1) + "\n";
  const version = padded(10).length <= 0xffff ? 1 : 2;
  const pre = version === 1 ? 10 : 12;
  const header = padded(pre);

  const out = new Uint8Array(pre + header.length + a.data.byteLength);
  out.set(MAGIC);
  out[6] = version;
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, header.length, true);
  else view.setUint32(8, header.length, true);
  out.set(Buffer.from(header, "latin1"), pre);
  out.set(new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength), pre + header.length);
  return out;
}

/** Writes a .npy file through a temporary file and a rename. */
export async function writeNpy(path: string, a: NpyArray): Promise<void> {
  await writeFileAtomic(path, encodeNpy(a));
}

// ---------------------------------------------------------------------------

/** The interpreter's view of a loaded array: only float32 and float16 hold values to quantize. */
export function npyToTensor(a: NpyArray, name: string): Tensor {
  if (a.dtype === "f32") return a;
  if (a.dtype === "f16") return { dtype: "f16", shape: a.shape, data: a.data };
  throw new NpyError(
    `${name}: dtype '${DESCR[a.dtype]}' holds integer codes, not values to quantize; save the tensor as float32 (x.astype(np.float32)) or float16`,
  );
}

/** An array of codes (unsigned, 8, 16 or 32 bits) as an NpyArray. */
export function codesArray(shape: Shape, codes: Uint8Array | Uint16Array | Uint32Array): NpyArray {
  if (codes instanceof Uint8Array) return { dtype: "u8", shape, data: codes };
  if (codes instanceof Uint16Array) return { dtype: "u16", shape, data: codes };
  return { dtype: "u32", shape, data: codes };
}

/** Reads a float32 or float16 .npy as a Tensor, with the file's bytes (for hashing). */
export async function readTensor(path: string): Promise<{ tensor: Tensor; bytes: Uint8Array }> {
  const bytes = await readBytes(path);
  return { tensor: npyToTensor(parseNpy(bytes, path), path), bytes };
}

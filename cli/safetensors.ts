/**
 * safetensors files, read and written one tensor at a time, so a checkpoint
 * larger than RAM works. https://huggingface.co/docs/safetensors
 *
 * Reading:
 *   const f = openSafetensors("model.safetensors");   // validates the header
 *   f.tensors                                          // [{ name, dtype, shape, byteLength, ... }]
 *   f.readF32("w")                                     // F32/F16/BF16 widened to f32
 *   f.readBytes("w")                                   // raw little-endian bytes, any dtype
 *   f.close();
 *   openCheckpoint("dir/" | "model.safetensors.index.json" | "a.safetensors,b.safetensors")
 *     gives the same calls over every shard of a checkpoint (checkpointFiles lists them).
 *   widenToF32(dtype, bytes) widens bytes already read; isFloat(dtype) says whether it can.
 *
 * Writing (the header comes first, so the tensors are declared up front):
 *   const w = createSafetensors("out.safetensors", [{ name, dtype, shape }, ...], metadata);
 *   w.write("w", bytes); ...                            // in declared order
 *   w.finish();                                         // renames the temp file over the path
 *   (w.abort() removes the temp file; an error in write/finish, Ctrl-C or SIGTERM too)
 *   writeIndex(dir, weightMap, totalSize) writes model.safetensors.index.json.
 *
 * Every problem with a file is a one-line SafetensorsError naming the file.
 */
import { randomBytes } from "node:crypto";
import {
  closeSync,
  fstatSync,
  openSync,
  readFileSync,
  readdirSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { elementCount, toFloat32 } from "../ir/tensor.js";
import { writeFileAtomic } from "./atomic.js";
import { fsReason, UserError } from "./errors.js";

export class SafetensorsError extends UserError {
  override name = "SafetensorsError";
}

/** Bytes per element of each dtype the format defines (sub-byte dtypes are not read). */
export const DTYPE_SIZE = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  F8_E8M0: 1,
  U16: 2,
  I16: 2,
  F16: 2,
  BF16: 2,
  U32: 4,
  I32: 4,
  F32: 4,
  U64: 8,
  I64: 8,
  F64: 8,
} as const;
export type StDType = keyof typeof DTYPE_SIZE;

const isDType = (s: unknown): s is StDType => typeof s === "string" && Object.hasOwn(DTYPE_SIZE, s);

/** The reference implementation refuses larger headers; so does qkc, before allocating one. */
export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorInfo {
  readonly name: string;
  /** the file holding it */
  readonly file: string;
  readonly dtype: StDType;
  readonly shape: readonly number[];
  /** absolute position of the first byte in the file */
  readonly fileOffset: number;
  readonly byteLength: number;
}

export interface TensorSource {
  /** tensors in file order (by offset) */
  readonly tensors: readonly TensorInfo[];
  readonly metadata: Readonly<Record<string, string>>;
  info(name: string): TensorInfo;
  readBytes(name: string): Uint8Array;
  /** F32, F16 or BF16 values as f32 (exact). */
  readF32(name: string): Float32Array;
  close(): void;
}

const REWRITE = "re-export it with safetensors.torch.save_file";

// ---------------------------------------------------------------------------
// reading one file

export function openSafetensors(path: string): TensorSource {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    throw new SafetensorsError(`${path}: cannot read: ${fsReason(e)}`);
  }
  try {
    return new SafetensorsFile(path, fd);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

class SafetensorsFile implements TensorSource {
  readonly tensors: TensorInfo[];
  readonly metadata: Record<string, string>;
  private readonly byName = new Map<string, TensorInfo>();
  private fd: number | undefined;

  constructor(
    private readonly path: string,
    fd: number,
  ) {
    this.fd = fd;
    const size = fstatSync(fd).size;
    const fail = (msg: string): never => {
      throw new SafetensorsError(`${path}: ${msg}`);
    };
    if (size < 8)
      fail(`file is truncated (${size} bytes, shorter than the 8-byte header length); ${REWRITE}`);
    const head = this.pread(0, 8);
    const headerLen = Number(new DataView(head.buffer).getBigUint64(0, true));
    if (headerLen > MAX_HEADER_BYTES)
      fail(
        `header claims ${headerLen} bytes, over the ${MAX_HEADER_BYTES}-byte limit; the file is corrupt or not safetensors`,
      );
    if (8 + headerLen > size)
      fail(
        `file is truncated inside the header (${headerLen} header bytes claimed, ${size - 8} present); ${REWRITE}`,
      );
    const text = new TextDecoder("utf-8", { fatal: false }).decode(this.pread(8, headerLen));
    let header: unknown;
    try {
      header = JSON.parse(text);
    } catch (e) {
      fail(
        `header is not valid JSON (${(e as Error).message}); the file is corrupt or not safetensors`,
      );
    }
    if (typeof header !== "object" || header === null || Array.isArray(header))
      fail(`header is not a JSON object; the file is corrupt or not safetensors`);
    const parsed = parseHeader(header as Record<string, unknown>, path, 8 + headerLen, size, fail);
    this.tensors = parsed.tensors;
    this.metadata = parsed.metadata;
    for (const t of this.tensors) this.byName.set(t.name, t);
  }

  info(name: string): TensorInfo {
    const t = this.byName.get(name);
    if (!t) throw new SafetensorsError(`${this.path}: no tensor named '${name}'`);
    return t;
  }

  readBytes(name: string): Uint8Array {
    const t = this.info(name);
    return this.pread(t.fileOffset, t.byteLength);
  }

  readF32(name: string): Float32Array {
    const t = this.info(name);
    if (!isFloat(t.dtype))
      throw new SafetensorsError(
        `${this.path}: tensor '${name}' is ${t.dtype}; qkc reads F32, F16 and BF16 values (convert it or exclude it)`,
      );
    return widenToF32(t.dtype, this.readBytes(name));
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  /** `length` bytes at `position`, in a fresh (aligned) buffer; reads in chunks under 2 GiB. */
  private pread(position: number, length: number): Uint8Array {
    if (this.fd === undefined) throw new Error(`${this.path}: read after close`);
    const out = new Uint8Array(length);
    for (let done = 0; done < length;) {
      const n = readSync(this.fd, out, done, Math.min(length - done, 1 << 30), position + done);
      if (n === 0)
        throw new SafetensorsError(`${this.path}: file shrank while being read; ${REWRITE}`);
      done += n;
    }
    return out;
  }
}

export const isFloat = (d: StDType): d is "F32" | "F16" | "BF16" =>
  d === "F32" || d === "F16" || d === "BF16";

/** F32, F16 or BF16 bytes (little-endian) as f32 values; f16 and bf16 widen exactly. */
export function widenToF32(dtype: "F32" | "F16" | "BF16", bytes: Uint8Array): Float32Array {
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  if (dtype === "F32")
    return new Float32Array(aligned.buffer, aligned.byteOffset, aligned.length / 4);
  if (dtype === "BF16") {
    // bf16 is the top half of an f32: a shift widens it exactly (and faster than a table)
    const half = new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.length / 2);
    const wide = new Uint32Array(half.length);
    for (let i = 0; i < half.length; i++) wide[i] = half[i] << 16;
    return new Float32Array(wide.buffer);
  }
  return toFloat32({
    dtype: "f16",
    shape: [aligned.length / 2],
    data: new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.length / 2),
  });
}

function parseHeader(
  header: Record<string, unknown>,
  file: string,
  dataStart: number,
  fileSize: number,
  fail: (msg: string) => never,
): { tensors: TensorInfo[]; metadata: Record<string, string> } {
  const dataSize = fileSize - dataStart;
  const metadata: Record<string, string> = {};
  const tensors: TensorInfo[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      if (typeof entry !== "object" || entry === null || Array.isArray(entry))
        fail(`__metadata__ is not an object of strings; ${REWRITE}`);
      for (const [k, v] of Object.entries(entry as object)) {
        if (typeof v !== "string") fail(`__metadata__ '${k}' is not a string; ${REWRITE}`);
        metadata[k] = v as string;
      }
      continue;
    }
    const bad = (what: string): never => fail(`tensor '${name}': ${what}; ${REWRITE}`);
    if (typeof entry !== "object" || entry === null) return bad("entry is not an object");
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    if (!isDType(dtype))
      return bad(
        `unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(DTYPE_SIZE).join(", ")})`,
      );
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      return bad("shape is not a list of non-negative integers");
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[0] > offsets[1]
    )
      return bad("data_offsets is not [begin, end] with 0 <= begin <= end");
    const [begin, end] = offsets as [number, number];
    const need = elementCount(shape as number[]) * DTYPE_SIZE[dtype];
    if (end - begin !== need)
      return bad(
        `data_offsets [${begin}, ${end}] hold ${end - begin} bytes, shape [${shape.join(", ")}] of ${dtype} needs ${need}`,
      );
    if (end > dataSize)
      fail(
        `tensor '${name}': data_offsets end at ${end}, past the ${dataSize} data bytes the file holds (truncated?); ${REWRITE}`,
      );
    tensors.push({
      name,
      file,
      dtype,
      shape: shape as number[],
      fileOffset: dataStart + begin,
      byteLength: need,
    });
  }
  tensors.sort((a, b) => a.fileOffset - b.fileOffset || a.byteLength - b.byteLength);
  for (let k = 1; k < tensors.length; k++) {
    const [prev, cur] = [tensors[k - 1], tensors[k]];
    if (cur.fileOffset < prev.fileOffset + prev.byteLength && cur.byteLength > 0)
      fail(`tensors '${prev.name}' and '${cur.name}' overlap; ${REWRITE}`);
  }
  return { tensors, metadata };
}

// ---------------------------------------------------------------------------
// a checkpoint: one file, several files, or a folder / index of shards

export const INDEX_FILE = "model.safetensors.index.json";

/**
 * Opens `spec`: a .safetensors file, a comma-separated list of them, a
 * `*.index.json`, or a folder holding an index or .safetensors files.
 * Tensor names must be unique across files.
 */
export function openCheckpoint(spec: string): TensorSource {
  return combine(checkpointFiles(spec).map(openSafetensors), spec);
}

/** The shard files named by `spec` (see openCheckpoint), in order. */
export function checkpointFiles(spec: string): string[] {
  const parts = spec.split(",").filter((p) => p !== "");
  if (parts.length > 1) return parts;
  const path = parts[0] ?? spec;
  if (path.endsWith(".json")) return readIndexFiles(path);
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch (e) {
    throw new SafetensorsError(`${path}: cannot read: ${fsReason(e)}`);
  }
  if (!isDir) return [path];
  try {
    if (statSync(join(path, INDEX_FILE)).isFile()) return readIndexFiles(join(path, INDEX_FILE));
  } catch {
    // no index: every .safetensors file in the folder
  }
  const files = readdirNames(path).filter((f) => f.endsWith(".safetensors"));
  if (files.length === 0)
    throw new SafetensorsError(
      `${path}: folder holds no .safetensors files and no ${INDEX_FILE}; name the files`,
    );
  return files.map((f) => join(path, f));
}

/** Sorted, so that model-00001-of-00003 comes first. */
function readdirNames(dir: string): string[] {
  return readdirSync(dir).sort();
}

function readIndexFiles(indexPath: string): string[] {
  let index: unknown;
  try {
    index = JSON.parse(readFileSync(indexPath, "utf8"));
  } catch (e) {
    throw new SafetensorsError(
      `${indexPath}: cannot read the index: ${e instanceof SyntaxError ? e.message : fsReason(e)}`,
    );
  }
  const map = (index as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== "object" || map === null || Array.isArray(map))
    throw new SafetensorsError(
      `${indexPath}: no "weight_map" object; it is not a safetensors index`,
    );
  const files = [...new Set(Object.values(map as object))];
  if (!files.every((f) => typeof f === "string" && basename(f) === f))
    throw new SafetensorsError(
      `${indexPath}: weight_map values must be file names next to the index`,
    );
  return (files as string[]).sort().map((f) => join(dirname(indexPath), f));
}

function combine(files: TensorSource[], spec: string): TensorSource {
  if (files.length === 1) return files[0];
  const owner = new Map<string, TensorSource>();
  for (const f of files)
    for (const t of f.tensors) {
      if (owner.has(t.name)) {
        for (const g of files) g.close();
        throw new SafetensorsError(`${spec}: tensor '${t.name}' appears in two files`);
      }
      owner.set(t.name, f);
    }
  const of = (name: string): TensorSource => {
    const f = owner.get(name);
    if (!f) throw new SafetensorsError(`${spec}: no tensor named '${name}'`);
    return f;
  };
  return {
    tensors: files.flatMap((f) => f.tensors),
    metadata: Object.assign({}, ...files.map((f) => f.metadata)) as Record<string, string>,
    info: (name) => of(name).info(name),
    readBytes: (name) => of(name).readBytes(name),
    readF32: (name) => of(name).readF32(name),
    close: () => files.forEach((f) => f.close()),
  };
}

// ---------------------------------------------------------------------------
// writing

export interface TensorDecl {
  readonly name: string;
  readonly dtype: StDType;
  readonly shape: readonly number[];
}

export interface SafetensorsWriter {
  /** The path being written; the file appears there only on finish(). */
  readonly path: string;
  /** data bytes (not counting the header) */
  readonly dataBytes: number;
  write(name: string, bytes: Uint8Array): void;
  finish(): void;
  abort(): void;
}

/** Temporary files still open, removed if the process is interrupted. */
const openTemps = new Set<string>();
let cleanupInstalled = false;

function installCleanup(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  process.on("exit", () => {
    for (const t of openTemps) rmSync(t, { force: true });
  });
  for (const sig of ["SIGINT", "SIGTERM"] as const)
    process.once(sig, () => {
      for (const t of openTemps) rmSync(t, { force: true });
      process.kill(process.pid, sig);
    });
}

export function createSafetensors(
  path: string,
  decls: readonly TensorDecl[],
  metadata: Readonly<Record<string, string>> = {},
): SafetensorsWriter {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  const sizes = new Map<string, number>();
  for (const d of decls) {
    if (d.name === "__metadata__" || sizes.has(d.name))
      throw new Error(`safetensors writer: tensor name '${d.name}' is reserved or repeated`);
    const n = elementCount(d.shape) * DTYPE_SIZE[d.dtype];
    header[d.name] = { dtype: d.dtype, shape: d.shape, data_offsets: [offset, offset + n] };
    sizes.set(d.name, n);
    offset += n;
  }
  // pad the JSON with spaces so that the data starts 8-byte aligned, as the reference writer does
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const jsonBytes = Buffer.from(json, "utf8");
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(jsonBytes.length));

  const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  let fd: number | undefined;
  const abort = () => {
    if (fd !== undefined) closeSync(fd);
    fd = undefined;
    rmSync(tmp, { force: true });
    openTemps.delete(tmp);
  };
  const guard = <T>(what: string, f: () => T): T => {
    try {
      return f();
    } catch (e) {
      abort();
      throw new SafetensorsError(
        `${path}: cannot ${what}: ${fsReason(e)}; check that the folder exists, is writable and has space`,
      );
    }
  };
  installCleanup();
  guard("create", () => {
    fd = openSync(tmp, "w");
    openTemps.add(tmp);
    writeAll(fd, prefix);
    writeAll(fd, jsonBytes);
  });
  let next = 0;
  return {
    path,
    dataBytes: offset,
    write(name, bytes) {
      const d = decls[next];
      if (fd === undefined || d?.name !== name || bytes.length !== sizes.get(name)) {
        abort();
        throw new Error(
          `safetensors writer: got '${name}' (${bytes.length} bytes), expected '${d?.name}' (${d && sizes.get(d.name)} bytes)`,
        );
      }
      next++;
      guard("write", () => writeAll(fd!, bytes));
    },
    finish() {
      if (next !== decls.length) {
        abort();
        throw new Error(`safetensors writer: finished after ${next} of ${decls.length} tensors`);
      }
      guard("write", () => {
        closeSync(fd!);
        fd = undefined;
        renameSync(tmp, path);
        openTemps.delete(tmp);
      });
    },
    abort,
  };
}

function writeAll(fd: number, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.length;)
    done += writeSync(fd, bytes, done, Math.min(bytes.length - done, 1 << 30));
}

/** Writes `dir/model.safetensors.index.json` mapping each tensor to its shard file name. */
export async function writeIndex(
  dir: string,
  weightMap: Readonly<Record<string, string>>,
  totalSize: number,
): Promise<void> {
  const sorted = Object.fromEntries(Object.entries(weightMap).sort(([a], [b]) => (a < b ? -1 : 1)));
  const index = { metadata: { total_size: totalSize }, weight_map: sorted };
  await writeFileAtomic(join(dir, INDEX_FILE), JSON.stringify(index, null, 2) + "\n");
}

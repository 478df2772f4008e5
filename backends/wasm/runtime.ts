/**
 * Running emitted WebAssembly (backends/wasm/emit.ts) on typed arrays, in Node
 * and in browsers (only the WebAssembly and TextDecoder globals are used).
 *
 * One instance per kernel set, instantiated once with a `WebAssembly.Memory`
 * the runtime owns (imported as `env.memory`). Bytes [0, reservedBytes) are the
 * module's (a zero guard and the constant tables, written by its data segments);
 * each call lays its buffers out after them, 16-byte aligned in param order,
 * grows the memory when they do not fit, copies every buffer in (written-only
 * buffers too, so elements a kernel does not write keep the caller's values, as
 * with the evaluator), calls the export and copies every `write`/`read_write`
 * buffer back into the caller's typed array. One typed array passed for two
 * params is one region (the kernel sees the aliasing, as the evaluator does);
 * partly overlapping views are refused. A trap leaves the caller's copied
 * arrays as they were.
 *
 * Zero copy: `alloc` hands out typed arrays that live in the module's memory
 * (after the tables, before the per-call region); a kernel given such an
 * array reads and writes it in place. Growing a WebAssembly memory detaches
 * the arrays over its old buffer, so `alloc` what a computation needs before
 * handing any of it out; a call that would have to grow the memory while such
 * arrays exist is refused (allocate more up front).
 */
import type { ElemType, Kernel, Param } from "../../ir/kernel.js";
import type { BufferData } from "../../ir/kernel-eval.js";
import type { EmitOptions } from "./emit.js";
import {
  ALIGN,
  MANIFEST_SECTION,
  MAX_PAGES,
  PAGE_BYTES,
  type WasmArtifact,
  type WasmManifest,
} from "./abi.js";
import { loadEmitter } from "./load-emitter.js";
import { ARRAY_NAME as ARRAY_OF, arrayKind } from "../typed-arrays.js";
import { compileModule } from "./compile-module.js";

type Exported = (...args: number[]) => void;

/** bytes kept readable after the last buffer: vector loads read whole 16-byte windows */
const SLACK = 16;

/** A kernel's name and parameters: all the runtime needs of a Kernel. */
export interface KernelSignature {
  readonly name: string;
  readonly params: readonly Param[];
}

/** An emitted module: its bytes, or emitWasm's artifact (at least `binary`; `reservedBytes` matters only for a module without a manifest). */
export type WasmSource =
  Uint8Array | ArrayBuffer | (Partial<WasmArtifact> & { readonly binary: Uint8Array });

function readManifest(module: WebAssembly.Module): WasmManifest | undefined {
  const [section] = WebAssembly.Module.customSections(module, MANIFEST_SECTION);
  if (!section) return undefined;
  const m = JSON.parse(new TextDecoder().decode(section)) as WasmManifest;
  if (m.format !== "qkc-wasm" || m.version !== 1)
    throw new Error(`this qkc cannot run a wasm module of format ${m.format} version ${m.version}`);
  return m;
}

export class WasmKernels {
  private readonly signatures: Map<string, readonly Param[]>;
  /** end of the `alloc` region; per-call buffers go after it */
  private heapEnd: number;

  private constructor(
    /** where buffers start: bytes below are the module's guard and tables */
    readonly reservedBytes: number,
    readonly memory: WebAssembly.Memory,
    private readonly exports: Record<string, Exported>,
    signatures: readonly KernelSignature[],
  ) {
    this.signatures = new Map(signatures.map((k) => [k.name, k.params])); // later entries win
    this.heapEnd = reservedBytes;
  }

  /**
   * A zero-filled typed array of `length` elements of `elem` inside the wasm
   * memory: kernels use it in place. May grow the memory, which detaches arrays
   * allocated before (see the file comment).
   */
  alloc(elem: ElemType, length: number): BufferData {
    const bytes = length * ({ f32: 4, u32: 4, u16: 2, u8: 1, i8: 1 } as const)[elem];
    const offset = this.heapEnd;
    const end = Math.ceil((offset + bytes) / ALIGN) * ALIGN;
    this.ensure(end + SLACK, `alloc(${elem}, ${length})`, "allocate fewer elements");
    this.heapEnd = end;
    const View = {
      f32: Float32Array,
      u32: Uint32Array,
      u16: Uint16Array,
      u8: Uint8Array,
      i8: Int8Array,
    }[elem];
    const a = new View(this.memory.buffer, offset, length);
    a.fill(0);
    return a;
  }

  /** Grows the memory now so that `alloc` of `bytes` more (16-byte aligned each) will not grow it. */
  reserve(bytes: number): void {
    this.ensure(this.heapEnd + bytes + SLACK, `reserve(${bytes})`, "reserve fewer bytes");
  }

  /** Forgets every `alloc` array (their memory is reused by later calls and allocations). */
  releaseAll(): void {
    this.heapEnd = this.reservedBytes;
  }

  /** Is `a` an array over this instance's memory (from `alloc`, or a view of `memory.buffer`)? */
  resident(a: BufferData): boolean {
    return a.buffer === this.memory.buffer;
  }

  /** Grows the memory to `end` bytes, or refuses in one line: `what` needs them, `fix` says what to do. */
  private ensure(end: number, what: string, fix: string): void {
    const pages = Math.ceil(end / PAGE_BYTES) - this.memory.buffer.byteLength / PAGE_BYTES;
    if (pages <= 0) return;
    try {
      this.memory.grow(pages);
    } catch (e) {
      throw new Error(
        `${what}: needs ${end} bytes of wasm memory, more than it can grow to (a wasm32 memory holds at most 4 GiB); ${fix} (${(e as Error).message})`,
      );
    }
  }

  /** Emits `kernels` and loads them (binaryen is imported on first use, so runtime-only users never load it). */
  static async compile(
    kernels: readonly Kernel[],
    options: EmitOptions = {},
  ): Promise<WasmKernels> {
    const { emitWasm } = await loadEmitter();
    return WasmKernels.load(emitWasm(kernels, options), kernels);
  }

  /**
   * Instantiates an emitted module. The kernels' signatures and the reserved
   * region come from the module's `qkc.manifest` section; `kernels` (or the
   * artifact's `reservedBytes`) stand in for a module whose custom sections were
   * stripped. `kernels` given with a manifest must match it.
   */
  static async load(
    source: WasmSource,
    kernels?: readonly KernelSignature[],
  ): Promise<WasmKernels> {
    const bytes =
      source instanceof Uint8Array
        ? source
        : source instanceof ArrayBuffer
          ? new Uint8Array(source)
          : source.binary;
    const module = await compileModule(bytes);
    const manifest = readManifest(module);
    const reservedBytes =
      manifest?.reservedBytes ??
      (source instanceof Uint8Array || source instanceof ArrayBuffer
        ? undefined
        : source.reservedBytes);
    if (reservedBytes === undefined)
      throw new Error(
        `the wasm module has no ${MANIFEST_SECTION} section; pass the emitter's artifact (with reservedBytes)`,
      );
    const signatures = [...(manifest?.kernels ?? []), ...(kernels ?? [])];
    if (kernels && manifest)
      for (const k of kernels) {
        const m = manifest.kernels.find((x) => x.name === k.name);
        if (m && JSON.stringify(m.params) !== JSON.stringify(k.params))
          throw new Error(
            `kernel ${k.name}: its parameters differ from those the wasm module was built with`,
          );
      }
    const memory = new WebAssembly.Memory({
      initial: reservedBytes / PAGE_BYTES,
      maximum: MAX_PAGES,
    });
    const instance = await WebAssembly.instantiate(module, { env: { memory } });
    return new WasmKernels(
      reservedBytes,
      memory,
      instance.exports as unknown as Record<string, Exported>,
      signatures,
    );
  }

  /** The kernels this instance can run by name. */
  get kernels(): string[] {
    return [...this.signatures.keys()];
  }

  /** Runs kernel `name` on named typed arrays; written buffers come back in place. */
  run(
    name: string,
    buffers: Record<string, BufferData>,
    scalars: Record<string, number> = {},
  ): void {
    const params = this.signatures.get(name);
    if (!params)
      throw new Error(
        `the wasm module has no kernel ${name}; it has ${this.kernels.join(", ") || "none"}`,
      );
    this.call(name, params, buffers, scalars);
  }

  /** `run` for a Kernel (backends/host.ts's Execute). */
  execute = (
    kernel: KernelSignature,
    buffers: Record<string, BufferData>,
    scalars: Record<string, number>,
  ): void => {
    this.call(kernel.name, this.signatures.get(kernel.name) ?? kernel.params, buffers, scalars);
  };

  private call(
    name: string,
    params: readonly Param[],
    buffers: Record<string, BufferData>,
    scalars: Record<string, number>,
  ): void {
    const fn = this.exports[name];
    if (typeof fn !== "function") throw new Error(`the wasm module has no kernel ${name}`);
    const regions = new Map<BufferData, { offset: number; write: boolean; copy: boolean }>();
    const args: number[] = [];
    let end = this.heapEnd;
    for (const p of params) {
      if (p.kind === "scalar") {
        const v = scalars[p.name];
        if (typeof v !== "number")
          throw new Error(`kernel ${name}: scalar ${p.name} (${p.type}) is not given`);
        args.push(v);
        continue;
      }
      const data = buffers[p.name];
      if (data === undefined) throw new Error(`kernel ${name}: buffer ${p.name} is not given`);
      if (arrayKind(data) !== ARRAY_OF[p.elem])
        throw new Error(
          `kernel ${name}: buffer ${p.name} holds ${p.elem}; pass a ${ARRAY_OF[p.elem]}, not a ${arrayKind(data)}`,
        );
      const write = p.access !== "read";
      let region = regions.get(data);
      if (!region) {
        for (const other of regions.keys())
          if (
            other.buffer === data.buffer &&
            other.byteOffset < data.byteOffset + data.byteLength &&
            data.byteOffset < other.byteOffset + other.byteLength
          )
            throw new Error(
              `kernel ${name}: buffer ${p.name} partly overlaps another buffer argument; pass the same array or separate ones`,
            );
        if (this.resident(data)) {
          region = { offset: data.byteOffset, write, copy: false };
        } else {
          region = { offset: end, write, copy: true };
          end = Math.ceil((end + data.byteLength) / ALIGN) * ALIGN;
        }
        regions.set(data, region);
      }
      region.write ||= write;
      args.push(region.offset);
    }
    if (end + SLACK > this.memory.buffer.byteLength && this.heapEnd > this.reservedBytes)
      throw new Error(
        `kernel ${name}: its copied buffers need more wasm memory, and growing it would detach the arrays from alloc(); allocate every buffer with alloc() or alloc more memory first`,
      );
    this.ensure(end + SLACK, `kernel ${name}`, "pass fewer rows a call");
    const memory = new Uint8Array(this.memory.buffer);
    const bytes = (a: BufferData) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    for (const [data, { offset, copy }] of regions) if (copy) memory.set(bytes(data), offset);
    try {
      fn(...args);
    } catch (e) {
      if (e instanceof WebAssembly.RuntimeError)
        throw new Error(`kernel ${name} trapped: ${e.message}`, { cause: e });
      throw e;
    }
    for (const [data, { offset, write, copy }] of regions)
      if (write && copy) bytes(data).set(memory.subarray(offset, offset + data.byteLength));
  }
}

/**
 * Running emitted WebAssembly: one instance per kernel set, linear memory laid
 * out per call (constant tables first, then each buffer 16-byte aligned), inputs
 * copied in, written buffers copied back. Works in Node and browsers; `execute`
 * has the signature backends/host.ts expects.
 */
import type { Kernel } from "../../ir/kernel.js";
import type { BufferData } from "../../ir/kernel-eval.js";
import { emitWasm, type WasmArtifact } from "./emit.js";

type Exported = (...args: number[]) => void;

export class WasmKernels {
  private constructor(
    readonly artifact: WasmArtifact,
    private readonly memory: WebAssembly.Memory,
    private readonly exports: Record<string, Exported>,
  ) {}

  static async compile(kernels: readonly Kernel[]): Promise<WasmKernels> {
    return WasmKernels.load(emitWasm(kernels));
  }

  static async load(artifact: WasmArtifact): Promise<WasmKernels> {
    const memory = new WebAssembly.Memory({
      initial: artifact.reservedBytes / 65536,
      maximum: 65536,
    });
    const module = await WebAssembly.compile(new Uint8Array(artifact.binary));
    const instance = await WebAssembly.instantiate(module, { env: { memory } });
    return new WasmKernels(
      artifact,
      memory,
      instance.exports as unknown as Record<string, Exported>,
    );
  }

  /** Runs one kernel on named typed arrays (copied in and, when written, copied back). */
  execute = (
    kernel: Kernel,
    buffers: Record<string, BufferData>,
    scalars: Record<string, number>,
  ): void => {
    const fn = this.exports[kernel.name];
    if (!fn) throw new Error(`wasm module has no kernel ${kernel.name}`);
    let at = this.artifact.reservedBytes;
    const placed: { offset: number; data: BufferData; write: boolean }[] = [];
    const args: number[] = [];
    for (const p of kernel.params) {
      if (p.kind === "scalar") {
        const v = scalars[p.name];
        if (v === undefined) throw new Error(`kernel ${kernel.name}: scalar ${p.name} not given`);
        args.push(v);
        continue;
      }
      const data = buffers[p.name];
      if (!data) throw new Error(`kernel ${kernel.name}: buffer ${p.name} not given`);
      placed.push({ offset: at, data, write: p.access !== "read" });
      args.push(at);
      at += Math.ceil(data.byteLength / 16) * 16 + 16;
    }
    const need = Math.ceil(at / 65536) - this.memory.buffer.byteLength / 65536;
    if (need > 0) this.memory.grow(need);
    const bytes = new Uint8Array(this.memory.buffer);
    for (const b of placed)
      bytes.set(new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength), b.offset);
    fn(...args);
    for (const b of placed)
      if (b.write)
        new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength).set(
          bytes.subarray(b.offset, b.offset + b.data.byteLength),
        );
  };
}

/**
 * Plans whose buffers stay on the GPU between kernels: quantize's codes and
 * scales feed dequantize or GEMV without a readback.
 *
 * A session runs plans through the ordinary host runner (backends/host.ts);
 * the typed arrays it hands out stand for GPU buffers. Every array a kernel
 * writes (outputs and intermediates) lives on the GPU from then on: its host
 * contents are stale until `read(array)` copies them back. Passing such an
 * array to a later plan of the same session binds the GPU buffer as it is.
 * Arrays the caller brings are uploaded at each run (the host copy is theirs).
 *
 * A plan step on the host (the double-quantized offset of NF4-DQ) reads its
 * input back first and uploads its result, so such plans stay right, with
 * that one small transfer.
 */
import { runPlanAsync } from "../host.js";
import type { BufferData } from "../../ir/kernel-eval.js";
import type { Plan } from "../../passes/lower.js";
import type { WgslKernels } from "./runtime.js";
import { COPY_DST, COPY_SRC, MAP_READ, STORAGE } from "./usage.js";

interface Kept {
  readonly gpu: GPUBuffer;
  /** the host copy is newer: uploaded at the next bind */
  hostNewer: boolean;
}

export class WgslResident {
  private readonly kept = new Map<BufferData, Kept>();
  /** arrays some kernel of this session wrote: the GPU holds their contents */
  private readonly onGpu = new WeakSet<BufferData>();

  constructor(private readonly kernels: WgslKernels) {}

  private get device(): GPUDevice {
    return this.kernels.device;
  }

  /** The GPU buffer standing for `data`, created on first use and filled when the host copy is newer. */
  private bind(data: BufferData, written: boolean): GPUBuffer {
    let k = this.kept.get(data);
    if (!k) {
      const gpu = this.device.createBuffer({
        size: Math.max(4, Math.ceil(data.byteLength / 4) * 4),
        usage: STORAGE | COPY_SRC | COPY_DST,
      });
      k = { gpu, hostNewer: true };
      this.kept.set(data, k);
    }
    // written-only buffers too: a kernel may leave elements as they were
    if (k.hostNewer) {
      const bytes = new Uint8Array(k.gpu.size);
      bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      this.device.queue.writeBuffer(k.gpu, 0, bytes);
      k.hostNewer = false;
    }
    if (written) this.onGpu.add(data);
    return k.gpu;
  }

  /**
   * Runs `plan` like runPlanAsync; the outputs come back as arrays that live
   * on the GPU (read them with `read`, or pass them to the next plan).
   */
  async run(
    plan: Plan,
    shape: readonly number[],
    inputs: Record<string, BufferData>,
    seed = 0,
  ): Promise<Record<string, BufferData>> {
    // the caller's own arrays are uploaded again: they may have changed since
    for (const data of Object.values(inputs)) {
      const k = this.kept.get(data);
      if (k && !this.onGpu.has(data)) k.hostNewer = true;
    }
    const steps = plan.steps;
    const named = new Map<string, BufferData>();
    let at = 0;
    const execute = async (
      kernel: Parameters<WgslKernels["execute"]>[0],
      buffers: Record<string, BufferData>,
      scalars: Record<string, number>,
    ) => {
      while ("host" in steps[at]) at++;
      const step = steps[at++] as Extract<Plan["steps"][number], { bind: unknown }>;
      for (const [param, name] of Object.entries(step.bind)) named.set(name, buffers[param]);
      await this.kernels.dispatch(kernel, buffers, scalars, (data, written) =>
        this.bind(data, written),
      );
      // a host step next: it reads on the host what a kernel wrote, and writes what a kernel reads
      const next = steps[at];
      if (next && "host" in next) {
        const from = named.get(next.from);
        if (from) await this.read(from);
        const to = named.get(next.to);
        const k = to && this.kept.get(to);
        if (k && to) {
          k.hostNewer = true;
          this.onGpu.delete(to);
        }
      }
    };
    return runPlanAsync(plan, shape, inputs, execute, seed);
  }

  /** Copies the GPU's contents of `data` into it and returns it. */
  async read<T extends BufferData>(data: T): Promise<T> {
    const k = this.kept.get(data);
    if (!k || k.hostNewer) return data;
    const size = k.gpu.size;
    const staging = this.device.createBuffer({ size, usage: MAP_READ | COPY_DST });
    try {
      const encoder = this.device.createCommandEncoder();
      encoder.copyBufferToBuffer(k.gpu, 0, staging, 0, size);
      this.device.queue.submit([encoder.finish()]);
      await staging.mapAsync(MAP_READ);
      new Uint8Array(data.buffer, data.byteOffset, data.byteLength).set(
        new Uint8Array(staging.getMappedRange(), 0, data.byteLength),
      );
      staging.unmap();
    } finally {
      staging.destroy();
    }
    return data;
  }

  /** Frees the GPU buffer of one array (its host copy keeps whatever was read). */
  release(data: BufferData): void {
    this.kept.get(data)?.gpu.destroy();
    this.kept.delete(data);
    this.onGpu.delete(data);
  }

  /** Frees every GPU buffer of the session (its arrays keep whatever was read). */
  destroy(): void {
    for (const k of this.kept.values()) k.gpu.destroy();
    this.kept.clear();
  }
}

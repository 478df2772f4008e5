/// <reference types="@webgpu/types" />
/**
 * Running emitted WGSL (emit.ts) on a WebGPU device, the same code in a browser
 * (`navigator.gpu`) and in Node (npm `webgpu`, see node.ts). Only the device
 * passed in is used: no globals, so the WebGPU flag constants are spelled here.
 *
 * Pipelines are created once per kernel set. A call uploads every bound typed
 * array (written-only ones too, so elements a kernel does not write keep the
 * caller's values, as with the evaluator), dispatches, and copies every written
 * buffer back into the caller's array. Sub-word arrays travel as their bytes,
 * padded to whole u32 words; the shader reads the same little-endian words.
 */
import type { Kernel } from "../../ir/kernel.js";
import type { BufferData } from "../../ir/kernel-eval.js";
import { emitWgsl, type ShaderRecord, type WgslOptions } from "./emit.js";
import { iterations, STATE_BUFFER, TABLES_BUFFER } from "./legalize.js";
import { WgslResident } from "./resident.js";
import { COPY_DST, COPY_SRC, MAP_READ, STORAGE, UNIFORM } from "./usage.js";

const MAX_GROUPS = 65535;

interface Compiled {
  readonly shader: ShaderRecord;
  readonly pipeline: GPUComputePipeline;
  /** runs first, in one invocation (legalize.ts `state`) */
  readonly prefix?: GPUComputePipeline;
  readonly tables?: GPUBuffer;
}

export class WgslRuntimeError extends Error {
  override name = "WgslRuntimeError";
}

/** The bind group layout the emitter's bindings imply (not "auto": it would drop bindings a kernel never reads). */
function layoutOf(device: GPUDevice, shader: ShaderRecord): GPUBindGroupLayout {
  const COMPUTE = 0x4; // GPUShaderStage.COMPUTE
  const entries: GPUBindGroupLayoutEntry[] = [];
  if (shader.scalars.length)
    entries.push({ binding: 0, visibility: COMPUTE, buffer: { type: "uniform" } });
  shader.buffers.forEach((b, j) =>
    entries.push({
      binding: j + 1,
      visibility: COMPUTE,
      buffer: { type: b.access === "read" ? "read-only-storage" : "storage" },
    }),
  );
  return device.createBindGroupLayout({ label: shader.entryPoint, entries });
}

const words = (bytes: number) => Math.max(4, Math.ceil(bytes / 4) * 4);

export class WgslKernels {
  private constructor(
    readonly device: GPUDevice,
    private readonly compiled: ReadonlyMap<string, Compiled>,
  ) {}

  /**
   * Emits and compiles every kernel; a shader the device rejects is an error
   * naming the kernel and WGSL's message. f16 inputs use the hardware
   * conversion when the device has `shader-f16`, the prefix's maxima use
   * subgroupMax when it has `subgroups`, and f32 arithmetic is printed
   * flush-proof when probeExactness finds that the device flushes subnormals
   * (options.f16, options.subgroups, options.subnormals override).
   */
  static async create(
    device: GPUDevice,
    kernels: readonly Kernel[],
    options: WgslOptions = {},
  ): Promise<WgslKernels> {
    const f16 = options.f16 ?? device.features.has("shader-f16");
    const subgroups = options.subgroups ?? device.features.has("subgroups");
    const subnormals =
      options.subnormals ?? ((await exactnessOf(device)).subnormals ? "hardware" : "exact");
    return WgslKernels.load(
      device,
      kernels.map((k) => emitWgsl(k, { ...options, f16, subgroups, subnormals })),
    );
  }

  /** Compiles shaders emitted earlier (the generated bindings embed them). */
  static async load(device: GPUDevice, shaders: readonly ShaderRecord[]): Promise<WgslKernels> {
    const compiled = new Map<string, Compiled>();
    for (const shader of shaders) {
      const name = shader.name;
      for (const f of shader.features ?? [])
        if (!device.features.has(f))
          throw new WgslRuntimeError(
            `kernel ${name} needs the WebGPU feature ${f}; request it in requestDevice, or compile without it`,
          );
      const bindings = shader.buffers.length;
      if (bindings > device.limits.maxStorageBuffersPerShaderStage)
        throw new WgslRuntimeError(
          `kernel ${name} binds ${bindings} storage buffers; this device allows ${device.limits.maxStorageBuffersPerShaderStage}`,
        );
      device.pushErrorScope("validation");
      const module = device.createShaderModule({ label: name, code: shader.code });
      const info = await module.getCompilationInfo();
      const errors = info.messages.filter((m) => m.type === "error");
      const layout = device.createPipelineLayout({
        bindGroupLayouts: [layoutOf(device, shader)],
      });
      const create = (entryPoint: string) =>
        device
          .createComputePipelineAsync({ label: name, layout, compute: { module, entryPoint } })
          .catch(() => undefined);
      let pipeline: GPUComputePipeline | undefined;
      let prefix: GPUComputePipeline | undefined;
      if (!errors.length) {
        pipeline = await create(shader.entryPoint);
        if (shader.prefixEntryPoint) prefix = await create(shader.prefixEntryPoint);
      }
      const scope = await device.popErrorScope();
      if (errors.length || !pipeline || (shader.prefixEntryPoint && !prefix) || scope) {
        const why = errors.length
          ? errors.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join("; ")
          : (scope?.message ?? "pipeline creation failed");
        throw new WgslRuntimeError(`kernel ${name}: the device rejected its WGSL: ${why}`);
      }
      let tables: GPUBuffer | undefined;
      if (shader.tableWords.length) {
        tables = device.createBuffer({
          label: `${name} tables`,
          size: shader.tableWords.byteLength,
          usage: STORAGE | COPY_DST,
          mappedAtCreation: true,
        });
        new Uint32Array(tables.getMappedRange()).set(shader.tableWords);
        tables.unmap();
      }
      compiled.set(name, { shader, pipeline, prefix, tables });
    }
    return new WgslKernels(device, compiled);
  }

  /** The shader of a kernel, as printed. */
  shader(name: string): ShaderRecord {
    const c = this.compiled.get(name);
    if (!c) throw new WgslRuntimeError(`no kernel named ${name} in this set`);
    return c.shader;
  }

  /** Runs one kernel on typed arrays (an AsyncExecute for backends/host.ts runPlanAsync). */
  readonly execute = (
    kernel: Kernel | string,
    buffers: Record<string, BufferData>,
    scalars: Record<string, number>,
  ): Promise<void> => this.dispatch(kernel, buffers, scalars);

  /**
   * execute, where `resident` may supply a GPU buffer that stands for a
   * typed array (resident.ts): it is bound as it is, neither uploaded nor
   * read back.
   */
  async dispatch(
    kernel: Kernel | string,
    buffers: Record<string, BufferData>,
    scalars: Record<string, number>,
    resident?: (data: BufferData, written: boolean) => GPUBuffer | undefined,
  ): Promise<void> {
    const name = typeof kernel === "string" ? kernel : kernel.name;
    const c = this.compiled.get(name);
    if (!c) throw new WgslRuntimeError(`no kernel named ${name} in this set`);
    const k = c.shader;
    const device = this.device;
    const entries: GPUBindGroupEntry[] = [];
    const temporary: GPUBuffer[] = [];
    const written: { data: BufferData; gpu: GPUBuffer; size: number }[] = [];
    const seen = new Set<BufferData>();
    try {
      if (k.scalars.length) {
        const raw = new ArrayBuffer(Math.ceil((k.scalars.length * 4) / 16) * 16);
        const [i32, u32, f32] = [new Int32Array(raw), new Uint32Array(raw), new Float32Array(raw)];
        k.scalars.forEach((s, j) => {
          const v = scalars[s.name];
          if (v === undefined)
            throw new WgslRuntimeError(`kernel ${name}: scalar ${s.name} not given`);
          (s.type === "i32" ? i32 : s.type === "u32" ? u32 : f32)[j] = v;
        });
        const ub = device.createBuffer({ size: raw.byteLength, usage: UNIFORM | COPY_DST });
        temporary.push(ub);
        device.queue.writeBuffer(ub, 0, raw);
        entries.push({ binding: 0, resource: { buffer: ub } });
      }
      k.buffers.forEach((b, j) => {
        if (b.name === TABLES_BUFFER) {
          entries.push({ binding: j + 1, resource: { buffer: c.tables! } });
          return;
        }
        if (b.name === STATE_BUFFER) {
          const state = device.createBuffer({ size: 4 * (k.stateWords ?? 1), usage: STORAGE });
          temporary.push(state);
          entries.push({ binding: j + 1, resource: { buffer: state } });
          return;
        }
        const data = buffers[b.name];
        if (!data) throw new WgslRuntimeError(`kernel ${name}: buffer ${b.name} not given`);
        if (seen.has(data))
          throw new WgslRuntimeError(
            `kernel ${name}: one array is bound to two buffers; WebGPU cannot bind a written buffer twice`,
          );
        seen.add(data);
        const size = words(data.byteLength);
        if (size > device.limits.maxStorageBufferBindingSize)
          throw new WgslRuntimeError(
            `kernel ${name}: buffer ${b.name} has ${size} bytes; this device binds at most ${device.limits.maxStorageBufferBindingSize} (split the tensor)`,
          );
        const kept = resident?.(data, b.access !== "read");
        if (kept) {
          entries.push({ binding: j + 1, resource: { buffer: kept } });
          return;
        }
        const gpu = device.createBuffer({
          label: `${name} ${b.name}`,
          size,
          usage: STORAGE | COPY_DST | COPY_SRC,
          mappedAtCreation: true,
        });
        temporary.push(gpu);
        new Uint8Array(gpu.getMappedRange()).set(
          new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
        );
        gpu.unmap();
        entries.push({ binding: j + 1, resource: { buffer: gpu } });
        if (b.access !== "read") written.push({ data, gpu, size });
      });
      const count = iterations(k, scalars);
      const groups = Math.ceil(count / (c.shader.workgroupSize * c.shader.perInvocation));
      const x = Math.min(groups, MAX_GROUPS);
      const y = x === 0 ? 0 : Math.ceil(groups / x);
      if (y > MAX_GROUPS)
        throw new WgslRuntimeError(`kernel ${name}: ${count} iterations need too many workgroups`);
      const encoder = device.createCommandEncoder({ label: name });
      if (groups > 0) {
        const pass = encoder.beginComputePass({ label: name });
        pass.setBindGroup(
          0,
          device.createBindGroup({ layout: c.pipeline.getBindGroupLayout(0), entries }),
        );
        if (c.prefix) {
          pass.setPipeline(c.prefix);
          pass.dispatchWorkgroups(1);
        }
        pass.setPipeline(c.pipeline);
        pass.dispatchWorkgroups(x, y);
        pass.end();
      }
      // nothing to read back when every written buffer stays resident: no wait for the GPU either
      const staging = written.length
        ? device.createBuffer({
            size: written.reduce((a, w) => a + w.size, 0),
            usage: MAP_READ | COPY_DST,
          })
        : undefined;
      if (staging) temporary.push(staging);
      let at = 0;
      for (const w of written) {
        encoder.copyBufferToBuffer(w.gpu, 0, staging!, at, w.size);
        at += w.size;
      }
      device.pushErrorScope("validation");
      device.queue.submit([encoder.finish()]);
      const failure = await device.popErrorScope();
      if (failure) throw new WgslRuntimeError(`kernel ${name}: ${failure.message}`);
      if (!staging) return;
      await staging.mapAsync(MAP_READ);
      const bytes = new Uint8Array(staging.getMappedRange());
      at = 0;
      for (const w of written) {
        new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength).set(
          bytes.subarray(at, at + w.data.byteLength),
        );
        at += w.size;
      }
      staging.unmap();
    } finally {
      for (const t of temporary) t.destroy();
    }
  }

  /** A session whose plans keep their buffers on the GPU between kernels (resident.ts). */
  resident(): WgslResident {
    return new WgslResident(this);
  }

  /** Frees the table buffers; the device stays the caller's. */
  destroy(): void {
    for (const c of this.compiled.values()) c.tables?.destroy();
  }
}

/** How exactly an engine does f32 arithmetic: WGSL allows flushing subnormals and 2.5-ulp division. */
export interface Exactness {
  /** subnormal inputs and results survive a multiply */
  readonly subnormals: boolean;
  /** a few hundred divisions are correctly rounded, also by a literal (not turned into a reciprocal multiply) */
  readonly division: boolean;
  /** a * b + c is two roundings (no fused multiply-add) */
  readonly separateRounding: boolean;
}

const PROBE = `@group(0) @binding(0) var<storage, read_write> v: array<f32>;
@compute @workgroup_size(1)
fn probe() {
  v[0] = v[0] * v[1];
  v[2] = v[2] * v[3];
  v[4] = v[4] * v[5] + v[6];
  v[7] = v[7] / 2688.0f;
  for (var i = 8u; i < arrayLength(&v); i += 2u) {
    v[i] = v[i] / v[i + 1u];
  }
}`;

const probed = new WeakMap<GPUDevice, Promise<Exactness>>();

/** probeExactness, run once per device. */
function exactnessOf(device: GPUDevice): Promise<Exactness> {
  let p = probed.get(device);
  if (!p) {
    p = probeExactness(device);
    probed.set(device, p);
  }
  return p;
}

/** Runs a one-invocation shader that tells whether `device` keeps subnormals and divides exactly. */
export async function probeExactness(device: GPUDevice): Promise<Exactness> {
  // 256 pseudo-random normal pairs; v[7] is NVFP4's amax / 2688, by a constant (a reciprocal multiply on SwiftShader)
  const hard: number[][] = [];
  const bits = new Uint32Array(2);
  const pair = new Float32Array(bits.buffer);
  for (let j = 0, r = 12345; j < 256; j++) {
    for (let w = 0; w < 2; w++) {
      r = (Math.imul(r, 1664525) + 1013904223) >>> 0;
      bits[w] = ((r & 0x807fffff) | ((127 - 32 + ((r >>> 23) & 63)) << 23)) >>> 0;
    }
    hard.push([pair[0], pair[1]]);
  }
  const input = Float32Array.from([
    2 ** -100,
    2 ** -30,
    2 ** -140,
    2 ** 10,
    1 + 2 ** -12,
    1 + 2 ** -12,
    -(1 + 2 ** -11),
    7.7745890617370605,
    ...hard.flat(),
  ]);
  const gpu = device.createBuffer({
    size: input.byteLength,
    usage: STORAGE | COPY_SRC,
    mappedAtCreation: true,
  });
  new Float32Array(gpu.getMappedRange()).set(input);
  gpu.unmap();
  const read = device.createBuffer({ size: input.byteLength, usage: MAP_READ | COPY_DST });
  const pipeline = await device.createComputePipelineAsync({
    layout: "auto",
    compute: { module: device.createShaderModule({ code: PROBE }), entryPoint: "probe" },
  });
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(
    0,
    device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [{ binding: 0, resource: { buffer: gpu } }],
    }),
  );
  pass.dispatchWorkgroups(1);
  pass.end();
  encoder.copyBufferToBuffer(gpu, 0, read, 0, input.byteLength);
  device.queue.submit([encoder.finish()]);
  await read.mapAsync(MAP_READ);
  const out = new Float32Array(read.getMappedRange().slice(0));
  read.unmap();
  gpu.destroy();
  read.destroy();
  const f = Math.fround;
  return {
    subnormals: out[0] === f(2 ** -130) && out[2] === f(2 ** -130),
    division:
      out[7] === f(f(7.7745890617370605) / 2688) &&
      hard.every(([a, b], j) => out[8 + 2 * j] === f(f(a) / f(b))),
    separateRounding: out[4] === 0,
  };
}

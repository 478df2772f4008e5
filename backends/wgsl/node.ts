/**
 * A WebGPU device in Node through Dawn (npm `webgpu`). Dawn needs a Vulkan
 * driver; on a machine without a GPU that is Mesa's lavapipe (Mesa 25 or newer:
 * Dawn rejects the 22.x lavapipe of Debian bookworm) or the SwiftShader ICD
 * that ships with Chromium. When no adapter appears, the error says which
 * driver to install and how.
 *
 * dawn.node aborts the process if the object `create()` returned is garbage
 * collected while a device lives, so it is kept here for the whole run.
 */
/// <reference types="@webgpu/types" />

export const NO_ADAPTER_HELP =
  "Dawn found no Vulkan adapter. Install Mesa 25's software driver (lavapipe): on Debian bookworm add " +
  "bookworm-backports to /etc/apt/sources.list.d (same mirror as debian.sources) and run " +
  "`apt-get install -t bookworm-backports mesa-vulkan-drivers` (bookworm's own Mesa 22.3 is too old for Dawn), " +
  "(in this repository: bash .ci/webgpu-deps), or install `chromium` and set " +
  "VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json (not bit-exact: it flushes subnormals)";

export class NoAdapterError extends Error {
  override name = "NoAdapterError";
}

export interface NodeGpu {
  readonly adapter: GPUAdapter;
  readonly device: GPUDevice;
  /** adapter.info, for reports */
  readonly description: string;
  readonly features: readonly string[];
}

const keepAlive: unknown[] = [];
const devices = new Map<string, Promise<NodeGpu>>();

/** One device per adapter name (undefined: Dawn's choice), opened once per process. */
export function nodeGpu(adapterName?: string): Promise<NodeGpu> {
  const key = adapterName ?? "";
  let entry = devices.get(key);
  if (!entry) {
    entry = open(adapterName);
    devices.set(key, entry);
    entry.catch(() => devices.delete(key));
  }
  return entry;
}

async function open(adapterName?: string): Promise<NodeGpu> {
  let webgpu: typeof import("webgpu");
  try {
    webgpu = await import("webgpu");
  } catch {
    throw new NoAdapterError(
      "the npm package `webgpu` (Dawn) is not installed: npm install webgpu",
    );
  }
  let gpu: GPU;
  try {
    gpu = webgpu.create(adapterName ? [`adapter=${adapterName}`] : []);
  } catch (e) {
    throw new NoAdapterError(
      `no WebGPU adapter named '${adapterName}': ${(e as Error).message.split("\n").join(" ")}`,
    );
  }
  keepAlive.push(gpu);
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter();
  } catch (e) {
    // Dawn rejects an unknown --adapter name with the list of adapters it has
    const message = (e as Error).message.replace(/\s*\n\s*/g, " ");
    throw new NoAdapterError(`no WebGPU adapter named '${adapterName}': ${message}`);
  }
  if (!adapter)
    throw new NoAdapterError(
      adapterName ? `no WebGPU adapter named '${adapterName}'` : NO_ADAPTER_HELP,
    );
  const wanted: GPUFeatureName[] = (["shader-f16", "subgroups"] as GPUFeatureName[]).filter((f) =>
    adapter.features.has(f),
  );
  const device = await adapter.requestDevice({
    requiredFeatures: wanted,
    requiredLimits: {
      maxStorageBuffersPerShaderStage: adapter.limits.maxStorageBuffersPerShaderStage,
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
    },
  });
  keepAlive.push(adapter, device);
  const i = adapter.info;
  return {
    adapter,
    device,
    description:
      [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(" ") ||
      "unnamed adapter",
    features: wanted,
  };
}

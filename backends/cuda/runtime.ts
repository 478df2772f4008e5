/**
 * `--backend cuda`: a kernel request compiled to CUDA and run on a GPU when
 * one is present (nvcc build of the .cu and the host), otherwise on the CPU
 * execution layer (g++ build against ./emulator). Which one is said once on
 * stderr. Builds are cached by the hash of the generated source, the host
 * sources in ./emulator and the flags, so a second run of the same kernel
 * starts at once and a changed qkc rebuilds.
 */
import { createHash } from "node:crypto";
import { execFile, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import type { KernelSpec } from "../../ir/program.js";
import type { Plan } from "../../passes/lower.js";
import { compile } from "../../passes/pipeline.js";
import type { Execute } from "../host.js";
import {
  buildCpuAsync,
  CPU_FLAGS,
  cpuExecute,
  EMULATOR_DIR,
  hasHostCompiler,
  HOST_CXX,
} from "./cpu.js";
import { emitCudaPlans } from "./plans.js";
import { findNvcc, NVCC_FLAGS } from "./nvcc.js";
import type { CudaArtifact } from "./emit.js";
import { cacheRoot } from "./cache-dir.js";

export type CudaDevice = "gpu" | "cpu";

/** A GPU is used when nvidia-smi lists one and nvcc is present; QKC_CUDA_DEVICE=cpu|gpu overrides. */
export function cudaDevice(): CudaDevice {
  const forced = process.env.QKC_CUDA_DEVICE;
  if (forced === "cpu" || forced === "gpu") return forced;
  const smi = spawnSync("nvidia-smi", ["-L"], { encoding: "utf8" });
  return smi.status === 0 && /GPU \d/.test(smi.stdout) && findNvcc() ? "gpu" : "cpu";
}

let hostSources: Buffer[] | undefined;

/** The cache key of a build: besides the kernels, the host sources and flags it is built with. */
function buildKey(device: CudaDevice, artifact: CudaArtifact): string {
  hostSources ??= readdirSync(EMULATOR_DIR)
    .sort()
    .map((f) => readFileSync(join(EMULATOR_DIR, f)));
  const h = createHash("sha256").update(device);
  h.update(JSON.stringify(device === "gpu" ? NVCC_FLAGS : [HOST_CXX, ...CPU_FLAGS]));
  for (const src of hostSources) h.update(src);
  return h.update(artifact.cu).digest("hex").slice(0, 16);
}

let announced = false;
let notice: (text: string) => void = (t) => void process.stderr.write(t);

/** Where the one line saying GPU or CPU goes (the CLI passes its stderr). */
export function useCudaNotice(write: (text: string) => void): void {
  notice = write;
}

function announce(device: CudaDevice): void {
  if (announced) return;
  announced = true;
  notice(
    device === "gpu"
      ? "qkc: --backend cuda runs on the GPU (nvcc build)\n"
      : "qkc: --backend cuda: no GPU here; the CUDA kernels run on the CPU execution layer (g++ build of the same .cu)\n",
  );
}

async function buildGpu(artifact: CudaArtifact, dir: string): Promise<string> {
  const nvcc = findNvcc();
  if (!nvcc) throw new Error("--backend cuda on a GPU needs nvcc (install the CUDA toolkit)");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "kernels.cu"), artifact.cu);
  writeFileSync(join(dir, "kernels.h"), artifact.header);
  const exe = join(dir, "qkc-cuda-host");
  await promisify(execFile)(nvcc, [
    ...NVCC_FLAGS,
    "-DQKC_DISPATCH",
    `-I${dir}`,
    "-x",
    "cu",
    join(dir, "kernels.cu"),
    join(EMULATOR_DIR, "runner_main.cpp"),
    "-o",
    exe + ".tmp",
  ]);
  renameSync(exe + ".tmp", exe);
  return exe;
}

const kernels = new Map<string, Promise<{ plan: Plan; execute: Execute }>>();

/** A CUDA kernel set for one kernel request, built once (and cached on disk). */
export function cudaKernel(spec: KernelSpec): Promise<{ plan: Plan; execute: Execute }> {
  const key = JSON.stringify(spec);
  let entry = kernels.get(key);
  if (!entry) {
    entry = (async () => {
      const device = cudaDevice();
      if (device === "cpu" && !hasHostCompiler())
        throw new Error(
          `--backend cuda without a GPU runs on the CPU execution layer, which needs ${HOST_CXX} (apt-get install g++)`,
        );
      announce(device);
      const { artifact, plans } = emitCudaPlans([compile(spec).plan]);
      const dir = join(cacheRoot(), buildKey(device, artifact));
      const exe = join(dir, "qkc-cuda-host");
      if (!existsSync(exe))
        await (device === "gpu" ? buildGpu(artifact, dir) : buildCpuAsync(artifact, dir));
      return { plan: plans[0], execute: cpuExecute(exe) };
    })();
    kernels.set(key, entry);
  }
  return entry;
}

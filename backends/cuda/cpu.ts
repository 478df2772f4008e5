/**
 * Running generated CUDA on the CPU: the .cu is built with g++ against the
 * execution layer in ./emulator (fibers per CUDA thread, PTX warp rules) and
 * a small host (emulator/runner_main.cpp) that runs one launcher by name on
 * buffers kept in files. `execute` plugs into backends/host.ts like every
 * other backend.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Kernel } from "../../ir/kernel.js";
import type { BufferData } from "../../ir/kernel-eval.js";
import type { Execute } from "../host.js";
import type { CudaArtifact } from "./emit.js";

const here = dirname(fileURLToPath(import.meta.url));
/** backends/cuda/emulator, from the sources or from dist/ */
export const EMULATOR_DIR = [
  join(here, "emulator"),
  join(here, "../../../backends/cuda/emulator"),
].find((d) => spawnSync("test", ["-f", join(d, "qkc_emu.h")]).status === 0)!;

export const HOST_CXX = process.env.CXX ?? "g++";

/** Whether a host C++ compiler is present (the CPU path needs one). */
export function hasHostCompiler(): boolean {
  return spawnSync(HOST_CXX, ["--version"]).status === 0;
}

/** The g++ flags: IEEE f32 with no contraction, as the kernels require. */
export const CPU_FLAGS = ["-std=c++17", "-O1", "-ffp-contract=off", "-fno-fast-math", "-pthread"];

/** Builds `artifact` for the CPU in `dir` (created if needed); returns the executable. */
export function buildCpu(
  artifact: CudaArtifact,
  dir = mkdtempSync(join(tmpdir(), "qkc-cuda-")),
): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "kernels.cu"), artifact.cu);
  writeFileSync(join(dir, "kernels.h"), artifact.header);
  const exe = join(dir, "qkc-cuda-host");
  const r = spawnSync(
    HOST_CXX,
    [
      ...CPU_FLAGS,
      "-DQKC_DISPATCH",
      `-I${EMULATOR_DIR}`,
      `-I${dir}`,
      "-x",
      "c++",
      join(dir, "kernels.cu"),
      join(EMULATOR_DIR, "runner_main.cpp"),
      "-o",
      exe + ".tmp",
    ],
    { encoding: "utf8" },
  );
  if (r.status !== 0)
    throw new Error(
      `${HOST_CXX} could not build the CUDA kernels for the CPU:\n${(r.stderr || r.error?.message || "").slice(0, 4000)}`,
    );
  renameSync(exe + ".tmp", exe);
  return exe;
}

const bytesOf = (b: BufferData) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

/** `execute` for backends/host.ts over a CPU build of the kernels. */
export function cpuExecute(
  exe: string,
  work = mkdtempSync(join(tmpdir(), "qkc-cuda-run-")),
): Execute {
  let call = 0;
  return (kernel: Kernel, buffers: Record<string, BufferData>, scalars: Record<string, number>) => {
    const lines = [`kernel ${kernel.name}`];
    const files: [string, BufferData, boolean][] = [];
    for (const p of kernel.params) {
      if (p.kind === "buffer") {
        const data = buffers[p.name];
        if (!data) throw new Error(`kernel ${kernel.name}: buffer ${p.name} is not bound`);
        const file = join(work, `${call}_${p.name}.bin`);
        writeFileSync(file, bytesOf(data));
        files.push([file, data, p.access !== "read"]);
        lines.push(`buffer ${file} ${data.byteLength}`);
      } else {
        const v = scalars[p.name];
        if (v === undefined)
          throw new Error(`kernel ${kernel.name}: scalar ${p.name} is not given`);
        const bits = p.type === "f32" ? new Uint32Array(Float32Array.of(v).buffer)[0] : v >>> 0;
        lines.push(`scalar ${bits}`);
      }
    }
    const job = join(work, `${call++}.job`);
    writeFileSync(job, lines.join("\n") + "\n");
    try {
      execFileSync(exe, [job], { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
    } catch (e) {
      const err = e as { stderr?: string; status?: number };
      throw new Error(
        `kernel ${kernel.name} failed on the CPU execution layer: ${err.stderr?.trim() || `status ${err.status}`}`,
      );
    }
    for (const [file, data, written] of files)
      if (written) bytesOf(data).set(readFileSync(file).subarray(0, data.byteLength));
  };
}

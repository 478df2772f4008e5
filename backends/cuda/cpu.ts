/**
 * Running generated CUDA on the CPU: the .cu is built with g++ against the
 * execution layer in ./emulator (fibers per CUDA thread, PTX warp rules) and
 * a small host (emulator/runner_main.cpp) that runs one launcher by name on
 * buffers kept in files. `execute` plugs into backends/host.ts like every
 * other backend.
 */
import { execFile, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Worker } from "node:worker_threads";
import type { Kernel } from "../../ir/kernel.js";
import type { BufferData } from "../../ir/kernel-eval.js";
import type { Execute } from "../host.js";
import type { CudaArtifact } from "./emit.js";

const here = dirname(fileURLToPath(import.meta.url));
/** backends/cuda/emulator, from the sources or from dist/ */
export const EMULATOR_DIR = [
  join(here, "emulator"),
  join(here, "../../../backends/cuda/emulator"),
].find((d) => existsSync(join(d, "qkc_emu.h")))!;

export const HOST_CXX = process.env.CXX ?? "g++";

/** Whether a host C++ compiler is present (the CPU path needs one). */
export function hasHostCompiler(): boolean {
  return spawnSync(HOST_CXX, ["--version"]).status === 0;
}

/** The g++ flags: IEEE f32 with no contraction, as the kernels require. */
export const CPU_FLAGS = ["-std=c++17", "-O1", "-ffp-contract=off", "-fno-fast-math", "-pthread"];

function buildArgs(
  dir: string,
  exe: string,
  optimize: string,
  defines: readonly string[] = [],
): string[] {
  return [
    ...CPU_FLAGS.map((f) => (f === "-O1" ? optimize : f)),
    ...defines.map((d) => `-D${d}`),
    "-DQKC_DISPATCH",
    `-I${EMULATOR_DIR}`,
    `-I${dir}`,
    "-x",
    "c++",
    join(dir, "kernels.cu"),
    join(EMULATOR_DIR, "runner_main.cpp"),
    "-o",
    exe + ".tmp",
  ];
}

function writeSources(artifact: CudaArtifact, dir: string): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "kernels.cu"), artifact.cu);
  writeFileSync(join(dir, "kernels.h"), artifact.header);
  return join(dir, "qkc-cuda-host");
}

const buildError = (stderr: string) =>
  new Error(`${HOST_CXX} could not build the CUDA kernels for the CPU:\n${stderr.slice(0, 4000)}`);

/**
 * Builds `artifact` for the CPU in `dir` (created if needed); returns the
 * host executable. `optimize` is the g++ level (-O0 builds twice as fast).
 */
export function buildCpu(
  artifact: CudaArtifact,
  dir = mkdtempSync(join(tmpdir(), "qkc-cuda-")),
  optimize = "-O1",
): string {
  const exe = writeSources(artifact, dir);
  const r = spawnSync(HOST_CXX, buildArgs(dir, exe, optimize), { encoding: "utf8" });
  if (r.status !== 0) throw buildError(r.stderr || r.error?.message || "");
  renameSync(exe + ".tmp", exe);
  return exe;
}

/** buildCpu without blocking: several builds can run at once. `defines`: -D macros (QKC_MAX_BLOCKS=3). */
export async function buildCpuAsync(
  artifact: CudaArtifact,
  dir = mkdtempSync(join(tmpdir(), "qkc-cuda-")),
  optimize = "-O1",
  defines: readonly string[] = [],
): Promise<string> {
  const exe = writeSources(artifact, dir);
  try {
    await promisify(execFile)(HOST_CXX, buildArgs(dir, exe, optimize, defines), {
      maxBuffer: 1 << 26,
    });
  } catch (e) {
    throw buildError((e as { stderr?: string }).stderr ?? String(e));
  }
  renameSync(exe + ".tmp", exe);
  return exe;
}

const bytesOf = (b: BufferData) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

/**
 * The worker that owns a `qkc-cuda-host --serve` process: it forwards a job
 * path, waits for the answer line (or the process's death, with its stderr)
 * and wakes the caller, which blocks in Atomics.wait. Kernel calls stay
 * synchronous, as backends/host.ts wants, without a process per call.
 */
const SERVE_WORKER = `
const { workerData, parentPort } = require("node:worker_threads");
const { spawn } = require("node:child_process");
const { exe, flag, text } = workerData;
const state = new Int32Array(flag);
const bytes = new Uint8Array(text);
let out = "", err = "", busy = false, dead = false;
const child = spawn(exe, ["--serve"], { stdio: ["pipe", "pipe", "pipe"] });
const answer = (code, message) => {
  const b = Buffer.from(message.slice(0, 60000));
  bytes.set(b);
  state[1] = b.length;
  busy = false;
  Atomics.store(state, 0, code);
  Atomics.notify(state, 0);
};
child.stdout.setEncoding("utf8");
child.stderr.setEncoding("utf8");
child.stderr.on("data", (d) => (err += d));
child.stdout.on("data", (d) => {
  out += d;
  let nl;
  while ((nl = out.indexOf("\\n")) >= 0) {
    const line = out.slice(0, nl);
    out = out.slice(nl + 1);
    answer(line === "ok" ? 1 : 2, line.replace(/^error /, ""));
  }
});
const died = (why) => {
  dead = true;
  if (busy) answer(3, (err.trim() || why));
};
child.on("error", (e) => died(e.message));
child.on("exit", (code, signal) => died("the CPU host exited with " + (signal || "status " + code)));
parentPort.on("message", (m) => {
  if (m === "close") { child.stdin.end(); parentPort.close(); return; }
  busy = true;
  if (dead) answer(3, err.trim() || "the CPU host is not running");
  else child.stdin.write(m + "\\n");
});
`;

/** A running `qkc-cuda-host --serve` that takes one job at a time, synchronously. */
export class CpuHost {
  private readonly flag = new SharedArrayBuffer(8);
  private readonly text = new SharedArrayBuffer(65536);
  private readonly worker: Worker;

  constructor(readonly exe: string) {
    this.worker = new Worker(SERVE_WORKER, {
      eval: true,
      workerData: { exe, flag: this.flag, text: this.text },
    });
    this.worker.unref();
  }

  /** Runs the job file; throws with the host's reason (an emulator diagnostic, say). */
  run(job: string): void {
    const state = new Int32Array(this.flag);
    Atomics.store(state, 0, 0);
    this.worker.postMessage(job);
    Atomics.wait(state, 0, 0);
    if (state[0] === 1) return;
    const why = Buffer.from(new Uint8Array(this.text, 0, state[1])).toString("utf8");
    throw new Error(why);
  }

  close(): void {
    this.worker.postMessage("close");
  }
}

/**
 * `execute` for backends/host.ts over a built host (`qkc-cuda-host`): the CPU
 * build of buildCpu, or the nvcc build of runtime.ts, which runs on the GPU.
 */
export function cpuExecute(
  exe: string,
  work = mkdtempSync(join(tmpdir(), "qkc-cuda-run-")),
): Execute {
  const host = new CpuHost(exe);
  let call = 0;
  return (kernel: Kernel, buffers: Record<string, BufferData>, scalars: Record<string, number>) => {
    const lines = [`kernel ${kernel.name}`];
    const files: [string, BufferData, boolean][] = [];
    for (const p of kernel.params) {
      if (p.kind === "buffer") {
        const data = buffers[p.name];
        if (!data) throw new Error(`kernel ${kernel.name}: buffer ${p.name} is not bound`);
        const file = join(work, `${p.name}.bin`);
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
    const job = join(work, `${call++ % 2}.job`);
    writeFileSync(job, lines.join("\n") + "\n");
    try {
      host.run(job);
    } catch (e) {
      throw new Error(
        `kernel ${kernel.name} failed on the CUDA CPU execution layer: ${(e as Error).message}`,
      );
    }
    for (const [file, data, written] of files)
      if (written) bytesOf(data).set(readFileSync(file).subarray(0, data.byteLength));
  };
}

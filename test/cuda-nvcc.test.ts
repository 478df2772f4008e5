import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { emitCudaPlans } from "../backends/cuda/plans.js";
import {
  CHECK_ARCHS,
  findNvcc,
  NVCC_FLAGS,
  nvccCheck,
  nvccPtx,
  problems,
  type NvccResult,
} from "../backends/cuda/nvcc.js";
import { compile } from "../passes/pipeline.js";
import { BUILTIN_SCHEMES, builtinScheme } from "../stdlib/index.js";
import { scheme } from "../ir/scheme.js";
import type { KernelSpec } from "../ir/program.js";
import { kernelRequest } from "./kernel-request.js";

const nvcc = findNvcc();
if (!nvcc)
  console.warn(
    "nvcc not found (PATH, $CUDA_HOME/bin, /usr/local/cuda/bin, /usr/local/bin): the CUDA build checks are skipped",
  );

/**
 * A representative subset, one of each schedule the emitter produces: warp
 * groups with exact shuffle reductions and nibble packing (mxfp4 quantize),
 * thread-per-item dequantize of packed nibbles and GEMV in lane chunks,
 * 16-lane groups and a hoisted tensor amax
 * (nvfp4 qdq), index-tracked min/max (int4_g128_asym), Philox and the Hadamard
 * rotation (mxfp4_sr rotated). `npm run bench -- cuda` builds every stdlib
 * scheme and kernel kind for the same archs.
 */
function kernels(): KernelSpec[] {
  const spec = kernelRequest;
  const out: KernelSpec[] = [];
  const mxfp4 = builtinScheme("mxfp4")!;
  out.push(spec(mxfp4, "quantize"), spec(mxfp4, "dequantize"), spec(mxfp4, "gemv"));
  out.push(spec(builtinScheme("nvfp4")!, "qdq"));
  out.push(spec(builtinScheme("int4_g128_asym")!, "quantize", { layout: "unpacked" }));
  const sr = scheme({
    ...mxfp4,
    name: "mxfp4_sr",
    rounding: { mode: "stochastic", randomBits: 8 },
  });
  out.push(spec(sr, "quantize", { rotate: { kind: "hadamard", size: 32, seed: 3 } }));
  return out;
}

describe.skipIf(!nvcc)(`nvcc builds generated CUDA for ${CHECK_ARCHS.join(", ")}`, () => {
  let result: NvccResult;
  const names = new Set<string>();
  beforeAll(async () => {
    const { artifact } = emitCudaPlans(kernels().map((k) => compile(k).plan));
    for (const k of artifact.kernels) for (const g of k.globals) names.add(g);
    result = await nvccCheck(nvcc!, artifact, mkdtempSync(join(tmpdir(), "qkc-nvcc-")));
  }, 300_000);

  it("compiles with -Werror all-warnings and ptxas -v,-warn-spills,-warn-lmem-usage", () => {
    expect(result.ok, problems(result.log)).toBe(true);
  });

  it("every kernel on every arch: no ptxas warning, no spill, no stack (local memory)", () => {
    for (const arch of CHECK_ARCHS) {
      const reported = new Set(result.reports.filter((r) => r.arch === arch).map((r) => r.kernel));
      expect(
        [...names].filter((n) => !reported.has(n)),
        `${arch}: kernels without a ptxas report`,
      ).toEqual([]);
    }
    for (const r of result.reports) {
      const where = `${r.kernel} on ${r.arch}`;
      expect(r.warnings, where).toEqual([]);
      expect([r.spillStores, r.spillLoads, r.stackBytes], where).toEqual([0, 0, 0]);
      expect(r.registers, where).toBeGreaterThan(0);
      expect(r.registers, `${where}: registers within __launch_bounds__(256)`).toBeLessThanOrEqual(
        255,
      );
    }
  });

  it("the PTX of each kernel was read: global loads and stores are counted by width", () => {
    expect(result.reports.length).toBe(2 * names.size * CHECK_ARCHS.length); // 32- and 64-bit index instances
    for (const r of result.reports) {
      const total = Object.values(r.loads).reduce((a, b) => a + b, 0);
      expect(total, `${r.kernel} on ${r.arch} loads`).toBeGreaterThan(0);
      expect(r.instructions, `${r.kernel} on ${r.arch}`).toBeGreaterThan(0);
    }
  });

  it("the emulator's own test cases are plain CUDA too", async () => {
    const fixture = join(import.meta.dirname, "fixtures/cuda/emulator-cases.cu");
    const out = join(mkdtempSync(join(tmpdir(), "qkc-nvcc-")), "cases.o");
    await promisify(execFile)(nvcc!, [
      "-c",
      "-x",
      "cu",
      ...NVCC_FLAGS,
      "-arch=sm_80",
      fixture,
      "-o",
      out,
    ]);
  }, 120_000);
});

describe.skipIf(!nvcc)("128-bit global accesses in the hot loops (PTX for sm_90a)", () => {
  // every stdlib scheme's quantize, dequantize, qdq and gemv, PTX only (no ptxas: ~30 s)
  const specs = BUILTIN_SCHEMES.flatMap((s) =>
    (["quantize", "dequantize", "qdq", "gemv"] as const)
      .filter((k) => k !== "gemv" || !s.doubleQuant)
      .map((k) => kernelRequest(s, k)),
  );
  const { artifact, plans } = emitCudaPlans(specs.map((k) => compile(k).plan));
  let ptx: Awaited<ReturnType<typeof nvccPtx>>;
  beforeAll(async () => {
    ptx = await nvccPtx(nvcc!, artifact, mkdtempSync(join(tmpdir(), "qkc-ptx-")), "sm_90a");
  }, 300_000);

  it("every plan has a kernel whose item loops move in vector chunks", () => {
    const chunked = new Set(artifact.kernels.filter((k) => k.chunk > 1).map((k) => k.name));
    for (const p of plans)
      expect(
        p.kernels.some((k) => chunked.has(k.name)),
        `${p.spec.name}: no kernel in vector chunks`,
      ).toBe(true);
  });

  it("each chunked kernel, in both index widths, has the vector loads it declares (the pre-passes ld.global.nc.v4)", () => {
    for (const k of artifact.kernels.filter((x) => x.chunk > 1))
      for (const g of k.globals)
        for (const w of [32, 64]) {
          const scan = ptx.get(`${g}/${w}`);
          expect(scan, `${g}/${w} in the PTX`).toBeDefined();
          const bits = g === `${k.name}_kernel` ? k.vectorLoadBits : 128;
          if (bits === 0) continue; // a chunk that only stores (below)
          expect(
            scan!.loads[bits] ?? 0,
            `${g} (${w}-bit indices): ${bits}-bit loads`,
          ).toBeGreaterThan(0);
        }
  });

  it("vector loads are 128-bit but where a chunk holds under 16 bytes of codes or 24 (6-bit)", () => {
    const chunked = artifact.kernels.filter((x) => x.chunk > 1);
    const narrow = chunked
      .filter((k) => k.vectorLoadBits !== 128)
      .map((k) => `${k.name}: ${k.vectorLoadBits}`);
    // a block of 16 nibbles is 8 bytes; 32 6-bit codes are 24 bytes, three 8-byte loads
    const sixBit = ["mxfp6_e2m3", "mxfp6_e3m2"];
    expect(narrow.sort()).toEqual(
      [
        "dequantize_nvfp4: 64",
        "dequantize_nvint4: 64",
        ...sixBit.flatMap((s) => [`dequantize_${s}: 64`, `gemv_${s}: 64`]),
      ].sort(),
    );
    // every GEMV reads its codes and activations in lane chunks
    const gemvs = artifact.kernels.filter((k) => k.name.startsWith("gemv_"));
    expect(gemvs.length).toBe(BUILTIN_SCHEMES.filter((s) => !s.doubleQuant).length);
    for (const k of gemvs) expect(k.chunk, k.name).toBeGreaterThanOrEqual(16);
  });

  it("the kernels writing a plan's f32 elements (dequantize, qdq) store them with st.global.v4", () => {
    let checked = 0;
    for (const p of plans)
      for (const step of p.steps) {
        if ("host" in step) continue;
        const writes = Object.values(step.bind).some((b) =>
          p.buffers.some(
            (d) =>
              d.name === b && d.role === "output" && d.length === "elements" && d.elem === "f32",
          ),
        );
        if (!writes) continue;
        checked++;
        const scan = ptx.get(`${step.kernel}_kernel/32`)!;
        expect(scan.stores["128"] ?? 0, `${step.kernel}: 128-bit stores`).toBeGreaterThan(0);
      }
    expect(checked).toBeGreaterThanOrEqual(2 * BUILTIN_SCHEMES.length);
  });
});

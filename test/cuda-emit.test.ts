import { describe, expect, it } from "vitest";
import { compile } from "../passes/pipeline.js";
import { builtinScheme } from "../stdlib/index.js";
import { emitCudaPlans } from "../backends/cuda/plans.js";
import { schedule } from "../backends/cuda/schedule.js";
import { demangle, parsePtxas, scanPtx } from "../backends/cuda/nvcc.js";
import type { KernelSpec } from "../ir/program.js";
import { kernelRequest } from "./kernel-request.js";

const spec = (name: string, kind: KernelSpec["kind"]): KernelSpec =>
  kernelRequest(builtinScheme(name)!, kind);

describe("CUDA schedules and printing", () => {
  it("chooses lane groups, exact reductions, hoisted amax and thread mode from the IR's shape", () => {
    const { plans, artifact } = emitCudaPlans(
      [
        spec("mxfp4", "quantize"),
        spec("nvfp4", "qdq"),
        spec("int4_g128_asym", "qdq"),
        spec("mxfp4", "gemv"),
      ].map((s) => compile(s).plan),
    );
    const info = Object.fromEntries(artifact.kernels.map((k) => [k.name, k]));
    // a lane takes chunks of 4 f32 (one 128-bit load): 8 lanes per block of 32, 4 per block of 16
    expect(info.quantize_mxfp4_codes).toMatchObject({
      mode: "group",
      lanes: 8,
      chunk: 4,
      workspaceBytes: 0,
    });
    expect(info.quantize_mxfp4_pack).toMatchObject({ mode: "thread", lanes: 1, chunk: 1 });
    expect(info.qdq_nvfp4).toMatchObject({ mode: "group", lanes: 4, workspaceBytes: 4 });
    expect(info.qdq_nvfp4.globals).toEqual(["qdq_nvfp4_amax0", "qdq_nvfp4_kernel"]);
    expect(info.gemv_mxfp4).toMatchObject({
      mode: "thread",
      schedule: expect.stringMatching(/declared order/),
    });
    // the asymmetric min/max carry their first index; the |x| max does not
    const asym = plans.find((p) => p.spec.name === "qdq_int4_g128_asym")!.kernels[0];
    const reductions = [...schedule(asym, 128).loops.values()].find(
      (v) => v !== "map",
    ) as readonly {
      kind: string;
      indexed: boolean;
    }[];
    expect(reductions.map((r) => [r.kind, r.indexed])).toEqual([
      ["any", false],
      ["first_max", false],
      ["first_min", true],
      ["first_max", true],
    ]);
  });

  it("prints no contraction-prone f32 operator and no 64-bit divide in a kernel body", () => {
    const { artifact } = emitCudaPlans([compile(spec("nvfp4", "qdq")).plan]);
    const body = artifact.cu.slice(artifact.cu.indexOf("__global__"));
    expect(body).toMatch(/__fmul_rn\(/);
    expect(body).toMatch(/__fdiv_rn\(/);
    // every float variable is combined through the intrinsics: no `float x = a * b;` forms
    for (const line of body.split("\n").filter((l) => /^\s+float \w+ = /.test(l)))
      expect(line, line).not.toMatch(/\(\s*\w+ [*+/-] \w+\s*\)/);
    expect(artifact.header).toContain(
      "cudaError_t qdq_nvfp4(const float* x, float* y, int32_t outer, int32_t n, int32_t inner, uint32_t* workspace, cudaStream_t stream);",
    );
  });

  it("reads ptxas reports and PTX: demangled names, index width, spills, load widths", () => {
    expect(demangle("_Z24gemv_int8_channel_kernelIiEvPKhPKjPKfPfii")).toEqual({
      kernel: "gemv_int8_channel_kernel",
      indexBits: 32,
    });
    expect(demangle("_Z17qdq_nf4_dq_kernelIlEvPKhPKjPfiii")).toEqual({
      kernel: "qdq_nf4_dq_kernel",
      indexBits: 64,
    });
    const log = [
      "ptxas info    : Compiling entry function '_Z1kIiEvPf' for 'sm_90a'",
      "ptxas info    : Function properties for _Z1kIiEvPf",
      "    8 bytes stack frame, 4 bytes spill stores, 4 bytes spill loads",
      "ptxas warning : Registers are spilled to local memory in function '_Z1kIiEvPf', 4 bytes spill stores, 4 bytes spill loads",
      "ptxas info    : Used 40 registers, used 0 barriers, 1024 bytes smem, 376 bytes cmem[0]",
    ].join("\n");
    const [r] = parsePtxas(log);
    expect(r).toMatchObject({
      kernel: "k",
      indexBits: 32,
      arch: "sm_90a",
      registers: 40,
      stackBytes: 8,
      spillStores: 4,
      spillLoads: 4,
      sharedBytes: 1024,
    });
    expect(r.warnings).toHaveLength(1);
    const ptx = scanPtx(
      ".visible .entry _Z1kIiEvPf(\n\tld.global.nc.v4.f32 {%f1, %f2, %f3, %f4}, [%rd1];\n\tld.global.nc.u8 %rs1, [%rd2];\n\tst.global.f32 [%rd3], %f1;\n\tret;\n}\n",
    ).get("_Z1kIiEvPf")!;
    expect(ptx.loads).toEqual({ "128": 1, "8": 1 });
    expect(ptx.stores).toEqual({ "32": 1 });
  });
});
